/**
 * Http1Transport against real servers: Deno.serve for ordinary exchanges, raw TCP servers
 * that write exact bytes for the edge cases.
 */

import assert from "node:assert/strict";
import { ReusedConnectionClosed, UpstreamError } from "../transports/transport.ts";
import { Http1Transport } from "../transports/http1/http1.ts";
import { NoResponseError } from "../transports/http1/head.ts";
import { headFailure, NothingSentError } from "../transports/http1/round_trip.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface SendInit {
  method?: string;
  headers?: HeadersInit;
  body?: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null;
  signal?: AbortSignal;
}

/** A test's URL as the balancer hands it on: the backend's base URL, then the path. */
function splitTestUrl(url: string): { baseUrl: string; path: string } {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  return slash === -1
    ? { baseUrl: url, path: "/" }
    : { baseUrl: url.slice(0, slash), path: url.slice(slash) };
}

function send(transport: Http1Transport, url: string, init: SendInit = {}): Promise<Response> {
  return transport.send({
    ...splitTestUrl(url),
    method: init.method ?? "GET",
    headers: [...new Headers(init.headers)],
    body: init.body ?? null,
    signal: init.signal ?? new AbortController().signal,
  });
}

/** A Deno.serve server that also counts the client connections it has seen. */
function serve(handler: (request: Request) => Response | Promise<Response>) {
  const peers = new Set<number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request, info) => {
      peers.add(info.remoteAddr.port);
      return handler(request);
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get connections() {
      return peers.size;
    },
    shutdown: () => server.shutdown(),
  };
}

/** One accepted connection of a raw server, with helpers to script it. */
class RawConn {
  #pending = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn, readonly index: number) {}

  /** Reads one request head (and nothing more); null when the client closed. */
  async readHead(): Promise<string | null> {
    for (;;) {
      const text = decoder.decode(this.#pending);
      const end = text.indexOf("\r\n\r\n");
      if (end !== -1) {
        this.#pending = this.#pending.subarray(end + 4);
        return text.slice(0, end);
      }
      const chunk = new Uint8Array(4096);
      const count = await this.conn.read(chunk);
      if (count === null) return null;
      const joined = new Uint8Array(this.#pending.byteLength + count);
      joined.set(this.#pending);
      joined.set(chunk.subarray(0, count), this.#pending.byteLength);
      this.#pending = joined;
    }
  }

  /** Resolves once the client has closed the connection (ignoring anything it sends). */
  async untilClosed(): Promise<void> {
    const chunk = new Uint8Array(4096);
    try {
      while (await this.conn.read(chunk) !== null) { /* discard */ }
    } catch {
      // Reset by the client: closed as well.
    }
  }

  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let offset = 0;
    while (offset < bytes.byteLength) offset += await this.conn.write(bytes.subarray(offset));
  }
}

/** A TCP server that runs `script` on every connection it accepts, then closes it. */
function rawServer(script: (conn: RawConn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const scripts: Promise<void>[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.push(conn);
        const raw = new RawConn(conn, conns.length - 1);
        scripts.push(script(raw).catch(() => {}).finally(() => closeQuietly(conn)));
      }
    } catch {
      // The listener was closed.
    }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get connections() {
      return conns.length;
    },
    /** Resolves once every script has finished. */
    settled: () => Promise.all(scripts),
    async close() {
      listener.close();
      await accepting;
      for (const conn of conns) closeQuietly(conn);
      await Promise.all(scripts);
    },
  };
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** Answers every request on a connection with `reply(head, conn)` until the client leaves. */
function eachRequest(reply: (head: string, conn: RawConn) => Promise<void> | void) {
  return async (conn: RawConn) => {
    for (;;) {
      const head = await conn.readHead();
      if (head === null) return;
      await reply(head, conn);
    }
  };
}

function isUpstreamError(kind: UpstreamError["kind"], message?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof UpstreamError, `expected UpstreamError, got ${error}`);
    assert.equal(error.kind, kind);
    if (message) assert.match(error.message, message);
    return true;
  };
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function randomBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(size, offset + 65536)));
  }
  return bytes;
}

