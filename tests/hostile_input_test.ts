/**
 * Hostile clients: slow ones do not hold others up; `x-forwarded-for` cannot be forged past
 * the balancer; the request never chooses the address it is proxied to; methods the upstream
 * client cannot send are not blamed on the backends; and the admin API is closed to those
 * without the token, to browser pages, and beyond loopback without a token.
 */
import assert from "node:assert/strict";
import { TRANSPORTS } from "../transports/mod.ts";
import type { BalancerOptions } from "../balancer/options.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { type RunningMock, startMock } from "../mocks/mod.ts";
import { eventually } from "./_helpers.ts";
import { withInstance } from "./_instance.ts";
import http2 from "node:http2";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MAIN = new URL("../main.ts", import.meta.url).pathname;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Normal apps and a balancer in front of them; always stopped. */
async function withBalancer(
  count: number,
  options: Partial<BalancerOptions> & { transport?: string },
  test: (balancer: RunningBalancer, apps: RunningMock[]) => Promise<void>,
): Promise<void> {
  const apps: RunningMock[] = [];
  let balancer: RunningBalancer | undefined;
  try {
    for (let i = 0; i < count; i++) apps.push(await startMock("normal"));
    const { transport, ...rest } = options;
    balancer = startBalancer({
      port: 0,
      backends: apps.map((app) => ({ url: app.url, weight: 1 })),
      options: rest,
      transport: transport ? TRANSPORTS[transport]() : undefined,
    });
    await test(balancer, apps);
  } finally {
    await balancer?.shutdown();
    await Promise.all(apps.map((app) => app.close()));
  }
}

/** A raw HTTP/1.1 exchange: writes `head` as is, reads until the server closes. */
async function raw(port: number, head: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(head));
    let text = "";
    const buffer = new Uint8Array(16_384);
    const timer = setTimeout(() => conn.close(), 5_000);
    try {
      while (true) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += decoder.decode(buffer.subarray(0, n));
      }
    } finally {
      clearTimeout(timer);
    }
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

/** The JSON body of a raw answer, which may be chunked. */
function json(body: string): Record<string, unknown> {
  const start = body.indexOf("{");
  const end = body.lastIndexOf("}");
  return JSON.parse(body.slice(start, end + 1));
}

// ---------------------------------------------------------------------------------------
// Slow clients.

Deno.test("slow clients (heads or bodies a byte at a time, a reader that never reads) do not hold others up", async () => {
  await withBalancer(2, {}, async (balancer, apps) => {
    let dribbling = true;
    const conns: Deno.Conn[] = [];
    const dribble = async (conn: Deno.Conn, bytes: Uint8Array) => {
      for (let i = 0; i < bytes.length && dribbling; i++) {
        try {
          await conn.write(bytes.subarray(i, i + 1));
        } catch {
          return; // the balancer gave up on us: fine
        }
        await sleep(100);
      }
    };
    const dribblers: Promise<void>[] = [];
    // 15 heads that never end, 5 bodies that never end.
    for (let i = 0; i < 20; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: balancer.port });
      conns.push(conn);
      const text = i < 15
        ? `GET /echo HTTP/1.1\r\nHost: slow\r\nX-Pad: ${"p".repeat(500)}\r\n\r\n`
        : `POST /echo HTTP/1.1\r\nHost: slow\r\nContent-Length: 1000\r\n\r\n${"b".repeat(1000)}`;
      const bytes = encoder.encode(text);
      if (i >= 15) {
        // The head at once, then the body a byte at a time.
        const headLength = text.indexOf("\r\n\r\n") + 4;
        await conn.write(bytes.subarray(0, headLength));
        dribblers.push(dribble(conn, bytes.subarray(headLength)));
      } else {
        dribblers.push(dribble(conn, bytes));
      }
    }
    // A client that asks for 8 MiB and reads none of it.
    const reader = await Deno.connect({ hostname: "127.0.0.1", port: balancer.port });
    conns.push(reader);
    await reader.write(encoder.encode(`GET /bytes/${8 * 1024 * 1024} HTTP/1.1\r\nHost: r\r\n\r\n`));
    await eventually(
      () => apps.reduce((n, app) => n + (app.arrivalsByMethod.GET ?? 0), 0) >= 1,
      "the big download to reach a backend",
    );
    try {
      const durations: number[] = [];
      for (let i = 0; i < 50; i++) {
        const start = performance.now();
        const response = await fetch(balancer.url, {
          method: "POST",
          body: JSON.stringify({ i }),
          headers: { "content-type": "application/json" },
        });
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { i });
        durations.push(performance.now() - start);
        // Paced, so that the slow clients keep dribbling through the whole measurement.
        await sleep(20);
      }
      const slowest = Math.max(...durations);
      assert.ok(slowest < 1_000, `the slowest of 50 requests took ${slowest.toFixed(0)} ms`);
    } finally {
      dribbling = false;
      await Promise.all(dribblers);
      for (const conn of conns) conn.close();
    }
    // The download's try ends when its client leaves, not never.
    await eventually(
      () => balancer.balancer.backends.every((b) => b.inFlight === 0),
      "every try to end once the slow clients left",
      5_000,
    );
  });
});

