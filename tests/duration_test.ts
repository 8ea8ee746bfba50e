import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "../lib/duration.ts";

Deno.test("durations read milliseconds, seconds, minutes and bare numbers", () => {
  const cases: [string, number][] = [
    ["250ms", 250],
    ["2s", 2_000],
    ["1.5s", 1_500],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["0", 0],
    ["750", 750],
    [" 3s ", 3_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

Deno.test("durations reject negatives, units they do not know and absurd sizes", () => {
  for (const text of ["-1s", "2 s", "2sec", "", "s", "1e3", "NaN", "Infinity", "25h", "1.2.3s"]) {
    assert.equal(parseDuration(text), undefined, text);
  }
});

Deno.test("formatted durations read back to the same value", () => {
  for (const ms of [0, 1, 250, 1_000, 2_500, 60_000, 90_000]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
});
