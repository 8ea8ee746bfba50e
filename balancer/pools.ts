/**
 * The pools of a running balancer by name, across reconfigurations: the default pool (the
 * top-level backends) and those of `pools`. Each pool has its own {@linkcode Backend}
 * objects, so a URL in two pools is two backends with their own health under their own
 * settings.
 *
 * On a reconfiguration a backend is matched by (pool, URL) first, then by URL in any old
 * pool that let it go: a backend that moves between pools keeps its health state and
 * figures. Only a backend no pool takes is drained.
 *
 * @module
 */

import type { Backend, BackendConfig } from "../backends/backend.ts";
import type { HealthSettings } from "../backends/health.ts";
import { type Join, Pool, type PoolChange } from "../backends/pool.ts";
import type { BalancerOptions } from "./options.ts";

/** A pool as configured: a name, its backends and its options (the top level's overlaid). */
export interface PoolConfig {
  readonly name: string;
  readonly backends: readonly BackendConfig[];
  readonly options: BalancerOptions;
}

/** The name of the top-level pool. */
export const DEFAULT_POOL = "default";

/** One pool as the next configuration wants it (backend names already expanded). */
export interface PoolPlan {
  readonly name: string;
  readonly backends: readonly BackendConfig[];
  readonly settings: HealthSettings;
}

/** The pools in force, by name, and those a reconfiguration removed that still drain. */
export class Pools {
  #pools = new Map<string, Pool>();
  /** Pools gone from the configuration whose backends still have tries in flight. */
  #retired: Pool[] = [];

  constructor(plans: readonly PoolPlan[]) {
    for (const plan of plans) this.#pools.set(plan.name, new Pool(plan.backends, plan.settings));
    this.#label();
  }

  /** Each backend in force knows its pool's name (metrics and status label it so). */
  #label(): void {
    for (const [name, pool] of this.#pools) {
      for (const backend of pool.backends) backend.pool = name;
    }
  }

  /** The pool named `name`; every configured pool exists. */
  get(name: string): Pool {
    const pool = this.#pools.get(name);
    if (pool === undefined) throw new RangeError(`Cannot find pool ${JSON.stringify(name)}`);
    return pool;
  }

  /** Backends removed by a reconfiguration that still have tries in flight, every pool's. */
  get draining(): readonly Backend[] {
    this.#retired = this.#retired.filter((pool) => pool.draining.length > 0);
    const draining: Backend[] = [];
    for (const pool of [...this.#pools.values(), ...this.#retired]) {
      draining.push(...pool.draining);
    }
    return draining;
  }

  /**
   * Puts `plans` in force at `nowMs`. Returns each pool's change by name (a pool that went
   * away has everything removed).
   */
  reconfigure(
    plans: readonly PoolPlan[],
    nowMs: number,
    reason: string,
    join?: Join,
  ): Map<string, PoolChange> {
    const adoptions = this.#adoptions(plans);
    const moved = new Set<Backend>();
    for (const byUrl of adoptions.values()) {
      for (const backend of byUrl.values()) moved.add(backend);
    }
    const changes = new Map<string, PoolChange>();
    const next = new Map<string, Pool>();
    for (const plan of plans) {
      const pool = this.#pools.get(plan.name) ?? new Pool([], plan.settings);
      const adopting = adoptions.get(plan.name);
      changes.set(
        plan.name,
        pool.reconfigure(plan.backends, plan.settings, nowMs, reason, join, {
          adopt: (url) => adopting?.get(url),
          moved: (backend) => moved.has(backend),
        }),
      );
      next.set(plan.name, pool);
    }
    for (const [name, pool] of this.#pools) {
      if (next.has(name)) continue;
      const settings = plans[0].settings;
      changes.set(
        name,
        pool.reconfigure([], settings, nowMs, "its pool was removed", undefined, {
          adopt: () => undefined,
          moved: (backend) => moved.has(backend),
        }),
      );
      this.#retired.push(pool);
    }
    this.#pools = next;
    this.#label();
    return changes;
  }

  /**
   * Which pool takes which backend of another pool: by plan name, URL → backend. A backend
   * is let go by its pool when that pool's plan lacks its URL (or the pool goes); the first
   * plan wanting that URL, and not having it already, takes it.
   */
  #adoptions(plans: readonly PoolPlan[]): Map<string, Map<string, Backend>> {
    const wanted = new Map(
      plans.map((plan) => [plan.name, new Set(plan.backends.map((b) => b.url))]),
    );
    const letGo = new Map<string, Backend>();
    for (const [name, pool] of this.#pools) {
      const keeps = wanted.get(name);
      for (const backend of pool.backends) {
        if (!keeps?.has(backend.url) && !letGo.has(backend.url)) letGo.set(backend.url, backend);
      }
    }
    const adoptions = new Map<string, Map<string, Backend>>();
    if (letGo.size === 0) return adoptions;
    for (const plan of plans) {
      const has = new Set(this.#pools.get(plan.name)?.backends.map((b) => b.url) ?? []);
      for (const { url } of plan.backends) {
        const backend = letGo.get(url);
        if (backend === undefined || has.has(url)) continue;
        letGo.delete(url);
        let byUrl = adoptions.get(plan.name);
        if (byUrl === undefined) adoptions.set(plan.name, byUrl = new Map());
        byUrl.set(url, backend);
      }
    }
    return adoptions;
  }
}
