/**
 * The pool across reconfigurations: backends added, kept (the same object, reconfigured)
 * and removed (drained until their tries end) by URL.
 */
import assert from "node:assert/strict";
import { Pool } from "../backends/pool.ts";
import { DEFAULT_OPTIONS, healthSettings } from "../balancer/options.ts";

const SETTINGS = healthSettings(DEFAULT_OPTIONS);
const A = { url: "http://a.test", weight: 1 };
const B = { url: "http://b.test", weight: 1 };
const C = { url: "http://c.test", weight: 1 };

Deno.test("a reconfiguration adds new URLs, keeps known ones as the same objects and drains the rest", () => {
  const pool = new Pool([A, B], SETTINGS);
  const [a, b] = pool.backends;
  b.startTry();
  const change = pool.reconfigure([{ ...A, weight: 3 }, C], SETTINGS, 1_000);
  assert.deepEqual(change, { added: [C.url], removed: [B.url], reweighted: [A.url] });
  assert.equal(pool.backends[0], a, "kept: the same object, with its state");
  assert.equal(a.config.weight, 3, "with the new weight");
  assert.equal(pool.backends[1].url, C.url);
  assert.deepEqual(pool.draining, [b], "removed with a try in flight: draining");
  assert.equal(b.health.state(1_000), "draining");
  assert.equal(b.available(1_000), false, "no new try goes to it");
  b.endTry();
  assert.deepEqual(pool.draining, [], "forgotten once its tries ended");
});

Deno.test("a backend added back while it drains is the same object, in rotation again", () => {
  const pool = new Pool([A, B], SETTINGS);
  const b = pool.backends[1];
  b.startTry();
  pool.reconfigure([A], SETTINGS, 1_000);
  const change = pool.reconfigure([A, B], SETTINGS, 2_000);
  assert.deepEqual(change, { added: [], removed: [], reweighted: [] });
  assert.equal(pool.backends[1], b);
  assert.equal(b.available(2_000), true);
  assert.deepEqual(pool.draining, []);
  b.endTry();
});

Deno.test("a removed backend without tries in flight is not kept at all", () => {
  const pool = new Pool([A, B], SETTINGS);
  const b = pool.backends[1];
  pool.reconfigure([A], SETTINGS, 1_000);
  assert.deepEqual(pool.draining, []);
  const change = pool.reconfigure([A, B], SETTINGS, 2_000);
  assert.deepEqual(change.added, [B.url], "a new object: the old one was forgotten");
  assert.notEqual(pool.backends[1], b);
});

const SLOW = { ...SETTINGS, slowStartMs: 10_000, rise: 2 };
const FROM = "http://api.test:80";
const joinAll = (awaitProbes: boolean) => ({ joins: () => true, awaitProbes });

Deno.test("an address DNS adds to a running pool joins with slow start; the initial set starts at full weight", () => {
  const pool = new Pool([{ ...A, from: FROM }], SLOW);
  assert.equal(pool.backends[0].health.state(0), "healthy");
  assert.equal(pool.backends[0].effectiveWeight(0), 1);
  pool.reconfigure(
    [{ ...A, from: FROM }, { ...B, from: FROM }],
    SLOW,
    1_000,
    "gone",
    joinAll(false),
  );
  const b = pool.backends[1];
  assert.equal(pool.backends[0].health.state(1_000), "healthy", "a kept address is untouched");
  assert.equal(b.health.state(1_000), "recovering");
  assert.equal(b.available(1_000), true);
  assert.equal(b.effectiveWeight(1_000), 0.1);
  assert.ok(Math.abs(b.effectiveWeight(6_000) - 0.55) < 1e-9, "half way through the window");
  assert.equal(b.health.state(11_000), "healthy");
  assert.equal(b.effectiveWeight(11_000), 1);
});

Deno.test("with active health on, an address DNS adds is out until rise probes pass, then slow starts", () => {
  const pool = new Pool([{ ...A, from: FROM }], SLOW);
  pool.reconfigure(
    [{ ...A, from: FROM }, { ...B, from: FROM }],
    SLOW,
    1_000,
    "gone",
    joinAll(true),
  );
  const b = pool.backends[1];
  assert.equal(b.available(1_000), false);
  assert.equal(b.health.state(1_000), "failed");
  assert.match(
    b.health.cause!.detail,
    /new address from DNS http:\/\/api.test:80; out until 2 probes pass/,
  );
  b.health.recordProbe(true, { source: "probe", detail: "status 200", atMs: 2_000 });
  assert.equal(b.available(2_000), false, "one passing probe is not enough");
  b.health.recordProbe(true, { source: "probe", detail: "status 200", atMs: 3_000 });
  assert.equal(b.available(3_000), true);
  assert.equal(b.health.state(3_000), "recovering", "slow start counts from the rise");
  assert.equal(b.effectiveWeight(3_000), 0.1);
  assert.equal(b.health.state(13_000), "healthy");
});

Deno.test("an added address that is not DNS's new one (a reload's) starts in rotation at full weight", () => {
  const pool = new Pool([A], SLOW);
  pool.reconfigure([A, B], SLOW, 1_000, "gone", { joins: () => false, awaitProbes: true });
  assert.equal(pool.backends[1].health.state(1_000), "healthy");
  assert.equal(pool.backends[1].effectiveWeight(1_000), 1);
});

Deno.test("SRV tiers: a higher priority stands by while any lower one is available, and serves when all are out", () => {
  const srv = "srv+http://_api._tcp.test";
  const pool = new Pool([
    { url: "http://t0a.test", weight: 1, from: srv, priority: 10 },
    { url: "http://t0b.test", weight: 1, from: srv, priority: 10 },
    { url: "http://t1.test", weight: 1, from: srv, priority: 20 },
    { url: "http://t2.test", weight: 1, from: srv, priority: 30 },
    { url: "http://other.test", weight: 1, priority: 90 },
  ], SETTINGS);
  const [t0a, t0b, t1, t2, other] = pool.backends;
  const availableAt = (nowMs: number) =>
    pool.backends.filter((b) => b.available(nowMs)).map((b) => b.url);
  assert.deepEqual(
    availableAt(0),
    [t0a.url, t0b.url, other.url],
    "another name's tiers are its own",
  );
  assert.equal(t1.standby(0), true);
  t0a.disable({ source: "admin", detail: "maintenance", atMs: 0 });
  assert.deepEqual(
    availableAt(0),
    [t0b.url, other.url],
    "one lower target left: still standing by",
  );
  t0b.recordFailure("5xx", "status 500", 0, 1, 1);
  assert.deepEqual(availableAt(0), [t1.url, other.url], "the next tier only, not the one after");
  t1.drain({ source: "admin", detail: "drain", atMs: 0 });
  assert.deepEqual(availableAt(0), [t2.url, other.url]);
  const back = SETTINGS.retryDowntimeMs;
  assert.deepEqual(
    availableAt(back),
    [t0b.url, other.url],
    "the ejection over: tier 10 serves again",
  );
});
