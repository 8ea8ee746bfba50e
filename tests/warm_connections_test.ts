/**
 * Warm (pooled, keep-alive) connections to backends: a try that times out on one is a
 * timeout like any other, and a reused connection that the backend closes without
 * answering is replayed on another backend, or not at all, never on the same one. Real
 * servers and short real times.
 */
import assert from "node:assert/strict";
import { FakeClock } from "./_fake_clock.ts";
import { TRANSPORTS } from "../transports/mod.ts";
import type { BalancerOptions } from "../balancer/options.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { startNodeBackend } from "./_node_backend.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** The per-try timeout of these tests, and how long a slow backend takes: well over it. */
const TIMEOUT_MS = 300;
const SLOW_MS = 1_000;

/** What a backend does with a request to /slow; anything else is answered at once. */
type Mode = "answer" | "slow" | "drop";

/** A keep-alive backend whose handling of /slow can be switched once the pool is warm. */
interface SwitchableBackend {
  readonly url: string;
  mode: Mode;
  /** Client ports that requests to /slow came from, one entry per request received. */
  readonly slowFrom: number[];
  /** Client ports that the requests before /slow came from. */
  readonly warmFrom: number[];
  close(): Promise<void>;
}

/** Deno.serve keeps connections alive; it cannot drop one unanswered, so no "drop". */
function servedBackend(name: string): SwitchableBackend {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request, info) => {
      if (new URL(request.url).pathname === "/slow") {
        backend.slowFrom.push(info.remoteAddr.port);
        if (backend.mode === "slow") await new Promise((resolve) => setTimeout(resolve, SLOW_MS));
      } else {
        backend.warmFrom.push(info.remoteAddr.port);
      }
      return new Response(name);
    },
  );
  const backend: SwitchableBackend = {
    url: `http://127.0.0.1:${server.addr.port}`,
    mode: "answer",
    slowFrom: [],
    warmFrom: [],
    close: () => server.shutdown(),
  };
  return backend;
}