// ---------------------------------------------------------------------------------------
// x-forwarded-*.

for (const transport of Object.keys(TRANSPORTS)) {
  Deno.test(`x-forwarded-for gets the client's address; incoming values are kept only from a trusted proxy (${transport})`, async () => {
    const forged = "GET /echo HTTP/1.1\r\nHost: lb.example\r\n" +
      "X-Forwarded-For: 6.6.6.6\r\nx-forwarded-for: 7.7.7.7\r\n" +
      "X-Forwarded-Proto: https\r\nX-Forwarded-Host: forged.example\r\n" +
      'Forwarded: for=6.6.6.6;proto=https\r\nForwarded: for="[2001:db8::7]"\r\n' +
      "Connection: close\r\n\r\n";
    const plain = "GET /echo HTTP/1.1\r\nHost: lb.example\r\nConnection: close\r\n\r\n";
    const seen = async (port: number, head: string) => {
      const { status, body } = await raw(port, head);
      assert.equal(status, 200);
      return json(body).headers as Record<string, string>;
    };

    await withBalancer(1, { transport }, async (balancer) => {
      const untrusted = await seen(balancer.port, forged);
      assert.equal(untrusted["x-forwarded-for"], "127.0.0.1", "forged values are replaced");
      assert.equal(untrusted["x-forwarded-proto"], "http");
      assert.equal(untrusted["x-forwarded-host"], "lb.example");
      assert.equal(untrusted.forwarded, undefined, "an untrusted Forwarded is dropped");
      assert.equal((await seen(balancer.port, plain))["x-forwarded-for"], "127.0.0.1");
    });

    await withBalancer(1, { transport, trustedProxies: ["127.0.0.1"] }, async (balancer) => {
      const trusted = await seen(balancer.port, forged);
      assert.equal(
        trusted["x-forwarded-for"],
        "6.6.6.6, 7.7.7.7, 127.0.0.1",
        "a trusted proxy's chain is kept, in order, and the peer appended",
      );
      assert.equal(trusted["x-forwarded-proto"], "https");
      assert.equal(trusted["x-forwarded-host"], "forged.example");
      assert.equal(
        trusted.forwarded,
        'for=6.6.6.6;proto=https, for="[2001:db8::7]", for=127.0.0.1;proto=http;host=lb.example',
        "a trusted proxy's Forwarded fields are kept, in order, and this hop appended",
      );
      assert.equal((await seen(balancer.port, plain))["x-forwarded-for"], "127.0.0.1");
    });

    // Trusting another address is not trusting this peer.
    await withBalancer(1, { transport, trustedProxies: ["10.0.0.1"] }, async (balancer) => {
      assert.equal((await seen(balancer.port, forged))["x-forwarded-for"], "127.0.0.1");
    });
  });
}

// ---------------------------------------------------------------------------------------
// Where requests go.

