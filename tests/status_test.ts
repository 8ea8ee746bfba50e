/**
 * The status document: what the balancer believes about each backend and why, as JSON.
 */
import assert from "node:assert/strict";
import { Backend, backendId } from "../backends/backend.ts";
import { Balancer } from "../balancer/balancer.ts";
import { FakeClock } from "./_fake_clock.ts";
import { healthSettings } from "../balancer/options.ts";
import { type BalancerOptions, DEFAULT_OPTIONS } from "../balancer/options.ts";
import { RoundRobin } from "../policies/round_robin.ts";
import { statusSnapshot } from "../admin/status.ts";
import type { Transport } from "../transports/transport.ts";
import { withInstance } from "./_instance.ts";
import { VERSION } from "../lib/version.ts";

const INFO = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.9", port: 40000 },
  completed: Promise.resolve(),
} as unknown as Deno.ServeHandlerInfo;

Deno.test("backend ids are short, stable and safe in a URL path", () => {
  assert.equal(backendId("http://127.0.0.1:8001"), "127.0.0.1:8001");
  assert.equal(backendId("https://api.internal"), "api.internal");
  assert.equal(backendId("http://api.internal:8080/v2/app"), "api.internal:8080~v2~app");
  assert.equal(backendId("http://[::1]:8001"), "::1:8001");
});

Deno.test("the status document explains each backend's state, figures and history", async () => {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const options: BalancerOptions = {
    ...DEFAULT_OPTIONS,
    retryDowntimeMs: 10_000,
    slowStartMs: 20_000,
  };
  const settings = healthSettings(options);
  const backends = ["http://127.0.0.1:8001", "http://127.0.0.1:8002"].map((url, i) =>
    new Backend({ url, weight: i + 1 }, settings)
  );
  const transport: Transport = {
    send(request) {
      clock.advance(12);
      return Promise.resolve(
        request.baseUrl.includes(":8002")
          ? new Response("App failure", { status: 500 })
          : new Response("ok"),
      );
    },
    close() {},
  };
  const balancer = new Balancer({
    options,
    backends,
    policy: new RoundRobin(() => 0),
    transport,
    clock: clock.now,
  });
  for (let i = 0; i < 4; i++) {
    const response = await balancer.handle(new Request("http://lb.test/"), INFO);
    await response.body?.cancel();
  }
  await INFO.completed;
  backends[0].probe = { ok: true, status: 200, error: null, latencyMs: 2, atMs: clock.nowMs };
  const document = statusSnapshot(balancer, clock.nowMs);
  const parsed = JSON.parse(JSON.stringify(document));
  assert.deepEqual(parsed, document, "JSON-serialisable as it is");
  assert.equal(document.policy, "round-robin");
  const [a, b] = document.backends;
  assert.deepEqual(
    { ...a, latencyMs: undefined, history: undefined },
    {
      id: "127.0.0.1:8001",
      url: "http://127.0.0.1:8001",
      weight: 1,
      effectiveWeight: 1,
      state: "healthy",
      cause: null,
      ejectedUntil: null,
      inFlight: 0,
      websockets: 0,
      requests: 4,
      failures: 0,
      ejections: 0,
      lastError: null,
      latencyMs: undefined,
      probe: { ok: true, status: 200, error: null, latencyMs: 2, at: "2030-01-01T00:00:00.060Z" },
      history: undefined,
    },
  );
  assert.deepEqual(a.latencyMs, { ewma: 12, p50: 12, p90: 12, p99: 12, samples: 4 });
  assert.equal(b.state, "failed");
  assert.equal(b.requests, 1);
  assert.deepEqual(b.cause, {
    source: "request",
    detail: "status 500",
    at: "2030-01-01T00:00:00.024Z",
  });
  assert.equal(b.ejectedUntil, "2030-01-01T00:00:10.024Z");
  assert.deepEqual(b.lastError, { detail: "status 500", at: "2030-01-01T00:00:00.024Z" });
  // A counted failure costs the per-try timeout (2 s), decayed over the 36 ms since.
  assert.equal(b.latencyMs.ewma, Math.round(2_000 * Math.exp(-36 / 10_000) * 100) / 100);
  assert.equal(b.latencyMs.p50, 12, "percentiles show the time the 500 took");
  assert.deepEqual(b.history, [{
    from: "healthy",
    to: "failed",
    source: "request",
    detail: "status 500",
    at: "2030-01-01T00:00:00.024Z",
    until: "2030-01-01T00:00:10.024Z",
  }]);

  clock.nowMs = Date.UTC(2030, 0, 1, 0, 0, 20, 24);
  const later = statusSnapshot(balancer, clock.nowMs).backends[1];
  assert.equal(later.state, "recovering");
  assert.equal(later.effectiveWeight, 2 * 0.55, "half way through its slow start");
  assert.equal(later.ejectedUntil, null);
  assert.deepEqual(later.cause, {
    source: "request",
    detail: "ejection time over",
    at: "2030-01-01T00:00:10.024Z",
  });
});

Deno.test("a backend kept across a reload takes its new weight and settings, keeping its figures", () => {
  const backend = new Backend(
    { url: "http://127.0.0.1:8001", weight: 1 },
    healthSettings(DEFAULT_OPTIONS),
  );
  backend.requests = 7;
  backend.reconfigure(
    { url: "http://127.0.0.1:8001", weight: 3 },
    healthSettings({ ...DEFAULT_OPTIONS, slowStartMs: 5_000 }),
  );
  assert.equal(backend.config.weight, 3);
  assert.equal(backend.requests, 7);
  assert.throws(
    () =>
      backend.reconfigure(
        { url: "http://127.0.0.1:8002", weight: 1 },
        healthSettings(DEFAULT_OPTIONS),
      ),
    RangeError,
  );
});

Deno.test("the status document names the running version", async () => {
  await withInstance(
    { backends: ["http://127.0.0.1:1"], admin: { port: 0 }, accessLog: "off" },
    async ({ admin }) => {
      const status = await (await fetch(`${admin}/status`)).json();
      assert.equal(status.version, VERSION);
    },
  );
});