/** A scripted keep-alive backend over `Deno.listen`, for what Deno.serve will not do. */
function rawBackend(name: string): SwitchableBackend {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const served: Promise<void>[] = [];
  const serveConn = async (conn: Deno.Conn) => {
    const port = (conn.remoteAddr as Deno.NetAddr).port;
    for (let head = await readHead(conn); head !== null; head = await readHead(conn)) {
      if (head.startsWith("GET /slow ") || head.startsWith("POST /slow ")) {
        backend.slowFrom.push(port);
        if (backend.mode === "drop") return; // read, and hang up without a word
        if (backend.mode === "slow") await new Promise((resolve) => setTimeout(resolve, SLOW_MS));
      } else {
        backend.warmFrom.push(port);
      }
      await conn.write(encoder.encode(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n${name}`));
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      served.push(serveConn(conn).catch(() => {}).finally(() => closeQuietly(conn)));
    }
  })().catch(() => {});
  const backend: SwitchableBackend = {
    url: `http://127.0.0.1:${listener.addr.port}`,
    mode: "answer",
    slowFrom: [],
    warmFrom: [],
    async close() {
      listener.close();
      await accepting;
      for (const conn of conns) closeQuietly(conn);
      await Promise.all(served);
    },
  };
  return backend;
}

/** Reads one request head without a body; null when the client closed. */
async function readHead(conn: Deno.Conn): Promise<string | null> {
  let text = "";
  const chunk = new Uint8Array(4096);
  while (!text.includes("\r\n\r\n")) {
    const count = await conn.read(chunk).catch(() => null);
    if (count === null) return null;
    text += decoder.decode(chunk.subarray(0, count));
  }
  // These tests send small requests, one at a time: a POST's body comes with its head.
  return text;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

async function withWarmBalancer(
  transportName: string,
  make: (name: string) => SwitchableBackend,
  options: Partial<BalancerOptions>,
  test: (
    balancer: RunningBalancer,
    backends: SwitchableBackend[],
    clock: FakeClock,
  ) => Promise<void>,
): Promise<void> {
  const backends = [make("a"), make("b")];
  const clock = new FakeClock();
  const balancer = startBalancer({
    transport: TRANSPORTS[transportName](),
    port: 0,
    backends: backends.map((backend) => ({ url: backend.url, weight: 1 })),
    options,
    clock: clock.now,
  });
  try {
    // Round robin: a, b, a, b. Each backend now has a pooled connection, and a is next.
    for (let i = 0; i < 4; i++) await (await fetch(balancer.url)).text();
    await test(balancer, backends, clock);
  } finally {
    await balancer.shutdown();
    for (const backend of backends) await backend.close();
  }
}

for (const transportName of ["http1", "fetch"]) {
  for (const [kind, make] of [["Deno.serve", servedBackend], ["raw", rawBackend]] as const) {
    Deno.test(`a backend turned slow on a warm connection times out once, is ejected, and the request moves on [${transportName}, ${kind}]`, async () => {
      await withWarmBalancer(
        transportName,
        make,
        { timeoutMs: TIMEOUT_MS },
        async (balancer, [a, b], clock) => {
          a.mode = "slow";
          const started = performance.now();
          const response = await fetch(`${balancer.url}/slow`);
          const elapsedMs = performance.now() - started;
          assert.equal(response.status, 200);
          assert.equal(await response.text(), "b");
          assert.ok(elapsedMs < SLOW_MS, `answered after ${elapsedMs} ms, not the slow one's`);
          assert.equal(a.slowFrom.length, 1, "the slow backend received the request once");
          assert.ok(a.warmFrom.includes(a.slowFrom[0]), "on a warm connection");
          assert.equal(b.slowFrom.length, 1);
          const [slow] = balancer.balancer.backends;
          assert.equal(slow.available(clock.now()), false, "the slow backend is ejected");
          assert.equal(slow.lastError?.detail, `no response within ${TIMEOUT_MS}ms`);
        },
      );
    });
  }
}

Deno.test("a GET that a reused connection drops unanswered moves on to another backend, which is not held against the first", async () => {
  await withWarmBalancer("http1", rawBackend, {}, async (balancer, [a, b], clock) => {
    a.mode = "drop";
    const response = await fetch(`${balancer.url}/slow`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "b");
    assert.equal(a.slowFrom.length, 1, "not sent to the same backend again");
    assert.ok(a.warmFrom.includes(a.slowFrom[0]), "it met a reused connection");
    assert.equal(b.slowFrom.length, 1);
    const [dropping] = balancer.balancer.backends;
    assert.equal(dropping.available(clock.now()), true, "not ejected");
    assert.match(
      dropping.lastError?.detail ?? "",
      /^reused connection closed before answering \(not held against the backend/,
    );
  });
});

Deno.test("a POST that a reused connection drops unanswered gets 502 when retries after send are off", async () => {
  await withWarmBalancer(
    "http1",
    rawBackend,
    { retryNonIdempotent: false },
    async (balancer, [a, b], clock) => {
      a.mode = "drop";
      const response = await fetch(`${balancer.url}/slow`, { method: "POST", body: "once" });
      assert.equal(response.status, 502);
      const body = await response.json();
      assert.equal(body.tried.length, 1);
      assert.match(body.tried[0].error, /^reused connection closed before answering/);
      assert.equal(a.slowFrom.length, 1);
      assert.equal(b.slowFrom.length, 0, "never replayed");
      assert.equal(balancer.balancer.backends[0].available(clock.now()), true);
    },
  );
});

Deno.test("fetch transport: a POST reaches a backend that resets the connection once, never re-sent by Deno's client", async () => {
  const node = await startNodeBackend();
  const transport = TRANSPORTS.fetch();
  const send = async (method: string, id: string) => {
    const response = await transport.send({
      baseUrl: node.url,
      path: "/item",
      method,
      headers: [["x-request-id", id]],
      body: method === "POST" ? new TextEncoder().encode("{}") : null,
      signal: new AbortController().signal,
      timeoutMs: 2_000,
    });
    await response.arrayBuffer();
    return response.status;
  };
  let failure: unknown;
  try {
    // Warm the pool, so a pooled connection is there to be reused (and re-sent on).
    for (let i = 0; i < 3; i++) assert.equal(await send("GET", `warm-${i}`), 200);
    await node.setMode("reset");
    await send("POST", "charge").catch((error) => failure = error);
  } finally {
    transport.close();
    await node.close();
  }
  assert.ok(failure instanceof Error, "the reset reached the caller as a failure");
  assert.equal(node.received("charge"), 1);
});
