/**
 * Least request with two random choices (Envoy's `LEAST_REQUEST`, Mitzenmacher's "power of
 * two choices"): draw two distinct eligible backends in proportion to their effective
 * weights and send to the one with fewer requests in flight per unit of weight. Comparing
 * two instead of scanning all keeps a herd from piling onto the one idle backend, and costs
 * the same at any size.
 *
 * In-flight counts last until a response body has been sent. On a tie (typically both
 * idle) the first drawn wins, so idle backends share traffic by weight.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { type Policy, type Random, TwoChoices } from "./policy.ts";

/** Prefers the backend with less work in flight for its weight. */
export class LeastRequest implements Policy {
  readonly name = "least-request";
  readonly #choices: TwoChoices;

  constructor(random: Random = Math.random) {
    this.#choices = new TwoChoices(random);
  }

  pick(
    backends: readonly Backend[],
    nowMs: number,
    tried: readonly Backend[],
  ): Backend | undefined {
    return this.#choices.pick(backends, nowMs, tried, compareLoad);
  }

  explain(chosen: Backend, nowMs: number): string {
    const rival = this.#choices.rivalOf(chosen);
    if (rival === undefined) return "the only eligible backend";
    if (compareLoad(chosen, rival, nowMs) === 0) {
      return `as many in flight as ${rival.id} (${chosen.inFlight}), drawn first`;
    }
    return `fewer in flight than ${rival.id} (${chosen.inFlight} vs ${rival.inFlight})`;
  }
}

function compareLoad(a: Backend, b: Backend, nowMs: number): number {
  return a.inFlight / a.effectiveWeight(nowMs) - b.inFlight / b.effectiveWeight(nowMs);
}