for (const transport of Object.keys(TRANSPORTS)) {
  Deno.test(`the request never chooses the address: absolute-form targets and Host go to a configured backend (${transport})`, async () => {
    const other = await startMock("normal");
    try {
      await withBalancer(1, { transport }, async (balancer, [configured]) => {
        const target = `127.0.0.1:${other.port}`;
        const heads = [
          `GET http://${target}/echo?q=1 HTTP/1.1\r\nHost: ${target}\r\n`,
          `GET /echo?q=1 HTTP/1.1\r\nHost: ${target}\r\n`,
          `GET http://user@${target}/echo?q=1 HTTP/1.1\r\nHost: ${target}\r\n`,
          `GET http://${target}:80/echo?q=1 HTTP/1.1\r\nHost: ${target}\r\n`,
          `GET //${target}/echo?q=1 HTTP/1.1\r\nHost: ${target}\r\n`,
        ];
        for (const head of heads) {
          const { status, body } = await raw(balancer.port, `${head}Connection: close\r\n\r\n`);
          const label = head.split("\r\n")[0];
          if (head.startsWith(`GET http://${target}:80`)) {
            // Not a valid authority: refused before anything is proxied, or proxied as usual.
            assert.ok(status === 400 || status === 200, `${label}: ${status}`);
            continue;
          }
          assert.equal(status, 200, label);
          if (!head.startsWith("GET //")) {
            const echo = json(body);
            assert.equal(echo.path, "/echo", label);
            assert.equal(echo.query, "q=1", label);
            // The client's Host is passed on (upstreamHost: client), but never routes.
            assert.equal(
              (echo.headers as Record<string, string>).host,
              target,
              `${label}: the client's Host`,
            );
          }
        }
        assert.equal(other.arrivals, 0, "the address named in the request got nothing");
        assert.ok(configured.arrivals >= 4, `the configured backend got ${configured.arrivals}`);
      });
    } finally {
      await other.close();
    }
  });
}

Deno.test({
  name: "a Host header with a path is refused with 400, never changing the path sent upstream",
  // Deno.serve builds `request.url` from Host, so `Host: h/admin` with `GET /echo` would
  // reach the backend as `/admin/echo`; balancer/refusals.ts answers 400 (RFC 9112 §3.2).
  async fn() {
    await withBalancer(1, {}, async (balancer) => {
      const { status, body } = await raw(
        balancer.port,
        "GET /echo HTTP/1.1\r\nHost: lb.example/admin\r\nConnection: close\r\n\r\n",
      );
      assert.equal(status, 400, body);
    });
  },
});

// ---------------------------------------------------------------------------------------
// Requests refused or answered at the edge (balancer/refusals.ts).

