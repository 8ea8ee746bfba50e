/**
 * A self-signed certificate for the HTTPS scenarios, made with `openssl` once per run in the
 * run's temporary folder (EC P-256: fast to make). wrk does not verify certificates, so no CA
 * is needed; every subject serves the same files.
 *
 * @module
 */

/** The files every HTTPS subject serves. */
export interface BenchCert {
  /** PEM certificate (nginx `ssl_certificate`, Roundabout `--tls-cert`). */
  readonly cert: string;
  /** PEM private key (nginx `ssl_certificate_key`, Roundabout `--tls-key`). */
  readonly key: string;
  /** Certificate and key in one file, as HAProxy's `crt` takes them. */
  readonly combined: string;
}

const made = new Map<string, Promise<BenchCert>>();

/** The run's certificate in `dir`, made on first use. */
export function benchCert(dir: string): Promise<BenchCert> {
  let cert = made.get(dir);
  if (cert === undefined) {
    cert = makeCert(dir);
    made.set(dir, cert);
  }
  return cert;
}

async function makeCert(dir: string): Promise<BenchCert> {
  const cert = `${dir}/bench-cert.pem`;
  const key = `${dir}/bench-key.pem`;
  const combined = `${dir}/bench-combined.pem`;
  const args = [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ]; // deno-fmt-ignore
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
    .output();
  if (out.code !== 0) {
    throw new Error(`openssl req failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  await Deno.writeTextFile(
    combined,
    await Deno.readTextFile(cert) + await Deno.readTextFile(key),
  );
  return { cert, key, combined };
}
