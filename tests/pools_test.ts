/**
 * The pools across reconfigurations (`balancer/pools.ts`): a URL in two pools is two
 * backends; a backend that moves keeps its state; only what no pool takes is drained.
 */
import assert from "node:assert/strict";
import { healthSettings } from "../balancer/options.ts";
import { type PoolPlan, Pools } from "../balancer/pools.ts";

const SETTINGS = healthSettings({ ejectMs: 60_000 });
const A = "http://127.0.0.1:8001";
const B = "http://127.0.0.1:8002";
const C = "http://127.0.0.1:8003";

function plan(name: string, ...urls: string[]): PoolPlan {
  return { name, backends: urls.map((url) => ({ url, weight: 1 })), settings: SETTINGS };
}

Deno.test("a URL in two pools is two backends, each labelled with its pool", () => {
  const pools = new Pools([plan("default", A), plan("api", A)]);
  const [inDefault] = pools.get("default").backends;
  const [inApi] = pools.get("api").backends;
  assert.notEqual(inDefault, inApi);
  assert.equal(inDefault.pool, "default");
  assert.equal(inApi.pool, "api");
});

Deno.test("a backend moving to another pool keeps its state; the pool it left does not drain it", () => {
  const pools = new Pools([plan("default", A, B), plan("api", C)]);
  const moving = pools.get("default").backends[1];
  moving.health.recordFailure({ source: "request", detail: "status 500", atMs: 1_000 });
  const changes = pools.reconfigure([plan("default", A), plan("api", C, B)], 2_000, "test");
  assert.equal(pools.get("api").backends[1], moving);
  assert.equal(moving.pool, "api");
  assert.equal(moving.health.state(2_000), "failed", "ejected stays ejected");
  assert.deepEqual(pools.draining, []);
  assert.deepEqual(changes.get("default")!.removed, []);
  assert.deepEqual(changes.get("api")!.added, [B]);
});

Deno.test("a URL kept in its own pool stays there, even when another pool gains it too", () => {
  const pools = new Pools([plan("default", A), plan("api", B)]);
  const kept = pools.get("default").backends[0];
  pools.reconfigure([plan("default", A), plan("api", B, A)], 1_000, "test");
  assert.equal(pools.get("default").backends[0], kept);
  assert.notEqual(pools.get("api").backends[1], kept, "the api pool gets a backend of its own");
});

Deno.test("a removed pool's backends drain unless another pool takes them", () => {
  const pools = new Pools([plan("default", A), plan("api", B, C)]);
  const [b, c] = pools.get("api").backends;
  c.startTry();
  b.startTry();
  pools.reconfigure([plan("default", A, B)], 1_000, "test");
  assert.equal(pools.get("default").backends[1], b, "B moved to the default pool");
  assert.deepEqual(pools.draining, [c], "C is drained while its try is in flight");
  assert.equal(c.health.state(1_000), "draining");
  assert.throws(() => pools.get("api"), /Cannot find pool "api"/);
  c.endTry();
  b.endTry();
  assert.deepEqual(pools.draining, []);
});
