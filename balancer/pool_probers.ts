/**
 * Active health checks of a running balancer: one {@linkcode Prober} per pool that sets
 * `active.path`, with that pool's settings. Changes run one after another, in the order of
 * the reconfigurations; a change that leaves every pool's backends and probe settings as
 * they were restarts nothing.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { type ProbeFn, Prober } from "../backends/probes.ts";
import type { Clock, Timers } from "../lib/time.ts";
import type { Balancer } from "./balancer.ts";
import { DEFAULT_POOL } from "./pools.ts";

/** What probes need besides the pools. */
export interface ProbeParts {
  readonly clock: Clock;
  readonly probe?: ProbeFn;
  readonly caCerts?: readonly string[];
  readonly timers?: Timers;
  /** Called when a probe changes a backend's state (the event log). */
  readonly onChange?: (backend: Backend) => void;
}

/** The probers in force, by pool name. */
export class PoolProbers {
  readonly #parts: ProbeParts;
  #probers = new Map<string, Prober>();
  #queue: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(parts: ProbeParts) {
    this.#parts = parts;
  }

  /** The default pool's prober, when it probes. */
  get default(): Prober | undefined {
    return this.#probers.get(DEFAULT_POOL);
  }

  /** Starts a prober for each pool of `pools` that sets `active.path`. */
  start(pools: ReadonlyMap<string, Balancer>): void {
    for (const [name, balancer] of pools) {
      if (!balancer.options.active.path) continue;
      const prober = new Prober({
        backends: balancer.backends,
        options: balancer.options.active,
        clock: this.#parts.clock,
        probe: this.#parts.probe,
        caCerts: this.#parts.caCerts,
        timers: this.#parts.timers,
        onChange: this.#parts.onChange,
      });
      prober.start();
      this.#probers.set(name, prober);
    }
  }

  /**
   * Follows a reconfiguration from `before` to `after`: when `backendsChanged` or some
   * pool's probe settings changed, the old probers stop and new ones start. Resolves once
   * done (after the changes queued before it).
   */
  follow(
    before: ReadonlyMap<string, Balancer>,
    after: ReadonlyMap<string, Balancer>,
    backendsChanged: boolean,
  ): Promise<void> {
    const changed = backendsChanged || probeSettings(before) !== probeSettings(after);
    const done = this.#queue.then(() => changed ? this.#restart(after) : undefined);
    this.#queue = done.catch(() => {});
    return done;
  }

  /** Stops every prober once the queued changes are done; nothing starts afterwards. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#queue;
    await this.#stopAll();
  }

  async #restart(pools: ReadonlyMap<string, Balancer>): Promise<void> {
    if (this.#stopped) return;
    await this.#stopAll();
    if (!this.#stopped) this.start(pools);
  }

  async #stopAll(): Promise<void> {
    const stopping = [...this.#probers.values()].map((prober) => prober.stop());
    this.#probers.clear();
    await Promise.all(stopping);
  }
}

/** Which pools probe, and how. */
function probeSettings(pools: ReadonlyMap<string, Balancer>): string {
  return JSON.stringify([...pools].map(([name, b]) => [name, b.options.active]));
}
