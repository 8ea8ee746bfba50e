/**
 * What each policy does beyond the shared conformance suite: the interleaving of smooth
 * weighted round robin, least-request's and peak-ewma's preferences, and the panic choice.
 */
import assert from "node:assert/strict";
import { Backend } from "../backends/backend.ts";
import { healthSettings } from "../balancer/options.ts";
import { DEFAULT_OPTIONS } from "../balancer/options.ts";
import { LeastRequest } from "../policies/least_request.ts";
import { PeakEwma } from "../policies/peak_ewma.ts";
import { RoundRobin } from "../policies/round_robin.ts";
import { WeightedRoundRobin } from "../policies/weighted_round_robin.ts";
import { leastRecentlyFailed } from "../policies/policy.ts";
import { seededRandom } from "../lib/random.ts";
import { backends } from "./_helpers.ts";

const NOW = 1_700_000_000_000;

function names(list: (Backend | undefined)[]): string {
  return list.map((b) => (b ? new URL(b.url).hostname[0] : "-")).join(" ");
}

Deno.test("weighted round robin interleaves 5:1:1 as nginx does", () => {
  const pool = backends(3, 10_000, [5, 1, 1]);
  const policy = new WeightedRoundRobin();
  const picks = Array.from({ length: 14 }, () => policy.pick(pool, NOW, []));
  assert.equal(names(picks), "a a b a c a a a a b a c a a");
});

Deno.test("round robin with equal weights never draws a random number", () => {
  const pool = backends(3);
  const policy = new RoundRobin(() => {
    throw new Error("no randomness expected");
  });
  const picks = Array.from({ length: 4 }, () => policy.pick(pool, NOW, []));
  assert.equal(names(picks), "a b c a");
});

Deno.test("least request sends to the backend with fewer requests in flight for its weight", () => {
  const pool = backends(2, 10_000, [1, 2]);
  const policy = new LeastRequest(seededRandom(3));
  pool[0].inFlight = 2;
  pool[1].inFlight = 3;
  for (let i = 0; i < 20; i++) assert.equal(policy.pick(pool, NOW, []), pool[1], "3/2 < 2/1");
  pool[1].inFlight = 5;
  for (let i = 0; i < 20; i++) assert.equal(policy.pick(pool, NOW, []), pool[0], "2/1 < 5/2");
});

Deno.test("peak EWMA prefers the backend that answers faster, unless it is much busier", () => {
  const pool = backends(2);
  const policy = new PeakEwma(seededRandom(5));
  pool[0].recordSuccess(NOW, 100);
  pool[1].recordSuccess(NOW, 10);
  for (let i = 0; i < 20; i++) assert.equal(policy.pick(pool, NOW, []), pool[1]);
  pool[1].inFlight = 10; // 10 × 11 = 110 > 100 × 1
  for (let i = 0; i < 20; i++) assert.equal(policy.pick(pool, NOW, []), pool[0]);
});

Deno.test("peak EWMA does not mistake a backend that fails fast for a fast one", () => {
  const settings = healthSettings({
    ...DEFAULT_OPTIONS,
    passive: { ...DEFAULT_OPTIONS.passive, failuresToEject: 3 },
  });
  const pool = ["http://a.test", "http://b.test"].map((url) =>
    new Backend({ url, weight: 1 }, settings)
  );
  const policy = new PeakEwma(seededRandom(9));
  pool[0].recordSuccess(NOW, 50);
  // Refused within 1 ms, but costed at the per-try timeout; not ejected yet (1 of 3).
  assert.equal(pool[1].recordFailure("connect", "connection refused", NOW, 1, 2_000), false);
  assert.equal(pool[1].available(NOW), true);
  for (let i = 0; i < 20; i++) assert.equal(policy.pick(pool, NOW, []), pool[0]);
});

Deno.test("peak EWMA treats a backend with no sample yet as neutral, not as the fastest", () => {
  const pool = backends(3);
  const policy = new PeakEwma(seededRandom(11));
  pool[0].recordSuccess(NOW, 40);
  pool[1].recordSuccess(NOW, 40);
  pool[0].inFlight = 1;
  pool[1].inFlight = 1;
  // c is unknown: costed with its rival's 40 ms, so it wins on its in-flight count alone,
  // and loses once it is busier.
  for (let i = 0; i < 20; i++) {
    const chosen = policy.pick(pool, NOW, []);
    assert.ok(chosen === pool[2] || chosen?.inFlight === 1);
  }
  pool[2].inFlight = 3;
  for (let i = 0; i < 20; i++) assert.notEqual(policy.pick(pool, NOW, []), pool[2]);
});

Deno.test("the panic choice is the backend whose failure is oldest, never one held by an operator", () => {
  const pool = backends(4);
  pool[0].health.recordFailure({ source: "request", detail: "status 500", atMs: NOW + 3 });
  pool[1].health.recordFailure({ source: "request", detail: "status 500", atMs: NOW + 2 });
  pool[2].health.recordFailure({ source: "request", detail: "status 500", atMs: NOW + 1 });
  pool[3].health.recordFailure({ source: "request", detail: "status 500", atMs: NOW });
  pool[3].health.disable({ source: "admin", detail: "x", atMs: NOW + 4 });
  assert.equal(leastRecentlyFailed(pool, []), pool[2]);
  assert.equal(leastRecentlyFailed(pool, [pool[2]]), pool[1]);
  assert.equal(leastRecentlyFailed(pool, pool.slice(0, 3)), undefined);
});