Deno.test("a GET or HEAD whose headers announce a body is refused with 400 JSON; DELETE and OPTIONS bodies are forwarded", async () => {
  // Deno.serve hands the handler `body === null` for GET and HEAD even when the bytes came:
  // forwarding would send a different request (the body silently dropped).
  await withBalancer(1, {}, async (balancer, [app]) => {
    const refused = [
      'GET /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"a":1}',
      "GET /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      '7\r\n{"a":1}\r\n0\r\n\r\n',
      "HEAD /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    ];
    for (const head of refused) {
      const { status, body } = await raw(balancer.port, head);
      const label = head.split("\r\n").slice(0, 3).join(" ");
      assert.equal(status, 400, label);
      if (!head.startsWith("HEAD")) {
        assert.match(String(json(body).error), /^GET with a request body cannot be forwarded/);
        assert.match(String(json(body).error), /POST/);
      }
    }
    assert.equal(app.arrivals, 0, "no refused request reached the backend");
    const empty = await raw(
      balancer.port,
      "GET /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert.equal(empty.status, 200, "content-length: 0 is no body");
    for (const method of ["DELETE", "OPTIONS"]) {
      for (
        const framing of [
          "Content-Length: 5\r\n\r\nhello",
          "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ]
      ) {
        const { status, body } = await raw(
          balancer.port,
          `${method} /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n${framing}`,
        );
        assert.equal(status, 200, `${method} ${framing.split("\r\n")[0]}`);
        assert.equal(json(body).bodyLength, 5, `${method}: Deno.serve keeps its body`);
      }
    }
    assert.equal(app.arrivals, 5);
  });
});

Deno.test("Host: HTTP/1.1 without it is refused with 400; HTTP/1.0 with it and HTTP/2 (:authority) are served", async () => {
  await withBalancer(1, {}, async (balancer, [app]) => {
    const noHost = await raw(balancer.port, "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert.equal(noHost.status, 400);
    assert.match(String(json(noHost.body).error), /missing Host header/);
    // The handler is not told the version: a Host-less HTTP/1.0 request looks the same.
    assert.equal((await raw(balancer.port, "GET /echo HTTP/1.0\r\n\r\n")).status, 400);
    assert.equal(app.arrivals, 0, "no Host-less request reached the backend");
    const old = await raw(balancer.port, "GET /echo HTTP/1.0\r\nHost: lb.example\r\n\r\n");
    assert.equal(old.status, 200, "HTTP/1.0 with Host");
    // Absolute form names the authority: Host is not needed to know it.
    const absolute = await raw(
      balancer.port,
      "GET http://lb.example/echo HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert.equal(absolute.status, 200);
    // h2c with prior knowledge: no Host field, the authority in `:authority`.
    const h2 = await new Promise<number>((resolve, reject) => {
      const session = http2.connect(balancer.url);
      const stream = session.request({ ":method": "GET", ":path": "/echo" });
      let status = 0;
      stream.on("response", (headers) => status = Number(headers[":status"]));
      stream.on("data", () => {});
      stream.on("end", () => session.close(() => resolve(status)));
      stream.on("error", (error) => session.close(() => reject(error)));
      stream.end();
    });
    assert.equal(h2, 200, "HTTP/2 without Host");
    assert.equal(app.arrivals, 3);
  });
});

Deno.test("OPTIONS * is answered by the balancer itself: 204 with Allow, no backend contacted", async () => {
  await withBalancer(1, {}, async (balancer, [app]) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: balancer.port });
    let text = "";
    try {
      await conn.write(
        encoder.encode("OPTIONS * HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"),
      );
      const buffer = new Uint8Array(4096);
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        text += decoder.decode(buffer.subarray(0, n));
      }
    } finally {
      conn.close();
    }
    assert.match(text, /^HTTP\/1\.1 204 /);
    assert.match(text, /\r\nallow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n/i);
    assert.equal(app.arrivals, 0);
    const path = await raw(
      balancer.port,
      "OPTIONS /echo HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert.equal(path.status, 200, "OPTIONS on a path is forwarded");
    assert.equal(app.arrivals, 1);
  });
});

Deno.test("a request target over maxTargetBytes is answered 414 JSON; Deno.serve's own limit is a 65,540-byte head", async () => {
  const get = (port: number, target: string) =>
    raw(port, `GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
  await withBalancer(1, {}, async (balancer, [app]) => {
    const at = `/echo?q=${"a".repeat(8_192 - 8)}`;
    assert.equal(at.length, 8_192);
    assert.equal((await get(balancer.port, at)).status, 200, "8192 bytes: the default limit");
    for (const target of [`${at}b`, `/${"a".repeat(65_000)}`]) {
      const { status, body } = await get(balancer.port, target);
      assert.equal(status, 414, `${target.length} bytes`);
      const error = json(body);
      assert.equal(error.limitBytes, 8_192);
      assert.match(
        String(error.error),
        new RegExp(`of ${target.length} bytes is longer than 8192`),
      );
    }
    // Past Deno.serve's head limit the balancer never sees the request (measured: a head of
    // 65,540 bytes passes, 65,541 is answered 400 with an empty body).
    const head = (n: number) =>
      `GET /${"a".repeat(n)} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`;
    const over = await raw(balancer.port, head(65_541 - head(0).length));
    assert.equal(over.status, 400);
    assert.equal(over.body, "");
    assert.equal(app.arrivals, 1, "only the target within the limit was forwarded");
  });
  await withBalancer(1, { maxTargetBytes: 0 }, async (balancer, [app]) => {
    assert.equal((await get(balancer.port, `/echo?q=${"a".repeat(30_000)}`)).status, 200);
    assert.equal(app.arrivals, 1, "0 turns the check off");
  });
});

Deno.test("a malformed chunked body is answered 400 JSON when the handler can answer, never logged as an internal error nor blamed on a backend", async () => {
  // Reads and drops what comes, never answers: a streamed try that is abandoned is quiet.
  const app = await startMock("blackhole");
  const lines: string[] = [];
  const balancer = startBalancer({
    port: 0,
    backends: [{ url: app.url, weight: 1 }],
    // A small replay limit: the second case streams, so the try has started.
    options: { replayLimitBytes: 10 },
    log: (line) => lines.push(line),
  });
  const exchange = async (parts: string[]) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: balancer.port });
    let text = "";
    const reading = (async () => {
      const buffer = new Uint8Array(16_384);
      try {
        for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
          text += decoder.decode(buffer.subarray(0, n));
        }
      } catch {
        // A reset: what arrived is the answer.
      }
    })();
    for (const part of parts) {
      await conn.write(encoder.encode(part)).catch(() => {});
      await sleep(100); // separate reads for the server
    }
    await reading;
    conn.close();
    return text;
  };
  try {
    const head = "POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (const parts of [[head, "zz\r\n"], [head, `14\r\n${"x".repeat(20)}\r\n`, "zz\r\n"]]) {
      const text = await exchange(parts);
      assert.match(text, /^HTTP\/1\.1 400 /, JSON.stringify(parts));
      assert.match(text, /"error":"request body could not be read: malformed chunked coding/);
    }
    // Bad bytes in the same packet as the head: Deno.serve closes the connection before the
    // handler runs; the client gets no answer at all.
    assert.equal(await exchange([`${head}zz\r\nhello\r\n0\r\n\r\n`]), "");
    const [backend] = balancer.balancer.backends;
    assert.equal(backend.failures, 0, "the backend is not blamed");
    assert.ok(app.arrivals <= 1, "only the streamed one may have started upstream");
  } finally {
    await balancer.shutdown();
    await app.close();
  }
  assert.deepEqual(lines.filter((line) => /internal error|BadResource/.test(line)), []);
});

// ---------------------------------------------------------------------------------------
// Methods the upstream client cannot send.

for (const transport of Object.keys(TRANSPORTS)) {
  Deno.test({
    name: `a method the upstream client cannot send (TRACE, TRACK, CONNECT) is refused ` +
      `with 405 and takes no backend out of rotation (${transport})`,
    // fetch() throws TypeError("Method is forbidden") for these before sending anything; that
    // once read as a backend failure, so one `TRACE /` ejected every backend.
    // balancer/refusals.ts refuses them before a backend is chosen, as nginx does for TRACE.
    async fn() {
      await withBalancer(2, { transport }, async (balancer) => {
        for (const method of ["TRACE", "TRACK", "CONNECT"]) {
          const target = method === "CONNECT" ? "127.0.0.1:9" : "/";
          const { status } = await raw(
            balancer.port,
            `${method} ${target} HTTP/1.1\r\nHost: lb.example\r\nConnection: close\r\n\r\n`,
          );
          assert.equal(status, 405, `${method}: refused`);
        }
        for (const backend of balancer.balancer.backends) {
          assert.equal(backend.available(Date.now()), true, `${backend.url} is still in rotation`);
        }
        const after = await fetch(balancer.url);
        await after.body?.cancel();
        assert.equal(after.status, 200, "the next client is served");
      });
    },
  });
}

// ---------------------------------------------------------------------------------------
// The admin API.

const TOKEN = "s3cret-token-for-tests";

async function call(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, text };
}

Deno.test("with a token, every admin endpoint refuses a request without it, whatever the scheme or place", async () => {
  const app = await startMock("normal");
  try {
    await withInstance(
      { backends: [app.url], admin: { port: 0, token: TOKEN }, accessLog: "off" },
      async ({ admin, instance }) => {
        const id = new URL(app.url).host;
        const routes: [string, string][] = [
          ["GET", "/status"],
          ["GET", "/metrics"],
          ["GET", "/config"],
          ["POST", "/config"],
          ["POST", "/reload"],
          ["GET", "/backends"],
          ["POST", "/backends"],
          ["DELETE", `/backends/${id}`],
          ["POST", `/backends/${id}/drain`],
          ["POST", `/backends/${id}/disable`],
          ["POST", `/backends/${id}/enable`],
        ];
        const wrongs: [string, Record<string, string>, string][] = [
          ["no header", {}, ""],
          ["Basic", { authorization: `Basic ${btoa(`admin:${TOKEN}`)}` }, ""],
          ["empty bearer", { authorization: "Bearer " }, ""],
          ["token and more", { authorization: `Bearer ${TOKEN} ${TOKEN}` }, ""],
          ["a prefix", { authorization: `Bearer ${TOKEN.slice(0, 8)}` }, ""],
          ["in the query", {}, `?token=${TOKEN}&access_token=${TOKEN}`],
          ["as a cookie", { cookie: `token=${TOKEN}` }, ""],
        ];
        for (const [method, path] of routes) {
          for (const [label, headers, query] of wrongs) {
            const body = method === "POST" ? JSON.stringify({ url: "http://127.0.0.1:9" }) : null;
            const { status } = await call(`${admin}${path}${query}`, { method, headers, body });
            assert.equal(status, 401, `${method} ${path} with ${label}`);
          }
        }
        assert.deepEqual(instance.live.settings.backends.map((b) => b.url), [app.url]);
        assert.equal(instance.running.balancer.backends[0].health.state(Date.now()), "healthy");
        const scheme = await call(`${admin}/status`, {
          headers: { authorization: `bearer ${TOKEN}` },
        });
        assert.equal(scheme.status, 200, "the scheme is case-insensitive (RFC 9110 §11.1)");
      },
    );
  } finally {
    await app.close();
  }
});

Deno.test("a browser page cannot drive the admin API: cross-origin requests and foreign Host names are refused", async () => {
  const app = await startMock("normal");
  try {
    await withInstance(
      { backends: [app.url], admin: { port: 0 }, accessLog: "off" },
      async ({ admin, instance }) => {
        // What a page on another site can send without a preflight (a "simple" request).
        const csrf = await call(`${admin}/backends`, {
          method: "POST",
          headers: { origin: "http://evil.example", "content-type": "text/plain" },
          body: JSON.stringify({ url: "http://127.0.0.1:9" }),
        });
        assert.equal(csrf.status, 403, csrf.text);
        const fetchMetadata = await call(`${admin}/reload`, {
          method: "POST",
          headers: { "sec-fetch-site": "cross-site" },
        });
        assert.equal(fetchMetadata.status, 403, fetchMetadata.text);
        // DNS rebinding: the page's own name resolved to 127.0.0.1 (fetch would replace a
        // Host header, so these go raw).
        const port = Number(new URL(admin).port);
        const get = (host: string) =>
          raw(port, `GET /config HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        for (const host of ["evil.example:9090", "evil.example", "127.0.0.1.evil.example"]) {
          assert.equal((await get(host)).status, 403, host);
        }
        assert.deepEqual(instance.live.settings.backends.map((b) => b.url), [app.url]);
        // The command line and curl send neither mark, and a loopback name: they get through.
        for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "[::1]:9090", "127.0.0.1"]) {
          assert.equal((await get(host)).status, 200, host);
        }
        assert.equal((await call(`${admin}/status`)).status, 200);
      },
    );
  } finally {
    await app.close();
  }
});

