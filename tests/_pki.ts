/**
 * A throwaway PKI for TLS tests: a CA and a server certificate it signed, valid for 127.0.0.1
 * and localhost for two days, made with `openssl` at test time in a temporary directory (EC
 * P-256 keys: fast to generate) and removed afterwards. No key material is committed.
 *
 * @module
 */

import assert from "node:assert/strict";

/** Files of a throwaway PKI: a CA, and a server certificate it signed. */
export interface Pki {
  readonly dir: string;
  /** Paths. */
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Contents. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null" })
    .output();
  assert.equal(code, 0, `openssl ${args[0]}: ${new TextDecoder().decode(stderr)}`);
}

/** Makes a CA and a server certificate for 127.0.0.1 and localhost; always removed. */
export async function withPki(test: (pki: Pki) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "roundabout-tls-" });
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl(dir, [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=Roundabout test CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]); // deno-fmt-ignore
    await openssl(dir, [
      "req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
    ]); // deno-fmt-ignore
    await Deno.writeTextFile(
      `${dir}/ext.cnf`,
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
    ]); // deno-fmt-ignore
    const read = (name: string) => Deno.readTextFile(`${dir}/${name}`);
    await test({
      dir,
      caFile: `${dir}/ca.pem`,
      certFile: `${dir}/server.pem`,
      keyFile: `${dir}/server.key`,
      ca: await read("ca.pem"),
      cert: await read("server.pem"),
      key: await read("server.key"),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
