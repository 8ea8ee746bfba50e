/**
 * The mock apps against real sockets: each test starts mocks on port 0 and always closes
 * them, so the leak sanitizers (deno.json) check that close() releases everything.
 */

import assert from "node:assert/strict";
import {
  MOCK_DEFAULTS,
  MOCK_HELP,
  MOCK_KINDS,
  type MockKind,
  type MockOptions,
  patternBytes,
  type RunningMock,
  startMock,
  TRICKLE_CHUNKS,
} from "../mocks/mod.ts";
import { eventually } from "./_helpers.ts";

/** Starts a mock, runs `body`, and closes the mock whatever happens. */
async function withMock(
  kind: MockKind,
  options: MockOptions,
  body: (mock: RunningMock) => Promise<void>,
): Promise<void> {
  const mock = await startMock(kind, options);
  try {
    await body(mock);
  } finally {
    await mock.close();
  }
}

/** `promise`, or a rejection if it takes longer than `ms`; the timer never outlives it. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Status of a request whose body was read to the end, or the name of the error it met. */
async function outcome(url: string, init: RequestInit = {}): Promise<number | string> {
  try {
    const response = await fetch(url, init);
    await response.arrayBuffer();
    return response.status;
  } catch (error) {
    return error instanceof Error ? error.name : String(error);
  }
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  // getRandomValues fills at most 64 KiB per call.
  for (let at = 0; at < length; at += 65_536) {
    crypto.getRandomValues(bytes.subarray(at, at + 65_536));
  }
  return bytes;
}

const isTimeout = (error: unknown) =>
  error instanceof DOMException && error.name === "TimeoutError";

Deno.test("normal echoes a POSTed JSON body back byte for byte, marked x-mock: normal", async () => {
  await withMock("normal", {}, async (mock) => {
    const body = '{ "greeting": "hello",  "n": [1, 2, 3] }';
    const response = await fetch(`${mock.url}/any/path`, { method: "POST", body });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.headers.get("x-mock"), "normal");
    assert.equal(await response.text(), body);
  });
});

Deno.test("normal answers a body that is not JSON with 400 and a JSON error", async () => {
  await withMock("normal", {}, async (mock) => {
    const response = await fetch(mock.url, { method: "POST", body: "not json" });
    assert.equal(response.status, 400);
    assert.deepEqual(await response.json(), { error: "Request body is not valid JSON" });
  });
});

