/**
 * Nanoseconds per pick of each load-balancing policy, with few and many backends.
 *
 * ```sh
 * deno bench bench/policy_bench.ts
 * ```
 *
 * To measure another policy, add one line to {@linkcode POLICY_FACTORIES}; every policy runs
 * through the same cases.
 *
 * @module
 */

import { healthSettings } from "../balancer/options.ts";
import { Backend } from "../backends/backend.ts";
import type { Policy } from "../policies/policy.ts";
import { createPolicy, POLICY_NAMES } from "../policies/mod.ts";
import { RoundRobin } from "../policies/round_robin.ts";

/**
 * The policies to measure, by name: round robin, then every other registered policy, so a new
 * policy is measured without a change here. Add a line for a variant that is not registered.
 */
const POLICY_FACTORIES: Readonly<Record<string, () => Policy>> = {
  "round-robin": () => new RoundRobin(),
  ...Object.fromEntries(
    POLICY_NAMES.filter((name) => name !== "round-robin").map((name) => [
      name,
      () => createPolicy(name),
    ]),
  ),
};

const NOW_MS = 1_700_000_000_000;
const NOTHING_TRIED: readonly Backend[] = [];

/** `n` healthy backends; the first `ejected` of them are out for the next 10 s. */
function backends(n: number, ejected = 0): Backend[] {
  const list = Array.from(
    { length: n },
    (_, i) =>
      new Backend(
        { url: `http://10.0.${i >> 8}.${i & 255}:8080`, weight: 1 },
        healthSettings({ ejectMs: 10_000 }),
      ),
  );
  for (const backend of list.slice(0, ejected)) {
    backend.health.recordFailure({ source: "request", detail: "status 500", atMs: NOW_MS });
  }
  return list;
}

/** The situations every policy is measured in. */
const CASES: ReadonlyArray<{ name: string; backends: Backend[] }> = [
  { name: "3 backends", backends: backends(3) },
  { name: "1,000 backends", backends: backends(1000) },
  // The worst case for a probing policy: all but the last one are out.
  { name: "1,000 backends, 999 out", backends: backends(1000, 999) },
];

for (const { name: caseName, backends: list } of CASES) {
  for (const [policyName, make] of Object.entries(POLICY_FACTORIES)) {
    const policy = make();
    let sink: Backend | undefined;
    Deno.bench({
      name: `${policyName}: pick, ${caseName}`,
      group: caseName,
      fn() {
        sink = policy.pick(list, NOW_MS, NOTHING_TRIED);
      },
    });
    // Keeps the result observable so the call cannot be optimised away.
    Deno.bench({
      name: `${policyName}: pick then retry once, ${caseName}`,
      group: caseName,
      fn() {
        const first = policy.pick(list, NOW_MS, NOTHING_TRIED);
        sink = first && policy.pick(list, NOW_MS, [first]);
      },
    });
    if (sink === null) console.log(sink);
  }
}
