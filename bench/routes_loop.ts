/**
 * Route matching in a tight loop, for figures steadier than `deno bench` gives for a
 * sub-microsecond function on a shared machine: for 1, 10 and 1,000 routes (as in
 * `routes_bench.ts`), rounds of 200,000 matches per request kind, interleaved, and the
 * median nanoseconds per match of 7 rounds.
 *
 * ```sh
 * deno run bench/routes_loop.ts
 * ```
 *
 * @module
 */

import { compileRoutes } from "../balancer/routes.ts";
import { REQUESTS, routes } from "./routes_bench.ts";

const COUNTS = [1, 10, 1_000];
const ROUNDS = 7;
const MATCHES = 200_000;

const matchers = COUNTS.map((n) => compileRoutes(routes(n)));
const samples = new Map<string, number[]>();
let sink = 0;
for (let round = 0; round < ROUNDS; round++) {
  for (const [kind, request] of Object.entries(REQUESTS)) {
    matchers.forEach((matcher, i) => {
      const started = performance.now();
      for (let m = 0; m < MATCHES; m++) sink += matcher.match(request);
      const ns = (performance.now() - started) * 1e6 / MATCHES;
      const key = `${kind}\t${COUNTS[i]}`;
      samples.set(key, [...(samples.get(key) ?? []), ns]);
    });
  }
}
console.log("request\troutes\tns/match (median of 7 rounds)");
for (const [key, values] of samples) {
  const sorted = [...values].sort((a, b) => a - b);
  console.log(`${key}\t${sorted[ROUNDS >> 1].toFixed(0)}`);
}
if (sink === 0.5) console.log(sink); // keeps the loop from being optimised away
