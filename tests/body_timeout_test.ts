/**
 * The body idle timeout: a backend that stops sending in the middle of a body has the
 * response cut after `bodyIdleTimeoutMs` and is blamed for it; a body that keeps coming,
 * however slowly, is not; a client that leaves is nobody's failure. On both transports,
 * with the `slow-body` mock and short real times (it trickles on real timers).
 */
import { eventually, rawBackend } from "./_helpers.ts";
import assert from "node:assert/strict";
import { FakeClock } from "./_fake_clock.ts";
import { TRANSPORTS } from "../transports/mod.ts";
import type { BalancerOptions } from "../balancer/options.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { Deadlines } from "../transports/deadlines.ts";
import type { Timers } from "../lib/time.ts";
import { startMock, TRICKLE_CHUNKS } from "../mocks/mod.ts";

async function withSlowBody(
  transportName: string,
  trickleIntervalMs: number,
  options: Partial<BalancerOptions>,
  test: (balancer: RunningBalancer, clock: FakeClock) => Promise<void>,
): Promise<void> {
  const app = await startMock("slow-body", { trickleIntervalMs });
  const clock = new FakeClock();
  const balancer = startBalancer({
    transport: TRANSPORTS[transportName](),
    port: 0,
    backends: [{ url: app.url, weight: 1 }],
    options,
    clock: clock.now,
  });
  try {
    await test(balancer, clock);
  } finally {
    await balancer.shutdown();
    await app.close();
  }
}

for (const transportName of Object.keys(TRANSPORTS)) {
  Deno.test(`a backend that goes quiet mid-body has the response cut after the idle timeout and is blamed [${transportName}]`, async () => {
    // The first chunk would come after 2 s; the idle timeout is 150 ms.
    await withSlowBody(
      transportName,
      2_000,
      { bodyIdleTimeoutMs: 150 },
      async (balancer, clock) => {
        const started = performance.now();
        const response = await fetch(balancer.url);
        assert.equal(response.status, 200);
        await assert.rejects(response.text(), TypeError);
        const elapsedMs = performance.now() - started;
        assert.ok(elapsedMs >= 140 && elapsedMs < 1_500, `cut after ${elapsedMs} ms`);
        const [backend] = balancer.balancer.backends;
        assert.equal(backend.failures, 1);
        assert.equal(backend.lastError?.detail, "response body idle for 150ms");
        assert.equal(backend.available(clock.now()), false, "a timeout counts: ejected");
        assert.equal(backend.inFlight, 0);
      },
    );
  });

  Deno.test(`a body that keeps trickling within the idle timeout arrives whole [${transportName}]`, async () => {
    await withSlowBody(transportName, 20, { bodyIdleTimeoutMs: 300 }, async (balancer) => {
      const response = await fetch(balancer.url);
      const text = await response.text();
      assert.equal(text.trim().split("\n").length, TRICKLE_CHUNKS);
      assert.equal(balancer.balancer.backends[0].failures, 0);
    });
  });

  Deno.test(`a client that leaves mid-body is not held against the backend [${transportName}]`, async () => {
    await withSlowBody(transportName, 30, { bodyIdleTimeoutMs: 5_000 }, async (balancer, clock) => {
      const response = await fetch(balancer.url);
      const reader = response.body!.getReader();
      const { value } = await reader.read();
      assert.match(new TextDecoder().decode(value), /chunk 1 of/);
      await reader.cancel();
      const [backend] = balancer.balancer.backends;
      await eventually(() => backend.inFlight === 0, "the try to end");
      assert.equal(backend.failures, 0);
      assert.equal(backend.available(clock.now()), true);
    });
  });
}

/** A backend that declares `content-length: 100`, sends 10 bytes of it and goes quiet. */
function stallingBackend() {
  return rawBackend(async (conn) => {
    const buffer = new Uint8Array(16 * 1024);
    await conn.read(buffer);
    const head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789";
    await conn.write(new TextEncoder().encode(head));
    while (await conn.read(buffer) !== null); // until the balancer lets go
  });
}

for (const transportName of Object.keys(TRANSPORTS)) {
  Deno.test(`a body with a declared length that stalls is cut after the idle timeout [${transportName}]`, async () => {
    const backend = stallingBackend();
    const clock = new FakeClock();
    const balancer = startBalancer({
      transport: TRANSPORTS[transportName](),
      port: 0,
      backends: [{ url: backend.url, weight: 1 }],
      options: { bodyIdleTimeoutMs: 150 },
      clock: clock.now,
    });
    try {
      const response = await fetch(balancer.url);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-length"), "100");
      await assert.rejects(response.arrayBuffer(), TypeError);
      const [blamed] = balancer.balancer.backends;
      assert.equal(blamed.failures, 1);
      assert.equal(blamed.lastError?.detail, "response body idle for 150ms");
      assert.equal(blamed.inFlight, 0);
    } finally {
      await balancer.shutdown();
      await backend.close();
    }
  });

  Deno.test(`a client that leaves while a declared body stalls is not held against the backend [${transportName}]`, async () => {
    const backend = stallingBackend();
    const balancer = startBalancer({
      transport: TRANSPORTS[transportName](),
      port: 0,
      backends: [{ url: backend.url, weight: 1 }],
      options: { bodyIdleTimeoutMs: 10_000 },
      clock: new FakeClock().now,
    });
    try {
      const leave = new AbortController();
      setTimeout(() => leave.abort(), 100);
      await assert.rejects(
        fetch(balancer.url, { signal: leave.signal }).then((r) => r.arrayBuffer()),
      );
      const [kept] = balancer.balancer.backends;
      await eventually(() => kept.inFlight === 0, "the try to end");
      assert.equal(kept.failures, 0);
    } finally {
      await balancer.shutdown();
      await backend.close();
    }
  });
}

/** Timers that never fire on their own: only the queue's bookkeeping is under test. */
const STILL: Timers = { setTimeout: () => 1, clearTimeout: () => {} };

Deno.test("deadlines cleared behind one still pending take no memory (the queue compacts)", () => {
  const deadlines = new Deadlines(10, STILL, () => 0);
  deadlines.add(60_000, () => {}); // a body idle for most of a minute, at the front
  for (let i = 0; i < 100_000; i++) deadlines.add(60_000, () => {}).clear();
  assert.ok(deadlines.queued <= 1_100, `${deadlines.queued} entries queued`);
  const live = Array.from({ length: 5_000 }, () => deadlines.add(60_000, () => {}));
  for (let i = 0; i < 50_000; i++) deadlines.add(60_000, () => {}).clear();
  assert.ok(deadlines.queued <= 4 * 5_001 + 1, `${deadlines.queued} entries queued`);
  for (const deadline of live) deadline.clear();
  deadlines.close();
});
