/**
 * The balancer's own overload: the event-loop lag monitor on a fake clock, the rule that
 * turns a per-try timeout during lag into `overload`, and what the balancer then does (no
 * ejection, no retry, a 503 with `Retry-After`). No sleeps, no sockets.
 */
import assert from "node:assert/strict";
import { Metrics } from "../admin/metrics.ts";
import { Balancer } from "../balancer/balancer.ts";
import { FakeClock } from "./_fake_clock.ts";
import { classifyFailure, failureStatus, overloadLagMs } from "../balancer/outcomes.ts";
import { DEFAULT_OPTIONS } from "../balancer/options.ts";
import { LagMonitor } from "../balancer/overload.ts";
import type { Timers } from "../lib/time.ts";
import { RoundRobin } from "../policies/round_robin.ts";
import type { Transport, UpstreamRequest } from "../transports/transport.ts";
import { backends } from "./_helpers.ts";

const INFO = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.9", port: 40000 },
  completed: Promise.resolve(),
} as unknown as Deno.ServeHandlerInfo;

/** Timers that only record what was armed; the test calls `tick` itself. */
class ManualTimers implements Timers {
  armed = 0;
  cleared = 0;
  setTimeout(): number {
    return ++this.armed;
  }
  clearTimeout(): void {
    this.cleared++;
  }
}

function monitor(options: { windowMs?: number; thresholdMs?: number } = {}) {
  const clock = new FakeClock();
  const timers = new ManualTimers();
  const changes: [boolean, number][] = [];
  const lag = new LagMonitor(clock.now, {
    intervalMs: 100,
    windowMs: options.windowMs ?? 5_000,
    thresholdMs: options.thresholdMs ?? 100,
    timers,
    onChange: (overloaded, lagMs) => changes.push([overloaded, lagMs]),
  });
  lag.start();
  /** One tick `lateMs` after it was due. */
  const tick = (lateMs = 0) => {
    clock.advance(100 + lateMs);
    lag.tick();
  };
  return { clock, timers, changes, lag, tick };
}

Deno.test("a loop whose timer fires on time has no lag", () => {
  const { lag, tick } = monitor();
  for (let i = 0; i < 20; i++) tick();
  assert.equal(lag.lagMs(), 0);
  assert.equal(lag.overloaded, false);
});

Deno.test("a late tick is lag, remembered for at least a window and forgotten after two", () => {
  const { lag, tick } = monitor({ windowMs: 1_000 });
  tick(300);
  assert.equal(lag.lagMs(), 300);
  for (let i = 0; i < 10; i++) tick(); // 1 s later: still within the last two windows
  assert.equal(lag.lagMs(), 300);
  for (let i = 0; i < 11; i++) tick(); // past two windows
  assert.equal(lag.lagMs(), 0);
});

Deno.test("a tick that is overdue counts as lag before it runs", () => {
  const { clock, lag } = monitor();
  clock.advance(100 + 700); // stuck: the tick due 700 ms ago has not run
  assert.equal(lag.lagMs(), 700);
});

Deno.test("overload starts at the threshold and ends after a calm window, logged once each", () => {
  const { lag, tick, changes } = monitor({ windowMs: 1_000, thresholdMs: 100 });
  tick(150);
  tick(400);
  tick(120);
  assert.equal(lag.overloaded, true);
  assert.deepEqual(changes, [[true, 150]]);
  for (let i = 0; i < 5; i++) tick(); // half a window of calm: still overloaded
  assert.equal(lag.overloaded, true);
  for (let i = 0; i < 6; i++) tick();
  assert.equal(lag.overloaded, false);
  assert.deepEqual(changes.map(([on]) => on), [true, false]);
  assert.equal(lag.episodes, 1);
});

Deno.test("the monitor keeps one timer and stops it", () => {
  const { lag, tick, timers } = monitor();
  tick();
  tick();
  assert.equal(timers.armed, 3); // start, then one re-arm per tick
  lag.stop();
  assert.equal(timers.cleared, 1);
});

Deno.test("a per-try timeout during lag of the documented fraction is overload, else timeout", () => {
  const signal = new AbortController().signal;
  const error = new DOMException("Signal timed out.", "TimeoutError");
  const timeoutMs = 2_000;
  const limitMs = overloadLagMs(timeoutMs);
  assert.equal(limitMs, 100);
  assert.equal(overloadLagMs(300), 100); // a floor: tens of ms are jitter, not overload
  assert.equal(overloadLagMs(10_000), 500);
  assert.equal(classifyFailure(error, signal, timeoutMs).kind, "timeout");
  assert.equal(classifyFailure(error, signal, timeoutMs, limitMs - 1).kind, "timeout");
  const overload = classifyFailure(error, signal, timeoutMs, limitMs);
  assert.equal(overload.kind, "overload");
  assert.match(overload.detail, /balancer overloaded/);
  assert.equal(failureStatus("overload"), 503);
  // Lag explains timeouts only: a refused connection is the backend's whatever the lag.
  const refused = new TypeError("fetch failed", {
    cause: new Error("client error (Connect): connection refused"),
  });
  assert.equal(classifyFailure(refused, signal, timeoutMs, 5_000).kind, "connect");
});

