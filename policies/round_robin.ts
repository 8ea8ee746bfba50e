/**
 * Round robin: backends in cyclic order, skipping those that are unavailable or already
 * tried. One counter and at most n probes per pick.
 *
 * Weights and slow start are honoured by probabilistic skipping: the backend the counter
 * reaches is taken with probability `effectiveWeight / highest configured weight`, else the
 * counter moves on. As the counter visits every backend equally often, each is taken in
 * proportion to its effective weight. With equal weights and no slow start (the defaults)
 * every probability is 1, no random number is drawn, and the order is exactly cyclic, as in
 * the original balancer.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { eligible, MaxWeight, type Policy, type Random } from "./policy.ts";

/** The original balancer's policy, and the default. */
export class RoundRobin implements Policy {
  readonly name = "round-robin";
  #next: number;
  readonly #maxWeight = new MaxWeight();

  constructor(readonly random: Random = Math.random, start = 0) {
    this.#next = start;
  }

  pick(
    backends: readonly Backend[],
    nowMs: number,
    tried: readonly Backend[],
  ): Backend | undefined {
    const n = backends.length;
    const maxWeight = this.#maxWeight.of(backends);
    let fallback = -1;
    for (let i = 0; i < n; i++) {
      const index = (this.#next + i) % n;
      const backend = backends[index];
      if (!eligible(backend, nowMs, tried)) continue;
      const share = backend.effectiveWeight(nowMs) / maxWeight;
      if (share >= 1 || this.random() < share) {
        this.#next = (index + 1) % n;
        return backend;
      }
      if (fallback === -1) fallback = index;
    }
    // Every eligible backend was skipped this round: take the first, never nothing.
    if (fallback === -1) return undefined;
    this.#next = (fallback + 1) % n;
    return backends[fallback];
  }

  explain(): string {
    return "next in turn";
  }
}
