/**
 * Health monitoring and response-time-aware balancing end to end: real apps and a real
 * balancer on port 0. Ejection, back-off and slow start run on a fake clock and probe
 * rounds are triggered by the test; only the latency test uses real time (a few seconds).
 */
import assert from "node:assert/strict";
import type { BackendConfig } from "../backends/backend.ts";
import type { Clock } from "../lib/time.ts";
import { FakeClock } from "./_fake_clock.ts";
import { type BalancerOptions, DEFAULT_OPTIONS } from "../balancer/options.ts";
import { seededRandom } from "../lib/random.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { statusSnapshot } from "../admin/status.ts";
import { startMock } from "../mocks/mod.ts";
import { deadPort, eventually, serve, type TestServer } from "./_helpers.ts";

/** An app whose answers the test changes as it goes; `arrivals` leaves out probes. */
interface App extends TestServer {
  /** Status of `GET /health`. */
  health: number;
  /** Status of every other request. */
  status: number;
  arrivals: number;
}

function app(): App {
  const state = { health: 200, status: 200, arrivals: 0 };
  const server = serve((request) => {
    if (new URL(request.url).pathname === "/health") {
      return new Response(null, { status: state.health });
    }
    state.arrivals++;
    return new Response(state.status < 500 ? "ok" : "App failure", { status: state.status });
  });
  return Object.assign(state, server);
}

interface Options {
  policy?: string;
  retryDowntimeMs?: number;
  slowStartMs?: number;
  panic?: BalancerOptions["panic"];
  passive?: Partial<BalancerOptions["passive"]>;
  active?: Partial<BalancerOptions["active"]>;
}

/** Starts a balancer in front of `urls`; `clock` defaults to a fake one. */
function balance(urls: string[], options: Options = {}, clock: Clock = new FakeClock().now) {
  const backends: BackendConfig[] = urls.map((url) => ({ url, weight: 1 }));
  const fake = new FakeClock();
  return startBalancer({
    port: 0,
    backends,
    clock,
    scheduler: fake,
    random: seededRandom(42),
    options: {
      policy: options.policy ?? "round-robin",
      retryDowntimeMs: options.retryDowntimeMs ?? 10_000,
      slowStartMs: options.slowStartMs ?? 0,
      panic: options.panic ?? "fail-fast",
      passive: { ...DEFAULT_OPTIONS.passive, ...options.passive },
      active: { ...DEFAULT_OPTIONS.active, ...options.active },
    },
  });
}

/** Sends `GET /` and returns the status and the backend that answered. */
async function get(balancer: RunningBalancer): Promise<[number, string | null]> {
  const response = await fetch(balancer.url);
  await response.body?.cancel();
  return [response.status, response.headers.get("x-app-url")];
}

async function shutdown(balancer: RunningBalancer | undefined, apps: TestServer[]) {
  await balancer?.shutdown();
  await Promise.all(apps.map((a) => a.shutdown()));
}

Deno.test("an app whose health probe fails is out before any request reaches it, and back only after rise passes", async () => {
  const apps = [app(), app(), app()];
  const clock = new FakeClock();
  let balancer: RunningBalancer | undefined;
  try {
    apps[1].health = 503;
    balancer = balance(apps.map((a) => a.url), { active: { path: "/health", rise: 2 } }, clock.now);
    await balancer.prober!.runOnce();
    for (let i = 0; i < 6; i++) assert.equal((await get(balancer))[0], 200);
    assert.equal(apps[1].arrivals, 0, "no client request reached the app failing its probe");
    const [status] = statusSnapshot(balancer.balancer, clock.nowMs).backends.slice(1);
    assert.equal(status.state, "failed");
    assert.equal(status.cause?.source, "probe");
    assert.equal(status.probe?.status, 503);

    apps[1].health = 200;
    await balancer.prober!.runOnce();
    for (let i = 0; i < 6; i++) await get(balancer);
    assert.equal(apps[1].arrivals, 0, "one passing probe is not enough with rise 2");
    await balancer.prober!.runOnce();
    for (let i = 0; i < 6; i++) await get(balancer);
    assert.equal(apps[1].arrivals, 2, "back in rotation after the second passing probe");
  } finally {
    await shutdown(balancer, apps);
  }
});

Deno.test("a flapping app is not ejected by a single failure when failuresToEject is 2", async () => {
  const flapping = await startMock("alternating");
  const apps = [app(), app()];
  let balancer: RunningBalancer | undefined;
  try {
    balancer = balance([apps[0].url, flapping.url, apps[1].url], {
      passive: { failuresToEject: 2 },
    });
    for (let i = 0; i < 12; i++) assert.equal((await get(balancer))[0], 200);
    const backend = balancer.balancer.backends[1];
    assert.ok(backend.failures >= 2, "it failed, but never twice in a row");
    assert.ok(flapping.arrivals >= 4, `it kept its share: ${flapping.arrivals} requests`);
    assert.equal(backend.health.ejections, 0);
    assert.equal(backend.health.state(Date.now()), "healthy");
  } finally {
    await shutdown(balancer, apps);
    await flapping.close();
  }
});

