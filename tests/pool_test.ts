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
