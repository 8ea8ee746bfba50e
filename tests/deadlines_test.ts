import assert from "node:assert/strict";
import { Deadlines, type TimerHost } from "../transports/deadlines.ts";

/** Timers that fire only when the test advances time. */
class FakeTimers implements TimerHost {
  nowMs = 0;
  armed = 0;
  #next = 1;
  readonly #timers = new Map<number, { at: number; callback: () => void }>();
  now = () => this.nowMs;
  setTimer(callback: () => void, ms: number): number {
    this.armed++;
    const id = this.#next++;
    this.#timers.set(id, { at: this.nowMs + ms, callback });
    return id;
  }
  clearTimer(id: number): void {
    this.#timers.delete(id);
  }
  get pending(): number {
    return this.#timers.size;
  }
  advance(ms: number): void {
    const until = this.nowMs + ms;
    for (;;) {
      const due = [...this.#timers].filter(([, t]) =>
        t.at <= until
      ).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.nowMs = Math.max(this.nowMs, due[1].at);
      due[1].callback();
    }
    this.nowMs = until;
  }
}

Deno.test("a deadline fires once its time has passed, within the slack", () => {
  const timers = new FakeTimers();
  const deadlines = new Deadlines(10, timers);
  const fired: string[] = [];
  deadlines.add(2_000, () => fired.push("a"));
  timers.advance(1_999);
  assert.deepEqual(fired, []);
  timers.advance(10);
  assert.deepEqual(fired, ["a"]);
  assert.equal(timers.pending, 0, "nothing left armed");
});

Deno.test("cleared deadlines never fire and cost no extra timer", () => {
  const timers = new FakeTimers();
  const deadlines = new Deadlines(10, timers);
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
  const timers = new FakeTimers();
  const deadlines = new Deadlines(1, timers);
  const fired: string[] = [];
  deadlines.add(300, () => fired.push("300"));
  deadlines.add(100, () => fired.push("100"));
  timers.advance(50);
  deadlines.add(100, () => fired.push("100b"));
  timers.advance(400);
  assert.deepEqual(fired, ["100", "100b", "300"]);
});

Deno.test("close stops every timer", () => {
  const timers = new FakeTimers();
  const deadlines = new Deadlines(10, timers);
  let fired = false;
  deadlines.add(100, () => (fired = true));
  deadlines.close();
  timers.advance(1_000);
  assert.equal(fired, false);
  assert.equal(timers.pending, 0);
});
