/**
 * Round robin: backends in cyclic order, skipping those that are unavailable or already
 * tried. One counter and at most n probes per pick.
 *
 * @module
 */

import type { Backend } from "../backend.ts";
import { eligible, type Policy } from "../policy.ts";

/** The original balancer's policy, and the default. */
export class RoundRobin implements Policy {
  #next = 0;

  pick(
    backends: readonly Backend[],
    nowMs: number,
    tried: readonly Backend[],
  ): Backend | undefined {
    const n = backends.length;
    for (let i = 0; i < n; i++) {
      const index = (this.#next + i) % n;
      const backend = backends[index];
      if (eligible(backend, nowMs, tried)) {
        this.#next = (index + 1) % n;
        return backend;
      }
    }
    return undefined;
  }
}
