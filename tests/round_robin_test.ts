import assert from "node:assert/strict";
import { RoundRobin } from "../policies/round_robin.ts";
import { FakeClock } from "./_fake_clock.ts";
import { backends } from "./_helpers.ts";

const NOW = 1_000_000;

Deno.test("round robin picks backends in cyclic order", () => {
  const pool = backends(3);
  const policy = new RoundRobin();
  const picked = Array.from({ length: 7 }, () => policy.pick(pool, NOW, [])?.url);
  assert.deepEqual(picked, [
    "http://a.test",
    "http://b.test",
    "http://c.test",
    "http://a.test",
    "http://b.test",
    "http://c.test",
    "http://a.test",
  ]);
});

Deno.test("round robin skips a failed backend until its downtime has passed", () => {
  const clock = new FakeClock();
  const pool = backends(3, 10_000);
  const policy = new RoundRobin();
  pool[1].health.recordFailure({ source: "request", detail: "status 500", atMs: clock.now() });
  const during = Array.from({ length: 4 }, () => policy.pick(pool, clock.now(), [])?.url);
  assert.deepEqual(during, ["http://a.test", "http://c.test", "http://a.test", "http://c.test"]);
  clock.advance(9_999);
  assert.equal(policy.pick(pool, clock.now(), [])?.url, "http://a.test");
  clock.advance(1);
  assert.equal(policy.pick(pool, clock.now(), [])?.url, "http://b.test");
});

Deno.test("round robin returns nothing when every backend is out, without spinning", () => {
  const pool = backends(3);
  for (const backend of pool) {
    backend.health.recordFailure({ source: "request", detail: "refused", atMs: NOW });
  }
  assert.equal(new RoundRobin().pick(pool, NOW, []), undefined);
  assert.equal(new RoundRobin().pick([], NOW, []), undefined);
});

Deno.test("round robin never picks a backend this request already tried", () => {
  const pool = backends(3);
  const policy = new RoundRobin();
  assert.equal(policy.pick(pool, NOW, [pool[0]])?.url, "http://b.test");
  assert.equal(policy.pick(pool, NOW, [pool[0], pool[2]])?.url, "http://b.test");
  assert.equal(policy.pick(pool, NOW, pool), undefined);
});

Deno.test("round robin can start at an offset, so that workers' first picks spread", () => {
  const list = backends(3);
  const policy = new RoundRobin(Math.random, 1);
  const picks = Array.from({ length: 4 }, () => policy.pick(list, 0, [])!.url);
  assert.deepEqual(picks, [list[1].url, list[2].url, list[0].url, list[1].url]);
});
