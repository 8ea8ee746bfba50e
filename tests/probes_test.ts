/**
 * Active health checks: their schedule on fake timers, their verdicts, their timeout and
 * their shutdown, with a scripted probe; then the default `fetch` probe against real
 * servers. Nothing here sleeps.
 */
import assert from "node:assert/strict";
import { Backend } from "../backends/backend.ts";
import { FakeClock } from "./_fake_clock.ts";
import { healthSettings } from "../balancer/options.ts";
import { type ActiveHealthOptions, DEFAULT_OPTIONS } from "../balancer/options.ts";
import { fetchProbe, type ProbeFn, Prober } from "../backends/probes.ts";
import { deadPort, serve } from "./_helpers.ts";

const ACTIVE: ActiveHealthOptions = {
  ...DEFAULT_OPTIONS.active,
  path: "/health",
  intervalMs: 5_000,
  timeoutMs: 1_000,
  rise: 2,
  fall: 3,
};

function setup(probe: ProbeFn, active: Partial<ActiveHealthOptions> = {}) {
  const clock = new FakeClock();
  const options = { ...ACTIVE, ...active };
  const settings = healthSettings({ ...DEFAULT_OPTIONS, active: options });
  const pool = ["http://a.test", "http://b.test"].map((url) =>
    new Backend({ url, weight: 1 }, settings)
  );
  const prober = new Prober({ backends: pool, options, clock: clock.now, probe, timers: clock });
  return { clock, pool, prober };
}

Deno.test("probes run at once on start, then every interval, and stop with stop()", async () => {
  const probed: string[] = [];
  const { clock, prober } = setup((url) => {
    probed.push(`${url} @${clock.nowMs % 100_000}`);
    return Promise.resolve(200);
  });
  const t0 = clock.nowMs % 100_000;
  prober.start();
  await clock.advanceSettling(0);
  assert.deepEqual(probed, [`http://a.test/health @${t0}`, `http://b.test/health @${t0}`]);
  await clock.advanceSettling(4_999);
  assert.equal(probed.length, 2);
  await clock.advanceSettling(1);
  await clock.advanceSettling(5_000);
  assert.equal(probed.length, 6);
  await prober.stop();
  assert.equal(clock.pending, 0, "no timer left behind");
  await clock.advanceSettling(60_000);
  assert.equal(probed.length, 6);
});

Deno.test("fall failing probes take a backend out, rise passing ones bring it back", async () => {
  const statuses: Record<string, number> = { "http://a.test": 200, "http://b.test": 200 };
  const { clock, pool, prober } = setup((url) => {
    clock.advance(3); // each probe takes 3 ms
    return Promise.resolve(statuses[new URL(url).origin]);
  });
  await prober.runOnce();
  assert.deepEqual(pool[1].probe, {
    ok: true,
    status: 200,
    error: null,
    latencyMs: 3,
    atMs: clock.nowMs,
  });
  statuses["http://b.test"] = 503;
  await prober.runOnce();
  await prober.runOnce();
  assert.equal(pool[1].available(clock.nowMs), true, "two failures, fall is 3");
  await prober.runOnce();
  assert.equal(pool[1].health.state(clock.nowMs), "failed");
  assert.match(
    pool[1].health.cause!.detail,
    /probe GET \/health: status 503 \(expected 200-399\)$/,
  );
  assert.equal(pool[1].probe?.ok, false);
  assert.equal(pool[0].available(clock.nowMs), true);
  statuses["http://b.test"] = 204;
  await prober.runOnce();
  assert.equal(pool[1].available(clock.nowMs), false, "one pass, rise is 2");
  await prober.runOnce();
  assert.equal(pool[1].health.state(clock.nowMs), "healthy");
  await prober.stop();
});

Deno.test("a probe that does not answer within timeoutMs fails, and is aborted", async () => {
  let aborted = 0;
  const { clock, pool, prober } = setup((_url, signal) =>
    new Promise((_resolve, reject) => {
      signal.addEventListener("abort", () => {
        aborted++;
        reject(signal.reason);
      });
    })
  );
  const round = prober.runOnce();
  await clock.advanceSettling(1_000);
  await round;
  assert.equal(aborted, 2);
  assert.deepEqual(pool[0].probe, {
    ok: false,
    status: null,
    error: "no answer within 1s",
    latencyMs: 1_000,
    atMs: clock.nowMs,
  });
  assert.equal(pool[0].health.state(clock.nowMs), "failed", "a first failing probe takes it out");
  await prober.stop();
});

Deno.test("a backend whose probe is still running is skipped, and stop() aborts it without a verdict", async () => {
  let calls = 0;
  const { clock, pool, prober } = setup((url, signal) => {
    calls++;
    if (url.startsWith("http://a.test")) return Promise.resolve(200);
    return new Promise((_resolve, reject) =>
      signal.addEventListener("abort", () => reject(signal.reason))
    );
  }, { timeoutMs: 60_000 });
  prober.start();
  await clock.advanceSettling(0);
  await clock.advanceSettling(5_000);
  assert.equal(calls, 3, "a twice, b once: its first probe is still running");
  await prober.stop();
  assert.equal(pool[1].probe, null, "aborted by stop(): nothing recorded");
  assert.equal(pool[1].health.state(clock.nowMs), "healthy");
  assert.equal(clock.pending, 0);
});

Deno.test("the fetch probe returns the status, reads no body, and reports a refused connection", async () => {
  const server = serve((request) =>
    new URL(request.url).pathname === "/health"
      ? new Response("x".repeat(100_000))
      : new Response("nope", { status: 503 })
  );
  const { probe, close } = fetchProbe();
  try {
    const signal = AbortSignal.timeout(5_000);
    assert.equal(await probe(`${server.url}/health`, signal), 200);
    assert.equal(await probe(`${server.url}/other`, signal), 503);
    await assert.rejects(probe(`http://127.0.0.1:${deadPort()}/health`, signal), TypeError);
  } finally {
    close();
    await server.shutdown();
  }
});

Deno.test("a prober with the default probe checks real servers and closes its client on stop", async () => {
  const up = serve(() => new Response("ok"));
  const clock = new FakeClock();
  const pool = [up.url, `http://127.0.0.1:${deadPort()}`].map((url) =>
    new Backend({ url, weight: 1 }, healthSettings(DEFAULT_OPTIONS))
  );
  const prober = new Prober({
    backends: pool,
    options: ACTIVE,
    clock: clock.now,
    timers: clock,
  });
  try {
    await prober.runOnce();
    assert.equal(pool[0].probe?.status, 200);
    assert.equal(pool[0].health.state(clock.nowMs), "healthy");
    assert.deepEqual([pool[1].probe?.ok, pool[1].probe?.error], [false, "cannot connect"]);
    assert.equal(pool[1].health.state(clock.nowMs), "failed");
  } finally {
    await prober.stop();
    await up.shutdown();
  }
});
