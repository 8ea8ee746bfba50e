/**
 * Which backend takes a try, for one `Balancer`: the first try's (the sticky backend while it
 * is available, else the policy's), the next one after a try that moves on, the panic setting
 * when no backend is available, and why each was chosen when the balancer explains picks
 * (`explain.ts`). Made once per balancer, so a pick only reads what was decided then.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { leastRecentlyFailed, type Policy } from "../policies/policy.ts";
import type { Exchange } from "./exchange.ts";
import { explainPick } from "./explain.ts";
import type { BalancerOptions } from "./options.ts";
import type { Stickiness } from "./sticky.ts";

/** No backend tried yet: the first pick's list, shared by every request. */
export const NO_TRIES: readonly Backend[] = [];

/** Picks backends from one pool with one policy. */
export class Picker {
  readonly #policy: Policy;
  readonly #backends: readonly Backend[];
  /** `panic: least-recently-failed`: with none available, the oldest failure goes on. */
  readonly #panic: boolean;
  /** Sticky sessions (`sticky.ts`); absent when off, so a pick skips them. */
  readonly #sticky: Stickiness | undefined;
  /** Whether each pick is explained (`explainPicks` with someone observing). */
  readonly explains: boolean;

  constructor(
    policy: Policy,
    backends: readonly Backend[],
    options: Pick<BalancerOptions, "panic">,
    sticky: Stickiness | undefined,
    explains: boolean,
  ) {
    this.#policy = policy;
    this.#backends = backends;
    this.#panic = options.panic === "least-recently-failed";
    this.#sticky = sticky;
    this.explains = explains;
  }

  /** The selection policy's name, for the status document. */
  get policyName(): string {
    return this.#policy.name;
  }

  /** The first try's backend: the sticky one while it is available, else the policy's. */
  first(exchange: Exchange, nowMs: number): Backend | undefined {
    const sticky = this.#sticky;
    if (sticky === undefined) return this.pick(nowMs, NO_TRIES);
    const preferred = exchange.sticky = sticky.preferred(exchange, nowMs);
    return preferred ?? this.pick(nowMs, NO_TRIES);
  }

  /** The next backend for a request that moves on, the current one now among those tried. */
  next(exchange: Exchange, nowMs: number): Backend | undefined {
    const tried = exchange.tried ??= [];
    tried.push(exchange.backend);
    const next = this.pick(nowMs, tried);
    if (this.explains && next !== undefined) this.explain(exchange, next, nowMs, tried);
    return next;
  }

  /**
   * The policy's choice; when no backend is available, the panic setting decides: nothing
   * (`fail-fast`, a 503) or the out-of-rotation backend whose failure is oldest. Either way
   * a request tries each backend at most once, so it can never spin.
   */
  pick(nowMs: number, tried: readonly Backend[]): Backend | undefined {
    const chosen = this.#policy.pick(this.#backends, nowMs, tried);
    if (chosen !== undefined || !this.#panic) return chosen;
    return leastRecentlyFailed(this.#backends, tried);
  }

  /** Notes why `chosen` takes the next try (only when explaining picks). */
  explain(exchange: Exchange, chosen: Backend, nowMs: number, tried: readonly Backend[]): void {
    const last = exchange.tries?.[exchange.tries.length - 1];
    const previous = tried.length > 0 && last?.backend === tried[tried.length - 1].url
      ? last
      : undefined;
    const why = explainPick(this.#policy, this.#backends, chosen, nowMs, tried, previous);
    const sticky = tried.length === 0 && chosen === exchange.sticky ? this.#sticky : undefined;
    exchange.why = sticky ? { ...why, reason: `sticky (${sticky.description})` } : why;
  }
}