Deno.test("binding the admin API beyond loopback without a token is refused at start-up, from flags and variables", async () => {
  const cases: [string[], Record<string, string>, string][] = [
    [["--admin-port", "0", "--admin-hostname", "0.0.0.0"], {}, "--admin-hostname"],
    [["--admin-port", "0", "--admin-hostname", "::"], {}, "--admin-hostname"],
    [
      [],
      { ROUNDABOUT_ADMIN_PORT: "0", ROUNDABOUT_ADMIN_HOSTNAME: "0.0.0.0" },
      "ROUNDABOUT_ADMIN_HOSTNAME",
    ],
  ];
  const results = await Promise.all(cases.map(([args, env]) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-env",
        MAIN,
        "balance",
        "--backend",
        "http://127.0.0.1:8001",
        "--port",
        "0",
        ...args,
      ],
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).output()
  ));
  results.forEach(({ code, stderr }, i) => {
    const text = decoder.decode(stderr);
    const label = [...cases[i][0], JSON.stringify(cases[i][1])].join(" ");
    assert.equal(code, 2, `${label}: ${text}`);
    assert.equal(text.trim().split("\n").length, 1, `${label}: ${text}`);
    assert.match(text, new RegExp(`^roundabout: ${cases[i][2]} .*needs a token`), label);
  });
});