Deno.test("with exponential back-off an app that keeps failing is ejected for longer each time, up to the cap", async () => {
  const apps = [app(), app()];
  apps[1].status = 500;
  const clock = new FakeClock();
  let balancer: RunningBalancer | undefined;
  try {
    balancer = balance(apps.map((a) => a.url), {
      passive: { backoff: "exponential", maxEjectionMs: 40_000 },
    }, clock.now);
    const failing = balancer.balancer.backends[1];
    const lengths: number[] = [];
    for (let round = 0; round < 5; round++) {
      const before = apps[1].arrivals;
      while (apps[1].arrivals === before) assert.equal((await get(balancer))[0], 200);
      lengths.push(failing.health.ejectedUntilMs - clock.nowMs);
      // While ejected it gets nothing; once the time is over it is tried again.
      for (let i = 0; i < 4; i++) await get(balancer);
      assert.equal(apps[1].arrivals, before + 1);
      clock.nowMs = failing.health.ejectedUntilMs;
    }
    assert.deepEqual(lengths, [10_000, 20_000, 40_000, 40_000, 40_000]);
    const history = statusSnapshot(balancer.balancer, clock.nowMs).backends[1].history;
    assert.deepEqual(history.slice(0, 2).map((t) => `${t.from}>${t.to}: ${t.detail}`), [
      "healthy>failed: status 500",
      "failed>healthy: ejection time over",
    ]);
  } finally {
    await shutdown(balancer, apps);
  }
});

Deno.test("slow start: a recovered app's share of requests grows gradually over the window", async () => {
  const apps = [app(), app(), app()];
  const clock = new FakeClock();
  let balancer: RunningBalancer | undefined;
  try {
    balancer = balance(apps.map((a) => a.url), { slowStartMs: 30_000 }, clock.now);
    apps[1].status = 500;
    while (apps[1].arrivals === 0) await get(balancer);
    apps[1].status = 200;
    const back = balancer.balancer.backends[1].health.ejectedUntilMs;
    const shares: number[] = [];
    for (const sinceMs of [0, 10_000, 20_000, 30_000]) {
      clock.nowMs = back + sinceMs;
      const before = apps[1].arrivals;
      for (let i = 0; i < 150; i++) assert.equal((await get(balancer))[0], 200);
      shares.push((apps[1].arrivals - before) / 150);
    }
    // Expected weight factors 0.1, 0.4, 0.7, 1: shares 5 %, 17 %, 26 %, 33 %.
    assert.ok(shares[0] > 0 && shares[0] < 0.12, `shares ${shares}`);
    assert.ok(shares[0] < shares[1] && shares[1] < shares[2] && shares[2] < shares[3], `${shares}`);
    assert.ok(Math.abs(shares[3] - 1 / 3) < 0.02, `full share at the end: ${shares}`);
  } finally {
    await shutdown(balancer, apps);
  }
});

