/**
 * End-to-end scenarios: real mock apps and a real balancer on port 0. Ejection expiry runs on
 * an injected clock; only the per-try timeout uses (short) real time.
 */
import assert from "node:assert/strict";
import { FakeClock } from "./_fake_clock.ts";
import type { BalancerOptions } from "../balancer/options.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { type MockKind, type RunningMock, startMock } from "../mocks/mod.ts";
import { deadPort, serve } from "./_helpers.ts";
import { TRANSPORTS } from "../transports/mod.ts";

interface Topology {
  apps: RunningMock[];
  balancer: RunningBalancer;
  clock: FakeClock;
  /** POSTs a small JSON body and returns status, x-app-url and the parsed body. */
  post(body?: unknown): Promise<{ status: number; app: string | null; body: unknown }>;
}

async function withTopology(
  kinds: MockKind[],
  options: Partial<BalancerOptions> & { delayMs?: number; transportName: string },
  test: (topology: Topology) => Promise<void>,
): Promise<void> {
  const apps: RunningMock[] = [];
  let balancer: RunningBalancer | undefined;
  try {
    for (const kind of kinds) apps.push(await startMock(kind, { delayMs: options.delayMs }));
    const clock = new FakeClock();
    balancer = startBalancer({
      transport: TRANSPORTS[options.transportName](),
      port: 0,
      backends: apps.map((app) => ({ url: app.url, weight: 1 })),
      options,
      clock: clock.now,
    });
    const url = balancer.url;
    const post = async (body: unknown = { a: 1 }) => {
      const response = await fetch(url, {
        method: "POST",
        body: JSON.stringify(body),
        headers: { "content-type": "application/json" },
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch { /* not JSON: keep the text */ }
      return { status: response.status, app: response.headers.get("x-app-url"), body: parsed };
    };
    await test({ apps, balancer, clock, post });
  } finally {
    await balancer?.shutdown();
    await Promise.all(apps.map((app) => app.close()));
  }
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Every scenario runs with each upstream transport.
for (const transportName of Object.keys(TRANSPORTS)) {
  Deno.test(`requests go to the apps in cyclic order, named by x-app-url [${transportName}]`, async () => {
    await withTopology(
      ["normal", "normal", "normal"],
      { transportName },
      async ({ apps, post }) => {
        const seen: (string | null)[] = [];
        for (let i = 0; i < 6; i++) {
          const { status, app, body } = await post({ n: i });
          assert.equal(status, 200);
          assert.deepEqual(body, { n: i });
          seen.push(app);
        }
        const urls = apps.map((app) => app.url);
        assert.deepEqual(seen, [...urls, ...urls]);
      },
    );
  });

  Deno.test(`scenario 1: a failing app is invisible to clients, skipped, and comes back after the downtime [${transportName}]`, async () => {
    await withTopology(
      ["normal", "alternating", "normal"],
      { retryDowntimeMs: 10_000, transportName },
      async (t) => {
        const [a, b, c] = t.apps.map((app) => app.url);
        assert.equal((await t.post()).app, a);
        const second = await t.post();
        assert.equal(
          second.status,
          200,
          "the alternating app's failure is retried on the next app",
        );
        assert.equal(second.app, c);
        assert.equal(t.apps[1].arrivals, 1);
        const during = [];
        for (let i = 0; i < 4; i++) during.push((await t.post()).app);
        assert.deepEqual(during, [a, c, a, c], "the failed app is skipped during its downtime");
        assert.equal(t.apps[1].arrivals, 1);
        t.clock.advance(10_000);
        const after = [];
        for (let i = 0; i < 3; i++) after.push(await t.post());
        assert.ok(after.every((r) => r.status === 200));
        assert.deepEqual(after.map((r) => r.app), [a, b, c], "after the downtime it is used again");
        assert.equal(t.apps[1].arrivals, 2);
      },
    );
  });

  Deno.test(`scenario 2: a request that lands on a slow app is answered by the next after one timeout [${transportName}]`, async () => {
    const options = { timeoutMs: 300, retryDowntimeMs: 10_000, delayMs: 5_000, transportName };
    await withTopology(["normal", "delayed", "normal"], options, async (t) => {
      const [a, _b, c] = t.apps.map((app) => app.url);
      assert.equal((await t.post()).app, a);
      const started = performance.now();
      const slow = await t.post({ slow: true });
      const tookMs = performance.now() - started;
      assert.equal(slow.status, 200);
      assert.equal(slow.app, c);
      assert.deepEqual(slow.body, { slow: true });
      assert.ok(tookMs >= 290 && tookMs < 2_000, `took ${tookMs}ms, expected about 300ms`);
      const later = [];
      for (let i = 0; i < 4; i++) later.push((await t.post()).app);
      assert.deepEqual(later, [a, c, a, c], "the slow app is skipped for the downtime");
      assert.equal(t.apps[1].arrivals, 1);
    });
  });

  Deno.test(`an app that is down is skipped, and used again once restarted and its downtime passed [${transportName}]`, async () => {
    const a = await startMock("normal");
    let b = await startMock("normal");
    const bPort = b.port;
    await b.close();
    const clock = new FakeClock();
    const balancer = startBalancer({
      transport: TRANSPORTS[transportName](),
      port: 0,
      backends: [{ url: a.url, weight: 1 }, { url: b.url, weight: 1 }],
      clock: clock.now,
    });
    try {
      const get = async () => {
        const response = await fetch(balancer.url);
        await response.body?.cancel();
        return [response.status, response.headers.get("x-app-url")];
      };
      assert.deepEqual(await get(), [200, a.url]);
      assert.deepEqual(await get(), [200, a.url], "the refused connection moved on to a");
      assert.deepEqual(await get(), [200, a.url]);
      b = await startMock("normal", { port: bPort });
      assert.deepEqual(await get(), [200, a.url], "still in its downtime");
      clock.advance(10_000);
      const after = [await get(), await get()].map((r) => r[1]);
      assert.ok(after.includes(b.url), "restarted app is used again");
    } finally {
      await balancer.shutdown();
      await a.close();
      await b.close();
    }
  });

  Deno.test(`with every app down the client gets a prompt 502, then 503, both JSON [${transportName}]`, async () => {
    const clock = new FakeClock();
    const balancer = startBalancer({
      transport: TRANSPORTS[transportName](),
      port: 0,
      backends: [deadPort(), deadPort(), deadPort()].map((port) => ({
        url: `http://127.0.0.1:${port}`,
        weight: 1,
      })),
      clock: clock.now,
    });
    try {
      const first = await fetch(balancer.url);
      assert.equal(first.status, 502);
      const body = await first.json();
      assert.equal(body.tried.length, 3);
      assert.ok(
        body.tried.every((t: { error: string }) => t.error.startsWith("connection refused")),
      );
      const second = await fetch(balancer.url);
      assert.equal(second.status, 503);
      assert.equal(second.headers.get("retry-after"), "10");
      assert.equal(second.headers.get("content-type"), "application/json");
      await second.body?.cancel();
    } finally {
      await balancer.shutdown();
    }
  });

  Deno.test(`method, path, query, headers and a multi-megabyte body survive the round trip [${transportName}]`, async () => {
    await withTopology(["normal"], { transportName }, async ({ balancer }) => {
      for (const size of [0, 100_000, 3 * 1024 * 1024 + 7]) {
        const body = new Uint8Array(size).map((_, i) => (i * 31) % 251);
        const response = await fetch(`${balancer.url}/echo?x=1&y=%20two`, {
          method: "PUT",
          body,
          headers: { "x-custom": "kept", "content-type": "application/octet-stream" },
        });
        assert.equal(response.status, 200);
        const seen = await response.json();
        assert.equal(seen.method, "PUT");
        assert.equal(seen.path, "/echo");
        assert.equal(seen.query, "x=1&y=%20two");
        assert.equal(seen.headers["x-custom"], "kept");
        assert.equal(seen.bodyLength, size);
        assert.equal(seen.bodySha256, await sha256(body));
      }
    });
  });

  Deno.test(`hop-by-hop headers are stripped both ways and x-forwarded-* are added [${transportName}]`, async () => {
    const backend = serve((request) => {
      const seen = Object.fromEntries(request.headers);
      return Response.json(seen, {
        headers: { "keep-alive": "timeout=99", "connection": "x-resp-hop", "x-resp-hop": "1" },
      });
    });
    const balancer = startBalancer({
      transport: TRANSPORTS[transportName](),
      port: 0,
      backends: [{ url: backend.url, weight: 1 }],
    });
    try {
      const response = await fetch(`${balancer.url}/`, {
        headers: {
          "connection": "x-req-hop",
          "x-req-hop": "1",
          "keep-alive": "timeout=5",
          "te": "trailers",
          "proxy-authorization": "Basic eA==",
          "x-forwarded-for": "6.6.6.6",
        },
      });
      const seen = await response.json();
      for (const name of ["x-req-hop", "keep-alive", "te", "proxy-authorization"]) {
        assert.equal(seen[name], undefined, `${name} reached the backend`);
      }
      assert.equal(seen["x-forwarded-for"], "127.0.0.1", "an untrusted client cannot forge it");
      assert.equal(seen["x-forwarded-proto"], "http");
      assert.equal(seen["x-forwarded-host"], new URL(balancer.url).host);
      assert.equal(seen["host"], new URL(balancer.url).host, "the client's Host, by default");
      assert.equal(response.headers.get("x-resp-hop"), null);
      assert.equal(response.headers.get("keep-alive"), null);
      assert.equal(response.headers.get("x-app-url"), backend.url);
    } finally {
      await balancer.shutdown();
      await backend.shutdown();
    }
  });

  Deno.test(`a gzip body from the backend reaches the client intact [${transportName}]`, async () => {
    await withTopology(["normal"], { transportName }, async ({ balancer }) => {
      // The client's fetch decompresses by itself: corrupt or doubly decoded bytes would throw.
      const decoded = await fetch(`${balancer.url}/gzip`);
      assert.equal(decoded.headers.get("content-encoding"), "gzip");
      const expected = await decoded.json();
      assert.equal(expected.compressed, "gzip");
      // Asking for identity, the client gets the backend's compressed bytes as they were sent.
      const raw = await fetch(`${balancer.url}/gzip`, {
        headers: { "accept-encoding": "identity" },
      });
      assert.equal(raw.headers.get("content-encoding"), "gzip");
      const bytes = new Uint8Array(await raw.arrayBuffer());
      assert.equal(Number(raw.headers.get("content-length")), bytes.length);
      const gunzipped = new Response(
        new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip")),
      );
      assert.deepEqual(await gunzipped.json(), expected);
    });
  });

  Deno.test(`a client that leaves mid-request cancels the upstream request, with no blame [${transportName}]`, async () => {
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    let cancelled!: () => void;
    const cancellation = new Promise<void>((resolve) => (cancelled = resolve));
    const backend = serve((request) => {
      arrived();
      return new Promise((resolve) => {
        request.signal.addEventListener("abort", () => {
          cancelled();
          resolve(new Response("too late"));
        });
      });
    });
    const balancer = startBalancer({
      transport: TRANSPORTS[transportName](),
      port: 0,
      backends: [{ url: backend.url, weight: 1 }],
    });
    try {
      const client = new AbortController();
      const pending = fetch(balancer.url, { signal: client.signal }).catch((e) => e);
      await arrival;
      client.abort();
      assert.equal((await pending).name, "AbortError");
      await cancellation;
      const [state] = balancer.balancer.backends;
      assert.equal(state.failures, 0);
      assert.equal(state.available(Date.now()), true);
    } finally {
      await balancer.shutdown();
      await backend.shutdown();
    }
  });
}