Deno.test("a request without a body, such as GET /, answers the mock's identity: its kind and url", async () => {
  await withMock("normal", {}, async (mock) => {
    assert.match(mock.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(mock.url, `http://127.0.0.1:${mock.port}`);
    for (const [method, path] of [["GET", "/"], ["GET", "/any/path"], ["DELETE", "/item/1"]]) {
      const response = await fetch(mock.url + path, { method });
      assert.deepEqual(await response.json(), { app: "normal", url: mock.url }, method + path);
    }
  });
});

Deno.test("GET /health answers 200 {status: ok}", async () => {
  await withMock("normal", {}, async (mock) => {
    const response = await fetch(`${mock.url}/health`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-mock"), "normal");
    assert.deepEqual(await response.json(), { status: "ok" });
  });
});

Deno.test("/echo reports method, path, query, headers and the hash of a multi-megabyte body", async () => {
  await withMock("normal", {}, async (mock) => {
    const body = randomBytes(3 * 1024 * 1024 + 7);
    const response = await fetch(`${mock.url}/echo?a=1&b=two%20words`, {
      method: "PUT",
      headers: { "X-Custom": "Hello", "content-type": "application/octet-stream" },
      body,
    });
    const echo = await response.json();
    assert.equal(echo.method, "PUT");
    assert.equal(echo.path, "/echo");
    assert.equal(echo.query, "a=1&b=two%20words");
    assert.equal(echo.headers["x-custom"], "Hello");
    assert.equal(echo.headers["content-type"], "application/octet-stream");
    assert.equal(echo.headers["content-length"], String(body.length));
    assert.equal(echo.bodyLength, body.length);
    assert.equal(echo.bodySha256, await sha256Hex(body));
  });
});

Deno.test("/bytes/N answers N pattern bytes with content-length N, and 400 past the limit", async () => {
  await withMock("normal", {}, async (mock) => {
    const response = await fetch(`${mock.url}/bytes/100000`);
    assert.equal(response.headers.get("content-length"), "100000");
    assert.deepEqual(await response.bytes(), patternBytes(100_000));
    assert.equal(await outcome(`${mock.url}/bytes/999999999999`), 400);
    assert.equal(await outcome(`${mock.url}/bytes/-1`), 400);
  });
});

Deno.test("/gzip answers gzip bytes with content-encoding: gzip even when identity is asked", async () => {
  await withMock("normal", {}, async (mock) => {
    const response = await fetch(`${mock.url}/gzip`, {
      headers: { "accept-encoding": "identity" },
    });
    assert.equal(response.headers.get("content-encoding"), "gzip");
    const raw = await response.bytes();
    assert.deepEqual([raw[0], raw[1]], [0x1f, 0x8b], "gzip magic number");
    const json = await new Response(
      new Blob([raw]).stream().pipeThrough(new DecompressionStream("gzip")),
    ).json();
    assert.deepEqual(json, { app: "normal", url: mock.url, compressed: "gzip" });
  });
});

Deno.test("alternating fails the first, third and fifth requests and serves the second and fourth", async () => {
  await withMock("alternating", {}, async (mock) => {
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      const response = await fetch(mock.url, { method: "POST", body: "{}" });
      assert.equal(response.headers.get("x-mock"), "alternating");
      const text = await response.text();
      if (response.status === 500) assert.equal(text, '{"error":"App failure"}');
      statuses.push(response.status);
    }
    assert.deepEqual(statuses, [500, 200, 500, 200, 500]);
  });
});

Deno.test("alternating /health always answers 200 and does not advance the alternation", async () => {
  await withMock("alternating", {}, async (mock) => {
    const statuses = [];
    for (const path of ["/health", "/", "/health", "/health", "/", "/health", "/"]) {
      statuses.push(await outcome(mock.url + path));
    }
    assert.deepEqual(statuses, [200, 500, 200, 200, 200, 200, 500]);
  });
});

Deno.test("delayed answers like normal only after its delay, and /health at once", async () => {
  await withMock("delayed", { delayMs: 100 }, async (mock) => {
    const started = performance.now();
    const response = await fetch(mock.url, { method: "POST", body: '{"late":true}' });
    assert.ok(performance.now() - started >= 90, "answered before the delay");
    assert.deepEqual(await response.json(), { late: true });
  });
  await withMock("delayed", { delayMs: 60_000 }, async (mock) => {
    assert.equal(await within(outcome(`${mock.url}/health`), 2_000, "/health"), 200);
  });
});

Deno.test("delayed counts a request on arrival and stops waiting when its client aborts", async () => {
  const ended = Promise.withResolvers<string>();
  await withMock("delayed", { delayMs: 60_000, log: ended.resolve }, async (mock) => {
    const client = new AbortController();
    const request = fetch(mock.url, { signal: client.signal });
    await eventually(() => mock.arrivals === 1, "the request to arrive");
    client.abort();
    await assert.rejects(request, { name: "AbortError" });
    // The handler finishes long before its 60 s delay, so its timer was cleared then, not
    // by close() at the end of the test.
    assert.equal(await within(ended.promise, 2_000, "the handler"), "GET / client gone (delayed)");
  });
});

Deno.test("delayed close() ends a request still waiting, which gets 503", async () => {
  const mock = await startMock("delayed", { delayMs: 60_000 });
  const request = outcome(mock.url);
  try {
    await eventually(() => mock.arrivals === 1, "the request to arrive");
  } finally {
    await within(mock.close(), 2_000, "close()");
  }
  assert.equal(await request, 503);
});

async function flakyStatuses(seed: number, failureRate: number, count: number) {
  const statuses: (number | string)[] = [];
  await withMock("flaky", { seed, failureRate }, async (mock) => {
    for (let i = 0; i < count; i++) statuses.push(await outcome(mock.url));
  });
  return statuses;
}

Deno.test("flaky with the same seed fails the same requests in every run", async () => {
  const first = await flakyStatuses(7, 0.5, 40);
  assert.deepEqual(await flakyStatuses(7, 0.5, 40), first);
  assert.notDeepEqual(await flakyStatuses(8, 0.5, 40), first, "another seed, another run");
  assert.deepEqual(new Set(first), new Set([200, 500]));
});

Deno.test("flaky fails close to failureRate of 200 requests", async () => {
  // Deterministic for a given seed, so these bounds cannot fail by bad luck.
  for (const failureRate of [0.2, 0.5, 0.9]) {
    const statuses = await flakyStatuses(MOCK_DEFAULTS.seed, failureRate, 200);
    const failed = statuses.filter((status) => status === 500).length / statuses.length;
    assert.ok(Math.abs(failed - failureRate) <= 0.08, `rate ${failureRate}: failed ${failed}`);
  }
});

Deno.test("flaky /health never fails", async () => {
  await withMock("flaky", { failureRate: 1 }, async (mock) => {
    assert.equal(await outcome(mock.url), 500);
    assert.equal(await outcome(`${mock.url}/health`), 200);
  });
});

Deno.test("reset sends 200 and its headers, then the body read fails with a TypeError", async () => {
  await withMock("reset", {}, async (mock) => {
    const response = await fetch(mock.url);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("x-mock"), "reset");
    await assert.rejects(response.text(), TypeError);
  });
});