/** Every try times out; counts them. */
class TimingOut implements Transport {
  sent = 0;
  send(_request: UpstreamRequest): Promise<Response> {
    this.sent++;
    return Promise.reject(new DOMException("Signal timed out.", "TimeoutError"));
  }
  close() {}
}

function balancerWithLag(lagMs: number) {
  const clock = new FakeClock();
  const pool = backends(3);
  const transport = new TimingOut();
  const balancer = new Balancer({
    options: DEFAULT_OPTIONS,
    backends: pool,
    policy: new RoundRobin(),
    transport,
    clock: clock.now,
    lag: { lagMs: () => lagMs },
  });
  const send = () =>
    balancer.handle(new Request("http://lb.test/", { method: "POST", body: "{}" }), INFO);
  return { clock, pool, transport, send };
}

Deno.test("a timeout while the balancer lags answers 503, tries nothing else, ejects nobody", async () => {
  const { clock, pool, transport, send } = balancerWithLag(400);
  const response = await send();
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "1");
  const body = await response.json();
  assert.equal(body.error, "balancer overloaded");
  assert.equal(body.tried.length, 1);
  assert.equal(body.tried[0].outcome, "overload");
  assert.equal(transport.sent, 1);
  for (const backend of pool) {
    assert.equal(backend.available(clock.nowMs), true);
    assert.equal(backend.inFlight, 0);
  }
});

Deno.test("a timeout on a loop that keeps up still ejects the backend and moves on", async () => {
  const { clock, pool, transport, send } = balancerWithLag(5);
  const response = await send();
  assert.equal(response.status, 504);
  await response.body?.cancel();
  assert.equal(transport.sent, 3);
  for (const backend of pool) assert.equal(backend.available(clock.nowMs), false);
});

Deno.test("metrics count overload rejections and show the lag, the state and the episodes", () => {
  const metrics = new Metrics();
  metrics.onRequest({
    startMs: 0,
    method: "POST",
    path: "/",
    status: 503,
    tries: [{ backend: "http://a.test", outcome: "overload", durationMs: 2_000 }],
    durationMs: 2_000,
    requestId: "r-1",
    client: "127.0.0.1",
    bytesIn: null,
    userAgent: null,
  });
  const text = metrics.render([], 0, { lagMs: () => 250, overloaded: true, episodes: 2 });
  assert.match(text, /^roundabout_overload_rejections_total 1$/m);
  assert.match(text, /^roundabout_event_loop_lag_seconds 0\.25$/m);
  assert.match(text, /^roundabout_overloaded 1$/m);
  assert.match(text, /^roundabout_overload_episodes_total 2$/m);
});

/** Backend 0 holds every try until the test times it out; the others answer at once. */
class OneSlow implements Transport {
  readonly held: Array<() => void> = [];
  send(request: UpstreamRequest): Promise<Response> {
    if (request.baseUrl !== "http://a.test") return Promise.resolve(new Response("ok"));
    return new Promise((_, reject) =>
      this.held.push(() => reject(new DOMException("Signal timed out.", "TimeoutError")))
    );
  }
  close() {}
}

Deno.test("a timeout during lag is the backend's when the others answered newer requests and it none", async () => {
  const clock = new FakeClock();
  const pool = backends(3);
  const transport = new OneSlow();
  const balancer = new Balancer({
    options: DEFAULT_OPTIONS,
    backends: pool,
    policy: new RoundRobin(),
    transport,
    clock: clock.now,
    lag: { lagMs: () => 400 },
  });
  const get = () => balancer.handle(new Request("http://lb.test/"), INFO);
  const slow = get(); // round robin: backend 0, the slow one
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(transport.held.length, 1);
  clock.advance(10);
  const fast = await get(); // backend 1 answers a newer request
  assert.equal(fast.status, 200);
  await fast.body?.cancel();
  clock.advance(2_000);
  transport.held[0]();
  const response = await slow;
  // Not 503 "overloaded": a timeout, held against backend 0, and the GET moved on.
  assert.equal(response.status, 200);
  await response.body?.cancel();
  assert.equal(pool[0].available(clock.nowMs), false, "the slow backend is ejected");
  assert.equal(pool[1].available(clock.nowMs), true);
});