Deno.test("a content-length body arrives whole with status, reason and headers", async () => {
  const server = serve(() =>
    new Response("hello, world", { status: 201, headers: { "x-a": "1" } })
  );
  const transport = new Http1Transport();
  try {
    const response = await send(transport, `${server.url}/x?y=1`);
    assert.equal(response.status, 201);
    assert.equal(response.statusText, "Created");
    assert.equal(response.headers.get("x-a"), "1");
    assert.equal(response.headers.get("content-length"), "12");
    assert.equal(await response.text(), "hello, world");
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("a base URL's path prefix goes before the path, on the origin's pooled connections", async () => {
  const server = serve((request) => {
    const url = new URL(request.url);
    return new Response(url.pathname + url.search);
  });
  const transport = new Http1Transport();
  try {
    const prefixed = await transport.send({
      baseUrl: `${server.url}/api`,
      path: "/x?y=1",
      method: "GET",
      headers: [],
      body: null,
      signal: new AbortController().signal,
    });
    assert.equal(await prefixed.text(), "/api/x?y=1");
    assert.equal(await (await send(transport, `${server.url}/z`)).text(), "/z");
    assert.equal(server.connections, 1, "one origin, one pool, whatever the prefix");
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("the request line carries the path and query, and host names the backend", async () => {
  let seen: string | null = null;
  const server = rawServer(eachRequest(async (head, conn) => {
    seen = head;
    await conn.write("HTTP/1.1 204 No Content\r\n\r\n");
  }));
  const transport = new Http1Transport();
  try {
    const response = await send(transport, `${server.url}/a/b?c=d%20e`, {
      headers: { "x-forwarded-for": "10.0.0.1", host: "client.example" },
    });
    assert.equal(response.status, 204);
    assert.equal(response.body, null);
    const lines = seen!.split("\r\n");
    assert.equal(lines[0], "GET /a/b?c=d%20e HTTP/1.1");
    assert.deepEqual(lines.filter((line) => line.startsWith("host:")), [
      `host: ${server.url.slice(7)}`,
    ]);
    assert.ok(lines.includes("x-forwarded-for: 10.0.0.1"));
    assert.ok(!lines.some((line) => line.startsWith("content-length")), "no length on a GET");
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a chunked body with extensions and a trailer is decoded and the connection reused", async () => {
  const server = rawServer(eachRequest(async (_head, conn) => {
    await conn.write(
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" +
        "5;name=value\r\nhello\r\n" +
        '7 ; quoted="a;b"\r\n, world\r\n' +
        "0\r\nx-checksum: abc\r\nx-other: 1\r\n\r\n",
    );
  }));
  const transport = new Http1Transport();
  try {
    for (let i = 0; i < 3; i++) {
      const response = await send(transport, server.url);
      // Framing is the connection's business: the transport hands on end-to-end fields only.
      assert.equal(response.headers.get("transfer-encoding"), null);
      assert.equal(await response.text(), "hello, world");
    }
    assert.equal(server.connections, 1);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a response arriving one byte at a time is parsed the same", async () => {
  const reply = "HTTP/1.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n" +
    "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  const server = rawServer(eachRequest(async (_head, conn) => {
    for (const byte of encoder.encode(reply)) await conn.write(new Uint8Array([byte]));
  }));
  const transport = new Http1Transport();
  try {
    const response = await send(transport, server.url);
    assert.equal(response.headers.get("x-a"), "1");
    assert.equal(await response.text(), "abcde");
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a body without length is read until the server closes, and not reused", async () => {
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nfirst part, ");
    await conn.write("second part");
  });
  const transport = new Http1Transport();
  try {
    for (let i = 0; i < 2; i++) {
      const response = await send(transport, server.url);
      assert.equal(await response.text(), "first part, second part");
    }
    assert.equal(server.connections, 2);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("HEAD, 204 and 304 responses have no body even when they declare a length", async () => {
  const server = rawServer(eachRequest(async (head, conn) => {
    const path = head.split(" ")[1];
    const status = path === "/204"
      ? "204 No Content"
      : path === "/304"
      ? "304 Not Modified"
      : "200 OK";
    await conn.write(`HTTP/1.1 ${status}\r\ncontent-length: 10\r\n\r\n`);
  }));
  const transport = new Http1Transport();
  try {
    const head = await send(transport, `${server.url}/`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "10");
    assert.equal(head.body, null);
    for (const status of [204, 304]) {
      const response = await send(transport, `${server.url}/${status}`);
      assert.equal(response.status, status);
      assert.equal(response.body, null);
    }
    // Had any of them waited for ten bytes, the connection would be out of step by now.
    assert.equal(server.connections, 1);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("100 Continue and 103 Early Hints are skipped", async () => {
  const server = rawServer(eachRequest(async (_head, conn) => {
    await conn.write("HTTP/1.1 100 Continue\r\n\r\n");
    await conn.write("HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n");
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
  }));
  const transport = new Http1Transport();
  try {
    const response = await send(transport, server.url);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("link"), null);
    assert.equal(await response.text(), "ok");
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("sequential requests reuse one keep-alive connection", async () => {
  const server = serve((request) => new Response(`you asked ${new URL(request.url).pathname}`));
  const transport = new Http1Transport();
  try {
    for (let i = 0; i < 5; i++) {
      const response = await send(transport, `${server.url}/${i}`);
      assert.equal(await response.text(), `you asked /${i}`);
    }
    assert.equal(server.connections, 1);
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("a connection: close answer or an HTTP/1.0 answer is not reused", async () => {
  for (
    const reply of [
      "HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 2\r\n\r\nok",
      "HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
    ]
  ) {
    // The server would happily take another request: only the client must refuse to.
    const server = rawServer(eachRequest((_head, conn) => conn.write(reply)));
    const transport = new Http1Transport();
    try {
      for (let i = 0; i < 2; i++) {
        assert.equal(await (await send(transport, server.url)).text(), "ok");
      }
      assert.equal(server.connections, 2, reply);
    } finally {
      transport.close();
      await server.close();
    }
  }
});

Deno.test("an HTTP/1.0 answer with keep-alive is reused", async () => {
  const server = rawServer(
    eachRequest((_head, conn) =>
      conn.write("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok")
    ),
  );
  const transport = new Http1Transport();
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal(await (await send(transport, server.url)).text(), "ok");
    }
    assert.equal(server.connections, 1);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a pooled connection the server closed while idle is replaced by a new one", async () => {
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    // Then close, as a server does when its keep-alive timeout ends.
  });
  const transport = new Http1Transport();
  try {
    // The pool watches idle connections, so a close is noticed before the next request
    // would meet it (one that does is a ReusedConnectionClosed, see below), given one turn
    // of the event loop: a node:net socket hears of the end from the runtime's read loop, a
    // Deno.connect read may see it at once.
    for (let i = 0; i < 3; i++) {
      assert.equal(await (await send(transport, server.url)).text(), "ok");
      await server.settled();
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.equal(server.connections, 3);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a GET that a reused connection drops unanswered is not sent again by the transport", async () => {
  // The second request on the first connection meets a server that closes without a word:
  // the race of a keep-alive timeout with a request already on its way, or a crash. The
  // server may have the request: a replay is the balancer's call, on another backend.
  let requests = 0;
  const server = rawServer(async (conn) => {
    await conn.readHead();
    requests++;
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst");
    if (await conn.readHead() !== null) requests++;
  });
  const transport = new Http1Transport();
  try {
    assert.equal(await (await send(transport, server.url)).text(), "first");
    await assert.rejects(send(transport, server.url), (error) => {
      assert.ok(error instanceof ReusedConnectionClosed, `got ${error}`);
      assert.equal(error.kind, "reset");
      return true;
    });
    assert.equal(server.connections, 1, "no new connection: not sent again");
    assert.equal(requests, 2);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a POST that a reused connection drops unanswered is not sent twice", async () => {
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    await conn.readHead();
  });
  const transport = new Http1Transport();
  try {
    assert.equal(await (await send(transport, server.url)).text(), "ok");
    await assert.rejects(
      send(transport, server.url, { method: "POST", body: encoder.encode("charge me once") }),
      (error) => error instanceof ReusedConnectionClosed,
    );
    assert.equal(server.connections, 1);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a timeout on a warm connection is a timeout, and the request is not sent again", async () => {
  let requests = 0;
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    await conn.readHead();
    requests++;
    await conn.untilClosed(); // no answer
  });
  const transport = new Http1Transport();
  try {
    assert.equal(await (await send(transport, server.url)).text(), "ok");
    const started = performance.now();
    await assert.rejects(
      transport.send({
        baseUrl: server.url,
        path: "/",
        method: "GET",
        headers: [],
        body: null,
        signal: new AbortController().signal,
        timeoutMs: 100,
      }),
      (error) => error instanceof DOMException && error.name === "TimeoutError",
    );
    const elapsedMs = performance.now() - started;
    assert.ok(elapsedMs < 1_000, `rejected after ${elapsedMs} ms`);
    await server.settled();
    assert.equal(requests, 1, "the request reached the server once");
    assert.equal(server.connections, 1, "and no second connection was made for it");
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("only a write that sent nothing, on a reused connection we did not close, may go again", () => {
  const broken = new Error("connection reset by peer");
  const noAnswer = new NoResponseError();
  const reused = { reused: true, written: 0, closeReason: undefined };
  assert.ok(headFailure(noAnswer, broken, reused) instanceof NothingSentError);
  // Some of it left: the backend may have it.
  const partly = headFailure(noAnswer, broken, { ...reused, written: 10 });
  assert.ok(partly instanceof UpstreamError && !(partly instanceof NothingSentError));
  // A new connection that breaks at once is the backend's failure, not a stale one.
  const fresh = headFailure(noAnswer, broken, { ...reused, reused: false });
  assert.ok(fresh instanceof UpstreamError && !(fresh instanceof NothingSentError));
  // Closed by us: the reason is the failure, whatever the socket said afterwards.
  const timeout = new DOMException("no response within 2s", "TimeoutError");
  assert.equal(headFailure(noAnswer, broken, { ...reused, closeReason: timeout }), timeout);
  const written = { ...reused, written: 100 };
  assert.equal(headFailure(noAnswer, undefined, { ...written, closeReason: timeout }), timeout);
  // All written, nothing back, on a reused connection: distinguishable, never sent again.
  const dropped = headFailure(noAnswer, undefined, written);
  assert.ok(dropped instanceof ReusedConnectionClosed);
  assert.equal(headFailure(noAnswer, undefined, { ...written, reused: false }), noAnswer);
});

Deno.test("a refused connection fails with kind connect", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const transport = new Http1Transport();
  try {
    await assert.rejects(
      send(transport, `http://127.0.0.1:${port}/`),
      isUpstreamError("connect", /connection refused/),
    );
  } finally {
    transport.close();
  }
});

Deno.test("a backend URL of another scheme than http or https fails with kind connect", async () => {
  const transport = new Http1Transport();
  try {
    await assert.rejects(
      send(transport, "ftp://127.0.0.1:1/"),
      isUpstreamError("connect", /unsupported backend URL "ftp:/),
    );
  } finally {
    transport.close();
  }
});

/** Each reply, sent by a backend in answer to a request, must fail with kind protocol. */
async function assertEachIsProtocolFailure(replies: readonly string[]): Promise<void> {
  for (const reply of replies) {
    const server = rawServer(async (conn) => {
      await conn.readHead();
      await conn.write(reply);
      await conn.untilClosed();
    });
    const transport = new Http1Transport();
    try {
      await assert.rejects(send(transport, server.url), isUpstreamError("protocol"), reply);
    } finally {
      transport.close();
      await server.close();
    }
  }
}

Deno.test("bytes that are not HTTP fail with kind protocol", async () => {
  const replies = [
    "SSH-2.0-OpenSSH_9.6\r\n",
    "hello\r\n\r\n",
    "HTTP/1.1 2x0 OK\r\n\r\n",
    "HTTP/2.0 200 OK\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
    "HTTP/1.1 200 OK\u0001\r\ncontent-length: 0\r\n\r\n",
  ];
  await assertEachIsProtocolFailure(replies);
});

Deno.test("malformed header fields fail with kind protocol", async () => {
  const heads = [
    "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    "HTTP/1.1 200 OK\r\nx-a: 1\r\n folded: 2\r\n\r\n",
    "HTTP/1.1 200 OK\r\nbad name: 1\r\n\r\n",
    "HTTP/1.1 200 OK\r\ncontent-length: 12x\r\n\r\n",
    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",
  ];
  await assertEachIsProtocolFailure(heads);
});

Deno.test("a response head larger than maxHeaderBytes fails with kind protocol", async () => {
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.write(`HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(5000)}\r\ncontent-length: 0\r\n\r\n`);
    await conn.untilClosed();
  });
  const transport = new Http1Transport({ maxHeaderBytes: 4096 });
  try {
    await assert.rejects(
      send(transport, server.url),
      isUpstreamError("protocol", /maxHeaderBytes/),
    );
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a response head larger than the read buffer but within the limit is read", async () => {
  const big = "b".repeat(40_000);
  const server = rawServer(
    eachRequest((_head, conn) =>
      conn.write(`HTTP/1.1 200 OK\r\nx-big: ${big}\r\ncontent-length: 2\r\n\r\nok`)
    ),
  );
  const transport = new Http1Transport();
  try {
    const response = await send(transport, server.url);
    assert.equal(response.headers.get("x-big"), big);
    assert.equal(await response.text(), "ok");
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a server that reads the request and closes without answering gives kind reset", async () => {
  const server = rawServer(async (conn) => {
    await conn.readHead();
  });
  const transport = new Http1Transport();
  try {
    await assert.rejects(send(transport, server.url), isUpstreamError("reset"));
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a content-length body cut short makes the body stream error, never end cleanly", async () => {
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n");
    await conn.write(randomBytes(30_000));
  });
  const transport = new Http1Transport();
  try {
    const response = await send(transport, server.url);
    assert.equal(response.status, 200);
    await assert.rejects(
      response.arrayBuffer(),
      isUpstreamError("reset", /closed before the response body ended/),
    );
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a chunked body cut short makes the body stream error", async () => {
  for (
    const cut of [
      "5\r\nhello\r\n", // between chunks
      "a\r\nhel", // inside a chunk
      "5\r\nhello\r\n0\r\n", // before the end of the trailer section
    ]
  ) {
    const server = rawServer(async (conn) => {
      await conn.readHead();
      await conn.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${cut}`);
    });
    const transport = new Http1Transport();
    try {
      const response = await send(transport, server.url);
      await assert.rejects(response.text(), isUpstreamError("reset"), cut);
    } finally {
      transport.close();
      await server.close();
    }
  }
});

Deno.test("a malformed chunk size fails with kind protocol, with the head or in the body", async () => {
  const server = rawServer(async (conn) => {
    await conn.readHead();
    if (conn.index === 0) {
      // Seen together with the head: the request itself fails.
      await conn.write(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
      );
    } else {
      // Seen after a first chunk longer than one read: the body stream errors.
      await conn.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
      await conn.write(`30000\r\n${"x".repeat(0x30000)}\r\nzz\r\n`);
    }
    await conn.untilClosed();
  });
  const transport = new Http1Transport();
  try {
    await assert.rejects(send(transport, server.url), isUpstreamError("protocol", /chunk size/));
    const response = await send(transport, server.url);
    await assert.rejects(response.text(), isUpstreamError("protocol", /chunk size/));
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a timeout before the answer rejects with TimeoutError and drops the connection", async () => {
  let closedByClient = false;
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.untilClosed();
    closedByClient = true;
  });
  const transport = new Http1Transport();
  try {
    await assert.rejects(
      send(transport, server.url, { signal: AbortSignal.timeout(100) }),
      (error) => error instanceof DOMException && error.name === "TimeoutError",
    );
    // The client closed its side, so nothing went back into the pool.
    await server.settled();
    assert.ok(closedByClient);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("an abort while the request body streams cancels it and rejects with AbortError", async () => {
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.untilClosed();
  });
  const transport = new Http1Transport();
  const controller = new AbortController();
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    start(stream) {
      stream.enqueue(encoder.encode("some of it"));
    },
    pull() {
      // The client stalls mid-upload; the abort comes in the meantime.
      controller.abort();
      return new Promise(() => {});
    },
    cancel() {
      cancelled = true;
    },
  });
  try {
    await assert.rejects(
      send(transport, server.url, { method: "POST", body, signal: controller.signal }),
      (error) => error instanceof DOMException && error.name === "AbortError",
    );
    assert.ok(cancelled);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("an already aborted signal rejects before connecting", async () => {
  const server = serve(() => new Response("never"));
  const transport = new Http1Transport();
  try {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      send(transport, server.url, { signal: controller.signal }),
      (error) => error instanceof DOMException && error.name === "AbortError",
    );
    assert.equal(server.connections, 0);
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("request bodies arrive intact: bytes with content-length, a stream chunked", async () => {
  const server = serve(async (request) => {
    const bytes = new Uint8Array(await request.arrayBuffer());
    return Response.json({
      size: bytes.byteLength,
      sha256: await sha256(bytes),
      length: request.headers.get("content-length"),
      encoding: request.headers.get("transfer-encoding"),
    });
  });
  const transport = new Http1Transport();
  const payload = randomBytes(3 * 1024 * 1024 + 17);
  const expected = await sha256(payload);
  try {
    const asBytes = await send(transport, server.url, { method: "POST", body: payload });
    assert.deepEqual(await asBytes.json(), {
      size: payload.byteLength,
      sha256: expected,
      length: String(payload.byteLength),
      encoding: null,
    });
    let offset = 0;
    let pulls = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= payload.byteLength) return controller.close();
        // Uneven pieces, an empty one among them, which must not end the body early.
        const size = pulls++ === 1 ? 0 : 1 + (offset % 70_001);
        controller.enqueue(payload.subarray(offset, offset + size));
        offset += size;
      },
    });
    const asStream = await send(transport, server.url, { method: "PUT", body: stream });
    assert.deepEqual(await asStream.json(), {
      size: payload.byteLength,
      sha256: expected,
      length: null,
      encoding: "chunked",
    });
    const empty = await send(transport, server.url, { method: "POST" });
    assert.equal((await empty.json()).length, "0");
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("a large response body streams through intact and frees the connection", async () => {
  const payload = randomBytes(5 * 1024 * 1024);
  const expected = await sha256(payload);
  const server = serve((request) =>
    new URL(request.url).pathname === "/chunked"
      ? new Response(
        ReadableStream.from([payload.subarray(0, 1_000_000), payload.subarray(1_000_000)]),
      )
      : new Response(payload)
  );
  const transport = new Http1Transport();
  try {
    for (const path of ["/", "/chunked", "/"]) {
      const response = await send(transport, server.url + path);
      let chunks = 0;
      const parts: Uint8Array[] = [];
      for await (const chunk of response.body!) {
        chunks++;
        parts.push(chunk);
      }
      const whole = new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer());
      assert.equal(await sha256(whole), expected, path);
      assert.ok(chunks > 1, "streamed in pieces");
    }
    assert.equal(server.connections, 1);
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("cancelling a response body closes its connection instead of pooling it", async () => {
  let closedByClient = false;
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\nthe start");
    await conn.untilClosed();
    closedByClient = true;
  });
  const transport = new Http1Transport();
  try {
    const response = await send(transport, server.url);
    const reader = response.body!.getReader();
    assert.equal(decoder.decode((await reader.read()).value), "the start");
    await reader.cancel();
    await server.settled();
    assert.ok(closedByClient);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("gzip bytes pass through untouched, content-encoding and length intact", async () => {
  const text = "squeeze me ".repeat(2000);
  const gzipped = new Uint8Array(
    await new Response(
      new Blob([text]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer(),
  );
  const server = serve(() =>
    new Response(gzipped, {
      headers: { "content-encoding": "gzip", "content-type": "text/plain" },
    })
  );
  const transport = new Http1Transport();
  try {
    const response = await send(transport, server.url, {
      headers: { "accept-encoding": "gzip" },
    });
    assert.equal(response.headers.get("content-encoding"), "gzip");
    assert.equal(response.headers.get("content-length"), String(gzipped.byteLength));
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), gzipped);
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("200 requests at concurrency 32 all succeed", async () => {
  const server = serve(async (request) => new Response(await request.text()));
  const transport = new Http1Transport();
  try {
    let next = 0;
    const worker = async () => {
      while (next < 200) {
        const i = next++;
        const response = await send(transport, server.url, {
          method: "POST",
          body: encoder.encode(`request ${i}`),
        });
        assert.equal(await response.text(), `request ${i}`);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    assert.ok(server.connections <= 32, `${server.connections} connections`);
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("repeated set-cookie fields stay separate", async () => {
  const server = serve(() => {
    const headers = new Headers();
    headers.append("set-cookie", "a=1; Path=/; Expires=Wed, 21 Oct 2015 07:28:00 GMT");
    headers.append("set-cookie", "b=2");
    headers.append("x-list", "one");
    headers.append("x-list", "two");
    return new Response("ok", { headers });
  });
  const transport = new Http1Transport();
  try {
    const response = await send(transport, server.url);
    assert.deepEqual(response.headers.getSetCookie(), [
      "a=1; Path=/; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
      "b=2",
    ]);
    assert.equal(response.headers.get("x-list"), "one, two");
    await response.body?.cancel();
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("header bytes outside ASCII pass through as bytes", async () => {
  const server = rawServer(eachRequest((_head, conn) =>
    conn.write(
      new Uint8Array([
        ...encoder.encode("HTTP/1.1 200 OK\r\nx-name: caf"),
        0xe9,
        ...encoder.encode("\r\ncontent-length: 0\r\n\r\n"),
      ]),
    )
  ));
  const transport = new Http1Transport();
  try {
    const response = await send(transport, server.url);
    assert.equal(response.headers.get("x-name"), "caf\u00e9");
    assert.equal(response.body, null);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("idle connections are closed after idleTimeoutMs", async () => {
  let closedByClient = false;
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    await conn.untilClosed();
    closedByClient = true;
  });
  const transport = new Http1Transport({ idleTimeoutMs: 50 });
  try {
    assert.equal(await (await send(transport, server.url)).text(), "ok");
    await server.settled();
    assert.ok(closedByClient);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("close() closes idle connections", async () => {
  let closedByClient = false;
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    await conn.untilClosed();
    closedByClient = true;
  });
  const transport = new Http1Transport();
  try {
    assert.equal(await (await send(transport, server.url)).text(), "ok");
    transport.close();
    await server.settled();
    assert.ok(closedByClient);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("options out of range are all reported at once", () => {
  assert.throws(
    () => new Http1Transport({ maxIdlePerOrigin: -1, idleTimeoutMs: 0.5, maxHeaderBytes: 100 }),
    (error) =>
      error instanceof RangeError && /maxIdlePerOrigin is -1/.test(error.message) &&
      /idleTimeoutMs is 0.5/.test(error.message) && !/maxHeaderBytes/.test(error.message),
  );
});

Deno.test("an answer during a streamed upload comes back at once; the upload stops, unfinished", async () => {
  let go!: () => void;
  const bodyMayCome = new Promise<void>((resolve) => go = resolve);
  let afterAnswer = "";
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.write("HTTP/1.1 401 Unauthorized\r\ncontent-length: 4\r\n\r\n");
    await bodyMayCome;
    await conn.write("nope");
    // Everything the client sent since: never the last chunk, which would tell the
    // backend that the cut upload was complete.
    const chunk = new Uint8Array(4096);
    for (let n = await conn.conn.read(chunk); n !== null; n = await conn.conn.read(chunk)) {
      afterAnswer += decoder.decode(chunk.subarray(0, n));
    }
  });
  const transport = new Http1Transport();
  let pulls = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      // A piece, then a client that takes its time: the upload is far from done.
      if (pulls++ === 0) return controller.enqueue(encoder.encode("some of it"));
      return new Promise(() => {});
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  try {
    const response = await send(transport, server.url, { method: "POST", body });
    assert.equal(response.status, 401);
    assert.ok(cancelled, "the client's body is no longer read");
    go();
    assert.equal(await response.text(), "nope");
    // The script ends when the client closes the connection after the answer: out of
    // step, it was not pooled.
    await server.settled();
    assert.ok(!afterAnswer.includes("0\r\n\r\n"), `sent after the answer: ${afterAnswer}`);
  } finally {
    go();
    transport.close();
    await server.close();
  }
});

Deno.test("a backend that answers before the upload ends is heard, and not reused", async () => {
  const server = rawServer(async (conn) => {
    await conn.readHead();
    // Refuse the upload at once, without reading it, and hang up.
    await conn.write("HTTP/1.1 413 Content Too Large\r\ncontent-length: 8\r\n\r\ntoo big!");
  });
  const transport = new Http1Transport();
  try {
    const response = await send(transport, server.url, {
      method: "POST",
      body: new Uint8Array(32 * 1024 * 1024),
    });
    assert.equal(response.status, 413);
    assert.equal(await response.text(), "too big!");
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a request body stream that fails gives kind reset and drops the connection", async () => {
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.untilClosed();
  });
  const transport = new Http1Transport();
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulls++ === 0) controller.enqueue(encoder.encode("partial"));
      else controller.error(new Error("client upload broke"));
    },
  });
  try {
    await assert.rejects(
      send(transport, server.url, { method: "POST", body }),
      isUpstreamError("reset", /request body/),
    );
    await server.settled();
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("transfer-encoding wins over content-length, which is dropped with the connection", async () => {
  const server = rawServer(eachRequest((_head, conn) =>
    conn.write(
      "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n" +
        "5\r\nhello\r\n0\r\n\r\n",
    )
  ));
  const transport = new Http1Transport();
  try {
    for (let i = 0; i < 2; i++) {
      const response = await send(transport, server.url);
      assert.equal(response.headers.get("content-length"), null);
      assert.equal(await response.text(), "hello");
    }
    assert.equal(server.connections, 2);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("request header bytes outside ASCII are sent as the same bytes", async () => {
  let seen: Uint8Array | undefined;
  const server = rawServer(async (conn) => {
    const chunk = new Uint8Array(4096);
    const count = await conn.conn.read(chunk);
    seen = chunk.subarray(0, count ?? 0);
    await conn.write("HTTP/1.1 204 No Content\r\n\r\n");
    await conn.untilClosed();
  });
  const transport = new Http1Transport();
  try {
    await send(transport, server.url, { headers: { "x-name": "caf\u00e9" } });
    const line = encoder.encode("x-name: caf");
    const at = decoder.decode(seen).indexOf("x-name: caf");
    assert.ok(at !== -1);
    assert.deepEqual(seen!.subarray(at, at + line.byteLength + 1), new Uint8Array([...line, 0xe9]));
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("a connection busy when close() is called is closed when its body ends", async () => {
  let closedByClient = false;
  const server = rawServer(async (conn) => {
    await conn.readHead();
    await conn.write("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nfirst");
    await conn.write("-half");
    await conn.untilClosed();
    closedByClient = true;
  });
  const transport = new Http1Transport();
  try {
    const response = await send(transport, server.url);
    transport.close();
    assert.equal(await response.text(), "first-half");
    await server.settled();
    assert.ok(closedByClient);
  } finally {
    transport.close();
    await server.close();
  }
});

Deno.test("maxIdlePerOrigin 0 turns keep-alive off", async () => {
  const server = serve(() => new Response("ok"));
  const transport = new Http1Transport({ maxIdlePerOrigin: 0 });
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal(await (await send(transport, server.url)).text(), "ok");
    }
    assert.equal(server.connections, 3);
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("a body read after its connection served the next request is still intact", async () => {
  const server = serve((request) => new Response(`body of ${new URL(request.url).pathname}`));
  const transport = new Http1Transport();
  try {
    const first = await send(transport, `${server.url}/first`);
    const second = await send(transport, `${server.url}/second`);
    assert.equal(server.connections, 1);
    assert.equal(await second.text(), "body of /second");
    assert.equal(await first.text(), "body of /first");
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("idle pooled connections do not keep the process running", async () => {
  const server = serve(() => new Response("ok"));
  try {
    // A script that never calls close(): it must still exit once its work is done.
    const script = `
      import { Http1Transport } from ${
      JSON.stringify(import.meta.resolve("../transports/http1/http1.ts"))
    };
      const transport = new Http1Transport();
      const response = await transport.send({
        baseUrl: ${JSON.stringify(server.url)}, path: "/", method: "GET", headers: [], body: null,
        signal: new AbortController().signal,
      });
      console.log(await response.text());
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", script],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill(), 15_000);
    const result = await child.output();
    clearTimeout(timer);
    assert.equal(decoder.decode(result.stderr), "");
    assert.equal(decoder.decode(result.stdout).trim(), "ok");
    assert.equal(result.code, 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a method or path that could break the request line is refused", async () => {
  const transport = new Http1Transport();
  try {
    await assert.rejects(send(transport, "http://127.0.0.1:1/a b"), TypeError);
    await assert.rejects(send(transport, "http://127.0.0.1:1/", { method: "GET /x" }), TypeError);
  } finally {
    transport.close();
  }
});
