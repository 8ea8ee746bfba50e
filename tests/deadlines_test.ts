import assert from "node:assert/strict";
import { Deadlines } from "../transports/deadlines.ts";
import { FakeClock } from "./_fake_clock.ts";

Deno.test("a deadline fires once its time has passed, within the slack", () => {
  const timers = new FakeClock(0);
  const deadlines = new Deadlines(10, timers, timers.now);
  const fired: string[] = [];
  deadlines.add(2_000, () => fired.push("a"));
  timers.advance(1_999);
  assert.deepEqual(fired, []);
  timers.advance(10);
  assert.deepEqual(fired, ["a"]);
  assert.equal(timers.pending, 0, "nothing left armed");
});

Deno.test("cleared deadlines never fire and cost no extra timer", () => {
  const timers = new FakeClock(0);
  const deadlines = new Deadlines(10, timers, timers.now);
  const fired: number[] = [];
  for (let i = 0; i < 1_000; i++) {
    const deadline = deadlines.add(2_000, () => fired.push(i));
    if (i !== 500) deadline.clear();
    timers.advance(1);
  }
  assert.equal(timers.armed, 1, "one timer for the whole lane");
  timers.advance(3_000);
  assert.deepEqual(fired, [500]);
  assert.ok(timers.armed <= 3, `re-armed ${timers.armed} times`);
  assert.equal(timers.pending, 0);
});

Deno.test("deadlines of different durations keep their own order", () => {
  const timers = new FakeClock(0);
  const deadlines = new Deadlines(1, timers, timers.now);
  const fired: string[] = [];
  deadlines.add(300, () => fired.push("300"));
  deadlines.add(100, () => fired.push("100"));
  timers.advance(50);
  deadlines.add(100, () => fired.push("100b"));
  timers.advance(400);
  assert.deepEqual(fired, ["100", "100b", "300"]);
});

Deno.test("close stops every timer", () => {
  const timers = new FakeClock(0);
  const deadlines = new Deadlines(10, timers, timers.now);
  let fired = false;
  deadlines.add(100, () => (fired = true));
  deadlines.close();
  timers.advance(1_000);
  assert.equal(fired, false);
  assert.equal(timers.pending, 0);
});