Deno.test("garbage makes fetch fail with a TypeError", async () => {
  await withMock("garbage", {}, async (mock) => {
    await assert.rejects(fetch(mock.url), TypeError);
  });
});

Deno.test("slow-body sends headers at once and then trickles its body to a clean end", async () => {
  const trickleIntervalMs = 100;
  await withMock("slow-body", { trickleIntervalMs }, async (mock) => {
    const started = performance.now();
    const response = await fetch(mock.url);
    const headersAfter = performance.now() - started;
    assert.equal(response.headers.get("x-mock"), "slow-body");
    const text = await response.text();
    const bodyAfter = performance.now() - started;
    assert.ok(headersAfter < trickleIntervalMs * 5, `headers after ${headersAfter} ms`);
    assert.ok(bodyAfter >= trickleIntervalMs * (TRICKLE_CHUNKS - 1), `body after ${bodyAfter}`);
    assert.equal(text.split("\n").filter(Boolean).length, TRICKLE_CHUNKS);
  });
});

Deno.test("blackhole never answers: a fetch with a 200 ms timeout times out", async () => {
  await withMock("blackhole", {}, async (mock) => {
    await assert.rejects(fetch(mock.url, { signal: AbortSignal.timeout(200) }), isTimeout);
  });
});

Deno.test("close() releases connections that are held open or never sent a request", async () => {
  for (const kind of ["blackhole", "slow-body", "reset"] as const) {
    const mock = await startMock(kind, { trickleIntervalMs: 60_000 });
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: mock.port });
    const held = await Deno.connect({ hostname: "127.0.0.1", port: mock.port });
    try {
      await held.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
      await eventually(() => mock.arrivals === 1, `${kind}: the request to arrive`);
    } finally {
      await within(mock.close(), 2_000, `${kind}: close()`);
      idle.close();
      held.close();
    }
  }
});

for (const kind of MOCK_KINDS) {
  Deno.test(`${kind} counts every arrival by method, answered or not`, async () => {
    await withMock(kind, { delayMs: 1, trickleIntervalMs: 1 }, async (mock) => {
      // A blackhole never answers, so its clients give up; the others are awaited.
      const init = (method: string): RequestInit => ({
        method,
        body: method === "GET" ? undefined : "{}",
        signal: kind === "blackhole" ? AbortSignal.timeout(100) : undefined,
      });
      await Promise.all([init("POST"), init("POST"), init("GET")].map((i) => outcome(mock.url, i)));
      await eventually(() => mock.arrivals === 3, "three arrivals");
      assert.deepEqual(mock.arrivalsByMethod, { POST: 2, GET: 1 });
    });
  });
}

Deno.test("startMock rejects an unknown kind, a taken port and lists every invalid option", async () => {
  await assert.rejects(startMock("teapot" as MockKind), TypeError);
  await assert.rejects(
    startMock("normal", { port: -1, failureRate: 2, delayMs: Number.NaN }),
    (error) =>
      error instanceof RangeError && /port must be/.test(error.message) &&
      /failureRate must be/.test(error.message) && /delayMs must be/.test(error.message),
  );
  await withMock("normal", {}, async (mock) => {
    await assert.rejects(startMock("reset", { port: mock.port }), Deno.errors.AddrInUse);
  });
});

