/**
 * TLS on both sides: the listener terminates HTTPS (h2 or http/1.1 by ALPN) and says so to
 * backends; `https://` backends go through the HTTP/1.1 client with the certificate verified
 * (a private CA only when `backendCa` trusts it); probes trust the same CA; a certificate
 * change waits for a restart. Certificates come from `_pki.ts` (openssl, at test time).
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import { withInstance } from "./_instance.ts";
import { serve } from "./_helpers.ts";
import { Http1Transport } from "../transports/http1/http1.ts";
import { FetchTransport } from "../transports/fetch.ts";
import { UpstreamError } from "../transports/transport.ts";
import { fetchProbe } from "../backends/probes.ts";
import { type Pki, withPki } from "./_pki.ts";

/** A backend that answers what it was told about the client's scheme, and a Location to itself. */
function schemeEcho() {
  const app = serve((request) =>
    Response.json({
      proto: request.headers.get("x-forwarded-proto"),
      host: request.headers.get("host"),
      forwardedHost: request.headers.get("x-forwarded-host"),
    }, {
      headers: { location: `${app.url}/next` },
    })
  );
  return app;
}

/** One GET over HTTP/2 (node:http2): status, headers, body and the protocol ALPN chose. */
async function h2Get(origin: string, ca?: string) {
  const session = http2.connect(origin, ca === undefined ? {} : { ca });
  try {
    return await new Promise<{ headers: http2.IncomingHttpHeaders; body: string; alpn: unknown }>(
      (resolve, reject) => {
        session.on("error", reject);
        const request = session.request({ ":path": "/hello" });
        let body = "";
        let headers: http2.IncomingHttpHeaders = {};
        request.setEncoding("utf8");
        request.on("response", (h) => headers = h);
        request.on("data", (chunk: string) => body += chunk);
        request.on("end", () => resolve({ headers, body, alpn: session.alpnProtocol }));
        request.on("error", reject);
        request.end();
      },
    );
  } finally {
    await new Promise<void>((resolve) => session.close(() => resolve()));
  }
}

/** One GET over TLS offering only http/1.1: the negotiated protocol and the raw answer. */
async function http1Get(port: number, ca: string) {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port,
    caCerts: [ca],
    alpnProtocols: ["http/1.1"],
  });
  try {
    const { alpnProtocol } = await conn.handshake();
    const head = `GET /hello HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    const answer = await new Response(conn.readable).text();
    return { alpnProtocol, answer };
  } catch (error) {
    conn.close();
    throw error;
  }
}

Deno.test("over HTTPS the balancer answers HTTP/2 and HTTP/1.1 by ALPN, with x-forwarded-proto https, the client's authority as Host and an https Location", async () => {
  await withPki(async (pki) => {
    const app = schemeEcho();
    try {
      const config = {
        backends: [app.url],
        tls: { cert: pki.certFile, key: pki.keyFile },
        accessLog: "off",
      };
      await withInstance(config, async ({ instance, logs }) => {
        const { port, url } = instance.running;
        assert.equal(url, `https://127.0.0.1:${port}`);
        assert.ok(logs.some((line) => line.startsWith(`listening on https://127.0.0.1:${port}`)));

        const h2 = await h2Get(`https://127.0.0.1:${port}`, pki.ca);
        assert.equal(h2.alpn, "h2");
        assert.equal(h2.headers[":status"], 200);
        assert.equal(h2.headers["x-app-url"], app.url);
        // HTTP/2 has no Host field: the client's authority still reaches the backend.
        const authority = `127.0.0.1:${port}`;
        assert.deepEqual(JSON.parse(h2.body), {
          proto: "https",
          host: authority,
          forwardedHost: authority,
        });
        assert.equal(h2.headers["location"], `https://127.0.0.1:${port}/next`);

        const h1 = await http1Get(port, pki.ca);
        assert.equal(h1.alpnProtocol, "http/1.1");
        assert.match(h1.answer, /^HTTP\/1\.1 200 OK\r\n/);
        assert.match(h1.answer, new RegExp(`\r\nx-app-url: ${app.url}\r\n`));
        assert.match(h1.answer, new RegExp(`\r\nlocation: https://127.0.0.1:${port}/next\r\n`));
        assert.match(h1.answer, /\{"proto":"https",.*\}$/);
      });
    } finally {
      await app.shutdown();
    }
  });
});

Deno.test("a plain listener keeps answering HTTP/2 with prior knowledge (h2c), as http, passing the client's authority as Host", async () => {
  const app = schemeEcho();
  try {
    await withInstance({ backends: [app.url], accessLog: "off" }, async ({ instance }) => {
      const h2c = await h2Get(instance.running.url);
      assert.equal(h2c.headers[":status"], 200);
      assert.equal(h2c.headers["x-app-url"], app.url);
      const authority = new URL(instance.running.url).host;
      assert.deepEqual(JSON.parse(h2c.body), {
        proto: "http",
        host: authority,
        forwardedHost: authority,
      });
    });
  } finally {
    await app.shutdown();
  }
});