/** Sends `total` GETs, `concurrency` at a time, and returns each app's share of them. */
async function shares(balancer: RunningBalancer, total: number, concurrency: number) {
  const counts: Record<string, number> = {};
  let sent = 0;
  const worker = async () => {
    while (sent < total) {
      sent++;
      const [status, url] = await get(balancer);
      assert.equal(status, 200);
      counts[url!] = (counts[url!] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  for (const url in counts) counts[url] /= total;
  return counts;
}

Deno.test("peak-ewma sends a slow app under 10% of requests where round robin sends it a third", async () => {
  const slow = await startMock("delayed", { delayMs: 200 });
  const fast = [await startMock("normal"), await startMock("normal")];
  const urls = [fast[0].url, slow.url, fast[1].url];
  const measured: Record<string, number> = {};
  try {
    for (const policy of ["round-robin", "least-request", "peak-ewma"]) {
      const balancer = balance(urls, { policy }, Date.now);
      try {
        const started = performance.now();
        const share = (await shares(balancer, 300, 10))[slow.url] ?? 0;
        measured[policy] = share;
        console.log(
          `${policy}: slow app got ${(share * 100).toFixed(1)}% of 300 requests ` +
            `(10 at a time) in ${Math.round(performance.now() - started)} ms`,
        );
      } finally {
        await balancer.shutdown();
      }
    }
  } finally {
    await slow.close();
    await Promise.all(fast.map((f) => f.close()));
  }
  assert.ok(Math.abs(measured["round-robin"] - 1 / 3) < 0.03, `round robin ${measured}`);
  assert.ok(measured["peak-ewma"] < 0.1, `peak-ewma ${measured["peak-ewma"]}`);
  assert.ok(measured["least-request"] < measured["round-robin"]);
});

Deno.test("all ejected, fail-fast: an immediate 503 with Retry-After, nothing sent", async () => {
  const apps = [app(), app()];
  for (const a of apps) a.status = 500;
  const clock = new FakeClock();
  let balancer: RunningBalancer | undefined;
  try {
    balancer = balance(apps.map((a) => a.url), { panic: "fail-fast" }, clock.now);
    assert.equal((await get(balancer))[0], 500);
    clock.advance(4_000);
    const response = await fetch(balancer.url);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("retry-after"), "6");
    await response.body?.cancel();
    assert.deepEqual(apps.map((a) => a.arrivals), [1, 1]);
  } finally {
    await shutdown(balancer, apps);
  }
});

Deno.test("every backend disabled by an operator: 503 says so, with no Retry-After promise", async () => {
  const apps = [app(), app()];
  const clock = new FakeClock();
  let balancer: RunningBalancer | undefined;
  try {
    balancer = balance(apps.map((a) => a.url), { panic: "fail-fast" }, clock.now);
    for (const backend of balancer.balancer.backends) {
      backend.health.disable({ source: "admin", detail: "maintenance", atMs: clock.nowMs });
    }
    const response = await fetch(balancer.url);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("retry-after"), null);
    const body = await response.json();
    assert.match(body.error, /disabled or draining by an operator/);
    assert.doesNotMatch(body.error, /marked failed/);
    assert.deepEqual(apps.map((a) => a.arrivals), [0, 0]);
  } finally {
    await shutdown(balancer, apps);
  }
});

Deno.test("all ejected, least-recently-failed: the app whose failure is oldest gets the request", async () => {
  const apps = [app(), app(), app()];
  const clock = new FakeClock();
  let balancer: RunningBalancer | undefined;
  try {
    balancer = balance(apps.map((a) => a.url), { panic: "least-recently-failed" }, clock.now);
    const [first, second, third] = balancer.balancer.backends;
    // They fail one after the other, then all recover; the oldest failure is the first's,
    // but an operator disabled it.
    for (const [i, a] of apps.entries()) {
      a.status = 500;
      while (balancer.balancer.backends[i].available(clock.nowMs)) await get(balancer);
      a.status = 200;
      clock.advance(1_000);
    }
    first.health.disable({ source: "admin", detail: "maintenance", atMs: clock.nowMs });
    assert.ok([first, second, third].every((b) => !b.available(clock.nowMs)));
    assert.deepEqual(await get(balancer), [200, apps[1].url]);
    assert.deepEqual(
      await get(balancer),
      [200, apps[1].url],
      "a success does not end its ejection",
    );
    // Failing as a last resort makes it the most recent failure; the next oldest is tried.
    apps[1].status = 500;
    assert.deepEqual(await get(balancer), [200, apps[2].url], "it moved on to the next oldest");
    assert.deepEqual(await get(balancer), [200, apps[2].url]);
    const before = apps[0].arrivals;
    apps[2].status = 500;
    const [status] = await get(balancer);
    assert.equal(status, 500, "both others failed; the disabled app is no resort");
    assert.equal(apps[0].arrivals, before, "the disabled app never got a request");
  } finally {
    await shutdown(balancer, apps);
  }
});

Deno.test("all ejected, least-recently-failed with every app down: each is tried once, then 502", async () => {
  const urls = [deadPort(), deadPort(), deadPort()].map((port) => `http://127.0.0.1:${port}`);
  const balancer = balance(urls, { panic: "least-recently-failed" });
  try {
    for (let i = 0; i < 3; i++) {
      const response = await fetch(balancer.url);
      assert.equal(response.status, 502);
      assert.equal((await response.json()).tried.length, 3);
    }
  } finally {
    await balancer.shutdown();
  }
});

Deno.test("a retried request never goes to an app it already tried, whatever the policy", async () => {
  for (const policy of ["round-robin", "weighted-round-robin", "least-request", "peak-ewma"]) {
    const apps = [app(), app(), app(), app()];
    for (const a of apps) a.status = 502;
    const balancer = balance(apps.map((a) => a.url), {
      policy,
      passive: { failuresToEject: 1_000 },
    });
    try {
      for (let i = 0; i < 5; i++) {
        const response = await fetch(balancer.url);
        assert.equal(response.status, 502);
        await response.body?.cancel();
        assert.deepEqual(apps.map((a) => a.arrivals), [i + 1, i + 1, i + 1, i + 1], policy);
      }
    } finally {
      await shutdown(balancer, apps);
    }
  }
});

Deno.test("a request counts as in flight until its response body has been sent", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const backend = serve(() =>
    new Response(
      new ReadableStream({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode("first "));
          await held;
          controller.enqueue(new TextEncoder().encode("last"));
          controller.close();
        },
      }),
    )
  );
  const balancer = balance([backend.url], {}, Date.now);
  const [state] = balancer.balancer.backends;
  try {
    const response = await fetch(balancer.url);
    const reader = response.body!.getReader();
    await reader.read();
    assert.equal(state.inFlight, 1, "headers and a first chunk arrived, the body goes on");
    release();
    while (!(await reader.read()).done) { /* read to the end */ }
    await eventually(() => state.inFlight === 0, "the request to leave flight once read");

    const cancelled = await fetch(balancer.url);
    await cancelled.body!.cancel();
    await eventually(() => state.inFlight === 0, "the request to leave flight once cancelled");
  } finally {
    await balancer.shutdown();
    await backend.shutdown();
  }
});
