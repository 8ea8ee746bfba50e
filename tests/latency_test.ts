/**
 * The response-time figures: the peak-sensitive moving average that latency-aware policies
 * read, and the percentiles of recent samples shown in the status document.
 */
import assert from "node:assert/strict";
import { DECAY_MS, Latency, RING_SIZE } from "../backends/latency.ts";

const T = 1_700_000_000_000;

Deno.test("the moving average jumps to a slower sample at once", () => {
  const latency = new Latency();
  assert.equal(latency.known, false);
  latency.record(T, 10, 10);
  assert.equal(latency.known, true);
  assert.equal(latency.ewma(T), 10);
  latency.record(T + 1, 300, 300);
  assert.equal(latency.ewma(T + 1), 300);
});

Deno.test("faster samples pull the average down by how much time passed", () => {
  const latency = new Latency();
  latency.record(T, 100);
  latency.record(T + DECAY_MS, 10);
  // weight of the old value e^-1 ≈ 0.368: 100 × 0.368 + 10 × 0.632 ≈ 43.1
  assert.ok(
    Math.abs(latency.ewma(T + DECAY_MS) - (100 * Math.exp(-1) + 10 * (1 - Math.exp(-1)))) < 1e-9,
  );
  latency.record(T + DECAY_MS, 10);
  assert.ok(latency.ewma(T + DECAY_MS) > 40, "a sample in the same millisecond moves nothing");
});

Deno.test("unused, the average decays towards zero so a once-slow backend is tried again", () => {
  const latency = new Latency();
  latency.record(T, 200);
  assert.ok(Math.abs(latency.ewma(T + DECAY_MS) - 200 / Math.E) < 1e-9);
  assert.ok(latency.ewma(T + 10 * DECAY_MS) < 0.01);
});

Deno.test("percentiles come from the recent samples, by nearest rank", () => {
  const latency = new Latency();
  assert.deepEqual(latency.summary(T), { ewma: null, p50: null, p90: null, p99: null, samples: 0 });
  for (let ms = 100; ms >= 1; ms--) latency.record(T, ms, ms);
  const summary = latency.summary(T);
  assert.deepEqual([summary.p50, summary.p90, summary.p99, summary.samples], [50, 90, 99, 100]);
  for (let i = 0; i < RING_SIZE; i++) latency.record(T, 7, 7);
  const recent = latency.summary(T);
  assert.deepEqual(
    [recent.p50, recent.p99, recent.samples],
    [7, 7, RING_SIZE],
    "old ones roll off",
  );
});

Deno.test("a penalty moves the average without entering the percentiles", () => {
  const latency = new Latency();
  latency.record(T, 5, 5);
  latency.record(T, 2_000);
  assert.equal(latency.ewma(T), 2_000);
  assert.equal(latency.summary(T).p99, 5);
});