/** An https backend on a free port with the test PKI's certificate. */
function httpsBackend(pki: Pki) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: pki.cert, key: pki.key, onListen() {} },
    (request) => Response.json({ host: request.headers.get("host") }),
  );
  return { url: `https://127.0.0.1:${server.addr.port}`, shutdown: () => server.shutdown() };
}

Deno.test("an https backend is reached through the HTTP/1.1 client when backendCa trusts its CA", async () => {
  await withPki(async (pki) => {
    const backend = httpsBackend(pki);
    try {
      const config = { backends: [backend.url], backendCa: pki.caFile, accessLog: "off" };
      await withInstance(config, async ({ instance }) => {
        const response = await fetch(`${instance.running.url}/x`);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("x-app-url"), backend.url);
        assert.deepEqual(await response.json(), { host: new URL(instance.running.url).host });
      });
    } finally {
      await backend.shutdown();
    }
  });
});

Deno.test("without backendCa an https backend's private certificate fails the try as connect, names the reason, and marks the backend failed", async () => {
  await withPki(async (pki) => {
    const backend = httpsBackend(pki);
    try {
      const config = { backends: [backend.url], accessLog: "off" };
      await withInstance(config, async ({ instance, logs }) => {
        const response = await fetch(`${instance.running.url}/x`);
        assert.equal(response.status, 502);
        const reason = `TLS handshake with ${new URL(backend.url).host} failed: ` +
          "certificate not trusted (UnknownIssuer)";
        const body = await response.json();
        assert.equal(body.tried[0].outcome, "connect");
        assert.equal(body.tried[0].error, reason);
        assert.ok(logs.some((line) => line.includes(`backend ${backend.url} marked failed`)));
        assert.equal(instance.running.balancer.backends[0].available(Date.now()), false);
      });
    } finally {
      await backend.shutdown();
    }
  });
});

Deno.test("the HTTP/1.1 client reports a certificate for another name as a connect failure", async () => {
  await withPki(async (pki) => {
    // The certificate names 127.0.0.1 and localhost, not 127.0.0.2.
    const server = Deno.serve(
      { hostname: "127.0.0.2", port: 0, cert: pki.cert, key: pki.key, onListen() {} },
      () => new Response("never"),
    );
    const transport = new Http1Transport({ caCerts: [pki.ca] });
    try {
      const error = await transport.send({
        baseUrl: `https://127.0.0.2:${server.addr.port}`,
        path: "/",
        method: "GET",
        headers: [],
        body: null,
        signal: AbortSignal.timeout(5_000),
      }).then(() => undefined, (e) => e);
      assert.ok(error instanceof UpstreamError, String(error));
      assert.equal(error.kind, "connect");
      assert.match(
        error.message,
        /^TLS handshake with 127\.0\.0\.2:\d+ failed: certificate not valid for name "127\.0\.0\.2"/,
      );
    } finally {
      transport.close();
      await server.shutdown();
    }
  });
});

Deno.test("the fetch transport and the health probe trust the same backend CA, and only with it", async () => {
  await withPki(async (pki) => {
    const backend = httpsBackend(pki);
    const trusting = new FetchTransport({ caCerts: [pki.ca] });
    const probe = fetchProbe([pki.ca]);
    const plainProbe = fetchProbe();
    try {
      const response = await trusting.send({
        baseUrl: backend.url,
        path: "/",
        method: "GET",
        headers: [],
        body: null,
        signal: AbortSignal.timeout(5_000),
      });
      assert.equal(response.status, 200);
      await response.body?.cancel();
      assert.equal(await probe.probe(`${backend.url}/health`, AbortSignal.timeout(5_000)), 200);
      await assert.rejects(plainProbe.probe(`${backend.url}/health`, AbortSignal.timeout(5_000)));
    } finally {
      trusting.close();
      probe.close();
      plainProbe.close();
      await backend.shutdown();
    }
  });
});

Deno.test("a reload that changes tls.* or backendCa is not applied live, and says a restart is needed", async () => {
  await withPki(async (pki) => {
    const app = schemeEcho();
    try {
      const tls = { cert: pki.certFile, key: pki.keyFile };
      const config = { backends: [app.url], tls, accessLog: "off" };
      await withInstance(config, async ({ instance, logs }) => {
        const outcome = await instance.live.applyDocument(
          { listen: { port: 0 }, backends: [app.url], backendCa: pki.caFile, retryDowntime: "3s" },
          "a test",
        );
        assert.ok(outcome.ok);
        assert.deepEqual(outcome.kept, ["tls", "backendCa"]);
        assert.ok(
          logs.some((line) =>
            line.startsWith("tls cannot change while running") && line.includes("until a restart")
          ),
        );
        assert.ok(logs.some((line) => line.startsWith("backendCa cannot change while running")));
        assert.deepEqual(instance.live.settings.tls, { ...tls, redirectPort: undefined });
        assert.equal(instance.running.balancer.options.retryDowntimeMs, 3_000);
      });
    } finally {
      await app.shutdown();
    }
  });
});
