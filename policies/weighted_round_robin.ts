/**
 * Smooth weighted round robin, as nginx does it: on every pick each eligible backend's
 * `current` grows by its effective weight, the largest is chosen and loses the sum of the
 * weights. Weights 5:1:1 give `a a b a c a a` rather than `a a a a a b c`. Slow start lowers
 * the effective weight, so a recovering backend's share grows with it.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { eligible, type Policy } from "./policy.ts";

/** Spreads picks in proportion to weight, interleaved. */
export class WeightedRoundRobin implements Policy {
  readonly name = "weighted-round-robin";
  #current = new Float64Array(0);
  #currentOf: readonly Backend[] | undefined;

  pick(
    backends: readonly Backend[],
    nowMs: number,
    tried: readonly Backend[],
  ): Backend | undefined {
    const n = backends.length;
    if (backends !== this.#currentOf || this.#current.length !== n) {
      // A new list of backends (a reload): start the interleaving afresh.
      this.#currentOf = backends;
      this.#current = new Float64Array(n);
    }
    const current = this.#current;
    let best = -1;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const backend = backends[i];
      if (!eligible(backend, nowMs, tried)) continue;
      const weight = backend.effectiveWeight(nowMs);
      current[i] += weight;
      total += weight;
      if (best === -1 || current[i] > current[best]) best = i;
    }
    if (best === -1) return undefined;
    current[best] -= total;
    return backends[best];
  }

  explain(chosen: Backend, nowMs: number): string {
    return `largest current weight (weight ${round(chosen.effectiveWeight(nowMs))})`;
  }
}

/** A weight as shown: whole, or with one decimal during slow start. */
function round(weight: number): number {
  return Math.round(weight * 10) / 10;
}
