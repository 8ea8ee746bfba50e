/**
 * Peak EWMA with two random choices (Finagle's and Linkerd's latency-aware balancer): draw two
 * distinct eligible backends in proportion to their effective weights and send to the
 * cheaper, where
 *
 *     cost = ewma × (inFlight / effectiveWeight + 1)
 *
 * `ewma` is the backend's peak-sensitive moving average of time to response headers
 * (`latency.ts`: a slower sample replaces it at once, faster ones pull it down with weight
 * 1 − e^(−Δt/10 s), and it decays towards 0 while unused so a once-slow backend is tried
 * again). A counted failure records the per-try timeout as its time, so a backend that fails
 * fast does not look fast. A backend with no sample yet is neutral: it is costed with the
 * other candidate's average, so only in-flight counts and weights decide between them.
 *
 * With weight 1 the cost is Finagle's `ewma × (pending + 1)`. Weights divide the in-flight
 * count, as in `least-request`, rather than the whole cost: two idle backends that answer
 * equally fast then cost the same and share traffic by weight through the weighted draw,
 * where dividing the cost would send every request to the heavier one until it was loaded.
 * The same holds for a backend in slow start.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { type Policy, type Random, TwoChoices } from "./policy.ts";

/** Prefers the backend expected to answer soonest. */
export class PeakEwma implements Policy {
  readonly name = "peak-ewma";
  readonly #choices: TwoChoices;

  constructor(random: Random = Math.random) {
    this.#choices = new TwoChoices(random);
  }

  pick(
    backends: readonly Backend[],
    nowMs: number,
    tried: readonly Backend[],
  ): Backend | undefined {
    return this.#choices.pick(backends, nowMs, tried, compareCost);
  }

  explain(chosen: Backend, nowMs: number): string {
    const rival = this.#choices.rivalOf(chosen);
    if (rival === undefined) return "the only eligible backend";
    const [mine, theirs] = costs(chosen, rival, nowMs);
    if (mine === theirs) return `same expected latency as ${rival.id} (${ms(mine)}), drawn first`;
    return `lower expected latency than ${rival.id} (${ms(mine)} vs ${ms(theirs)})`;
  }
}

/** The two candidates' costs, in milliseconds, as the pick compared them. */
function costs(a: Backend, b: Backend, nowMs: number): [number, number] {
  let ewmaA = a.latency.ewma(nowMs);
  let ewmaB = b.latency.ewma(nowMs);
  if (!a.latency.known) ewmaA = ewmaB;
  if (!b.latency.known) ewmaB = ewmaA;
  // Both unknown, or both decayed to nothing: the in-flight factor alone decides.
  if (ewmaA === 0 && ewmaB === 0) ewmaA = ewmaB = 1;
  return [
    ewmaA * (a.inFlight / a.effectiveWeight(nowMs) + 1),
    ewmaB * (b.inFlight / b.effectiveWeight(nowMs) + 1),
  ];
}

function ms(cost: number): string {
  return `${Math.round(cost * 10) / 10} ms`;
}

function compareCost(a: Backend, b: Backend, nowMs: number): number {
  let ewmaA = a.latency.ewma(nowMs);
  let ewmaB = b.latency.ewma(nowMs);
  if (!a.latency.known) ewmaA = ewmaB;
  if (!b.latency.known) ewmaB = ewmaA;
  // Both unknown, or both decayed to nothing: the in-flight factor alone decides.
  if (ewmaA === 0 && ewmaB === 0) ewmaA = ewmaB = 1;
  return ewmaA * (a.inFlight / a.effectiveWeight(nowMs) + 1) -
    ewmaB * (b.inFlight / b.effectiveWeight(nowMs) + 1);
}
