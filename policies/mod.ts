/**
 * The policies by the name used in flags and config files.
 *
 * @module
 */

import type { Policy, PolicyDeps } from "./policy.ts";
import { LeastRequest } from "./least_request.ts";
import { PeakEwma } from "./peak_ewma.ts";
import { RoundRobin } from "./round_robin.ts";
import { WeightedRoundRobin } from "./weighted_round_robin.ts";

/** Policy constructors by name. */
export const POLICIES: Readonly<Record<string, (deps: PolicyDeps) => Policy>> = {
  "round-robin": (deps) => new RoundRobin(deps.random, deps.start),
  "weighted-round-robin": () => new WeightedRoundRobin(),
  "least-request": (deps) => new LeastRequest(deps.random),
  "peak-ewma": (deps) => new PeakEwma(deps.random),
};

/** Names accepted by {@linkcode createPolicy}. */
export const POLICY_NAMES: readonly string[] = Object.keys(POLICIES);

/** A new policy instance by name; throws RangeError for an unknown name. */
export function createPolicy(name: string, deps: PolicyDeps = {}): Policy {
  const make = Object.hasOwn(POLICIES, name) ? POLICIES[name] : undefined;
  if (!make) {
    throw new RangeError(`unknown policy "${name}": expected one of ${POLICY_NAMES.join(", ")}`);
  }
  return make(deps);
}
