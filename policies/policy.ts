/**
 * The one selection interface every load-balancing policy implements, and what policies
 * share. One policy per file in `policies/`, registered by name in `policies/mod.ts`.
 *
 * Every policy skips unavailable backends and those already tried by the request, and
 * weighs each backend by {@linkcode Backend.effectiveWeight}, which includes slow start. A
 * pick allocates nothing.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { Random } from "../lib/random.ts";

/** Chooses the backend for the next try of a request. */
export interface Policy {
  /** The name it is registered under, e.g. `round-robin`. */
  readonly name: string;
  /**
   * Picks an available backend that is not in `tried`, or returns `undefined` when there is
   * none; the caller turns that into a response. Called once per try, so it must be cheap.
   */
  pick(backends: readonly Backend[], nowMs: number, tried: readonly Backend[]): Backend | undefined;
  /**
   * Why the last pick chose `chosen`, in a few words ("next in turn"), for the dashboard.
   * Called only right after that pick and only when someone observes requests, so the
   * pick itself never pays for it.
   */
  explain?(chosen: Backend, nowMs: number): string;
}

/** A source of numbers in [0, 1), like `Math.random`. Injected so tests can seed it. */
export type { Random };

/** What a policy may be given when it is made. */
export interface PolicyDeps {
  /** Randomness for policies that choose at random. Default `Math.random`. */
  readonly random?: Random;
  /**
   * Where a cyclic policy's counter starts. Worker i of `--workers N` starts at i, so the
   * workers' first picks go to different backends. Default 0.
   */
  readonly start?: number;
}

/** Whether `backend` may take the next try. */
export function eligible(backend: Backend, nowMs: number, tried: readonly Backend[]): boolean {
  return backend.available(nowMs) && (tried.length === 0 || !tried.includes(backend));
}

/**
 * The last resort when no backend is available (`panic: "least-recently-failed"`): the
 * backend out of rotation whose last failure is the oldest, never one an operator holds
 * out (draining or disabled) and never one already tried.
 */
export function leastRecentlyFailed(
  backends: readonly Backend[],
  tried: readonly Backend[],
): Backend | undefined {
  let best: Backend | undefined;
  for (const backend of backends) {
    if (backend.health.heldByAdmin || tried.includes(backend)) continue;
    if (best === undefined || backend.health.lastFailureMs < best.health.lastFailureMs) {
      best = backend;
    }
  }
  return best;
}

/**
 * Power of two choices over weighted candidates, shared by `least-request` and `peak-ewma`:
 * draws two distinct eligible backends at random in proportion to their effective weights
 * and keeps the one `compare` rates lower (the first drawn on a tie, so idle backends share
 * traffic by weight).
 *
 * Drawing is by rejection: a uniformly random backend is kept with probability
 * `effectiveWeight / highest weight` if eligible, else another is drawn. That is exactly
 * proportional to weight and, with all backends in rotation and equal weights, costs one
 * random number per candidate whatever the number of backends. After a few rejections
 * (many backends out) it falls back to one exact weighted scan. Nothing is allocated.
 */
export class TwoChoices {
  readonly #maxWeight = new MaxWeight();
  /** How many eligible backends the last exact scan found; -1 when there was none. */
  #eligibleSeen = -1;
  /**
   * The candidate the last pick compared against and turned down (`undefined` when there was
   * only one), for {@linkcode TwoChoices.rivalOf}: one reference kept, nothing allocated.
   */
  #rival: Backend | undefined;

  constructor(readonly random: Random) {}

  /** `compare(a, b, nowMs)` < 0 prefers `a`, > 0 prefers `b`. */
  pick(
    backends: readonly Backend[],
    nowMs: number,
    tried: readonly Backend[],
    compare: (a: Backend, b: Backend, nowMs: number) => number,
  ): Backend | undefined {
    this.#eligibleSeen = -1;
    this.#rival = undefined;
    const first = this.#draw(backends, nowMs, tried, undefined);
    if (first === undefined || this.#eligibleSeen === 1) return first;
    const second = this.#draw(backends, nowMs, tried, first);
    if (second === undefined) return first;
    if (compare(first, second, nowMs) <= 0) {
      this.#rival = second;
      return first;
    }
    this.#rival = first;
    return second;
  }

  /** The candidate the last pick turned down for `chosen`, if it compared two. */
  rivalOf(chosen: Backend): Backend | undefined {
    return this.#rival === chosen ? undefined : this.#rival;
  }

  /** One eligible backend other than `other`, drawn in proportion to effective weight. */
  #draw(
    backends: readonly Backend[],
    nowMs: number,
    tried: readonly Backend[],
    other: Backend | undefined,
  ): Backend | undefined {
    const n = backends.length;
    if (n === 0) return undefined;
    const maxWeight = this.#maxWeight.of(backends);
    for (let attempt = 0; attempt < REJECTIONS; attempt++) {
      const backend = backends[Math.floor(this.random() * n)];
      if (backend === other || !eligible(backend, nowMs, tried)) continue;
      const share = backend.effectiveWeight(nowMs) / maxWeight;
      if (share >= 1 || this.random() < share) return backend;
    }
    let total = 0;
    let count = 0;
    for (const backend of backends) {
      if (backend !== other && eligible(backend, nowMs, tried)) {
        total += backend.effectiveWeight(nowMs);
        count++;
      }
    }
    this.#eligibleSeen = count;
    if (total === 0) return undefined;
    let target = this.random() * total;
    let last: Backend | undefined;
    for (const backend of backends) {
      if (backend === other || !eligible(backend, nowMs, tried)) continue;
      last = backend;
      target -= backend.effectiveWeight(nowMs);
      if (target < 0) return backend;
    }
    return last; // rounding left `target` at the very end
  }
}

/** The highest configured weight of a backend list, recomputed only when the list changes. */
export class MaxWeight {
  #of: readonly Backend[] | undefined;
  #max = 1;

  of(backends: readonly Backend[]): number {
    if (backends !== this.#of) {
      this.#of = backends;
      this.#max = 1;
      for (const backend of backends) this.#max = Math.max(this.#max, backend.config.weight);
    }
    return this.#max;
  }
}

/** Random draws before a two-choices pick falls back to an exact scan. */
const REJECTIONS = 8;