Deno.test("close() can be called twice and returns the same promise", async () => {
  const mock = await startMock("normal");
  const first = mock.close();
  assert.equal(mock.close(), first);
  await first;
});

Deno.test("MOCK_HELP has a paragraph for every kind, naming the options that apply", () => {
  assert.deepEqual(Object.keys(MOCK_HELP).sort(), [...MOCK_KINDS].sort());
  assert.match(MOCK_HELP.delayed, /delayMs.*default 3000/);
  assert.match(MOCK_HELP.flaky, /failureRate.*seed/);
  assert.match(MOCK_HELP["slow-body"], /trickleIntervalMs/);
  for (const help of Object.values(MOCK_HELP)) assert.match(help, /hostname.*port/);
});

Deno.test("a mock switched to slow, then failing, then back keeps the same keep-alive connection", async () => {
  await withMock("normal", { delayMs: 200 }, async (mock) => {
    const client = Deno.createHttpClient({ poolMaxIdlePerHost: 1 });
    try {
      const echo = async (id: string) => {
        const started = performance.now();
        const response = await fetch(`${mock.url}/echo`, {
          client,
          headers: { "x-request-id": id },
        });
        const body = await response.json();
        return { status: response.status, port: body.remotePort, ms: performance.now() - started };
      };
      const first = await echo("a");
      assert.equal(first.status, 200);
      mock.setMode("slow");
      const slow = await echo("b");
      assert.ok(slow.ms >= 190, `slow answered in ${slow.ms} ms`);
      assert.deepEqual(mock.mode, { mode: "slow", delayMs: 200 });
      mock.setMode("failing");
      const failed = await fetch(`${mock.url}/x`, { client, headers: { "x-request-id": "c" } });
      assert.equal(failed.status, 500);
      assert.deepEqual(await failed.json(), { error: "App failure" });
      mock.setMode("as-started");
      const last = await echo("d");
      assert.equal(last.status, 200);
      assert.equal(slow.port, first.port, "one connection across the switch to slow");
      assert.equal(last.port, first.port, "and across failing and back");
      assert.deepEqual(mock.receivedIds, { a: 1, b: 1, c: 1, d: 1 });
      assert.equal(mock.received("b"), 1);
      assert.equal(mock.received("never"), 0);
    } finally {
      client.close();
    }
  });
});

Deno.test("POST /_mock/mode switches a running mock over HTTP; /_mock/received counts ids, itself uncounted", async () => {
  await withMock("delayed", { delayMs: 5_000 }, async (mock) => {
    const control = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${mock.url}/_mock/${path}`, {
        method,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    };
    assert.deepEqual(await control("GET", "mode"), {
      status: 200,
      body: { mode: "as-started", delayMs: 5_000 },
    });
    const set = await control("POST", "mode", { mode: "normal" });
    assert.deepEqual(set.body, { mode: "normal", delayMs: 5_000 });
    // The delayed app now answers at once.
    assert.equal(await outcome(`${mock.url}/?id=q1`), 200);
    assert.equal(await outcome(mock.url, { headers: { "x-request-id": "h1" } }), 200);
    assert.equal(await outcome(mock.url, { headers: { "x-request-id": "h1" } }), 200);
    assert.deepEqual(await control("GET", "received?id=h1"), {
      status: 200,
      body: { id: "h1", count: 2 },
    });
    assert.deepEqual((await control("GET", "received")).body, {
      arrivals: 3,
      received: { q1: 1, h1: 2 },
    });
    assert.equal((await control("POST", "mode", { mode: "reset" })).status, 400);
    assert.equal((await control("POST", "mode", { mode: "slow", delayMs: -1 })).status, 400);
    assert.equal((await control("GET", "nothing")).status, 404);
    assert.equal(mock.arrivals, 3, "control requests are not arrivals");
  });
});

Deno.test("the raw TCP mocks count ids from the query and refuse a mode switch", async () => {
  await withMock("garbage", {}, async (mock) => {
    assert.equal(typeof await outcome(`${mock.url}/?id=g1`), "string");
    assert.equal(mock.received("g1"), 1);
    assert.throws(() => mock.setMode("normal"), TypeError);
  });
});
