/**
 * The policies by the name used in flags and config files.
 *
 * @module
 */

import type { Policy } from "../policy.ts";
import { RoundRobin } from "./round_robin.ts";

/** Policy constructors by name. */
export const POLICIES: Readonly<Record<string, () => Policy>> = {
  "round-robin": () => new RoundRobin(),
};

/** Names accepted by {@linkcode createPolicy}. */
export const POLICY_NAMES: readonly string[] = Object.keys(POLICIES);

/** A new policy instance by name; throws RangeError for an unknown name. */
export function createPolicy(name: string): Policy {
  const make = POLICIES[name];
  if (!make) {
    throw new RangeError(`unknown policy "${name}": expected one of ${POLICY_NAMES.join(", ")}`);
  }
  return make();
}
