/**
 * The backends of a running balancer across reconfigurations: which are added, kept or
 * removed when a new list arrives, by URL (a backend's identity).
 *
 * Kept backends are the same {@linkcode Backend} objects, with their health state and
 * figures, and take the new weight and health settings (`Backend.reconfigure`). Removed
 * backends are drained: no new try goes to them (their health says `draining`, which every
 * policy respects), tries in flight finish, and they are forgotten once empty. One removed
 * and added back while it still drains is the same object again, back in rotation.
 *
 * @module
 */

import { Backend, type BackendConfig } from "./backend.ts";
import type { HealthSettings } from "./health.ts";

/** Which added backends join a running pool, and how (see `Pool.reconfigure`). */
export interface Join {
  readonly joins: (config: BackendConfig) => boolean;
  /** Active health checks are on: a joining backend is out until `rise` probes pass. */
  readonly awaitProbes: boolean;
}

/**
 * Backends moving between pools in one reconfiguration (`balancer/pools.ts`): a backend
 * another pool let go joins this one with its state, and one that moved away is dropped
 * here without draining.
 */
export interface Moves {
  /** The backend of `url` that comes from another pool, if any. */
  readonly adopt: (url: string) => Backend | undefined;
  /** Whether `backend`, gone from this pool, now serves in another. */
  readonly moved: (backend: Backend) => boolean;
}

/** What one reconfiguration did to the pool, by backend URL. */
export interface PoolChange {
  readonly added: readonly string[];
  /** Taken out by this change, now draining. */
  readonly removed: readonly string[];
  /** Kept backends whose weight changed. */
  readonly reweighted: readonly string[];
}

/** The backends in force and those still draining. */
export class Pool {
  #backends: readonly Backend[];
  #draining: Backend[] = [];

  constructor(configs: readonly BackendConfig[], settings: HealthSettings) {
    this.#backends = configs.map((config) => new Backend(config, settings));
    linkTiers(this.#backends);
  }

  /** The backends in force, in configuration order. */
  get backends(): readonly Backend[] {
    return this.#backends;
  }

  /** Backends removed by a reconfiguration that still have tries in flight. */
  get draining(): readonly Backend[] {
    this.#draining = this.#draining.filter((b) => b.inFlight > 0 || b.websockets > 0);
    return this.#draining;
  }

  /**
   * Puts `configs` in force at `nowMs`: adds, keeps (reconfigured) and drains by URL;
   * `reason` is the drained ones' cause. Added backends for which `join` says so join a
   * running pool (`Backend.join`: slow start, or out until probes pass); others start in
   * rotation.
   */
  reconfigure(
    configs: readonly BackendConfig[],
    settings: HealthSettings,
    nowMs: number,
    reason = "removed from the configuration",
    join?: Join,
    moves?: Moves,
  ): PoolChange {
    const draining = this.draining;
    const known = new Map<string, Backend>();
    for (const backend of [...draining, ...this.#backends]) known.set(backend.url, backend);
    const added: string[] = [];
    const reweighted: string[] = [];
    const next = configs.map((config) => {
      const kept = known.get(config.url) ?? moves?.adopt(config.url);
      if (kept !== undefined && !known.has(config.url)) {
        // From another pool: its health and figures come along; its settings are this pool's.
        added.push(config.url);
        kept.reconfigure(config, settings);
        return kept;
      }
      if (kept === undefined) {
        added.push(config.url);
        const backend = new Backend(config, settings);
        if (join?.joins(config)) {
          const detail = `new address from DNS ${config.from}`;
          backend.join({ source: "admin", detail, atMs: nowMs }, join.awaitProbes);
        }
        return backend;
      }
      known.delete(config.url);
      if (kept.health.state(nowMs) === "draining" && draining.includes(kept)) {
        kept.enable({ source: "admin", detail: "back in the configuration", atMs: nowMs });
      }
      if (kept.config.weight !== config.weight) reweighted.push(config.url);
      // New weight and health settings (retry downtime, thresholds, back-off, slow start)
      // from now on; its health state, figures and a current ejection's end stay.
      kept.reconfigure(config, settings);
      return kept;
    });
    const removed = this.#backends.filter((backend) =>
      known.has(backend.url) && !moves?.moved(backend)
    );
    for (const backend of removed) {
      backend.drain({
        source: "admin",
        detail: reason,
        atMs: nowMs,
      });
    }
    this.#draining = [...draining.filter((b) => known.has(b.url)), ...removed];
    this.#backends = next;
    linkTiers(next);
    return { added, removed: removed.map((backend) => backend.url), reweighted };
  }
}

/**
 * SRV priorities as tiers (RFC 2782): each backend with a `priority` stands by behind the
 * backends of the same name with a lower one. Done once per change of the pool, so a pick
 * costs nothing for a backend of the lowest tier and one scan of the lower tiers otherwise.
 */
function linkTiers(backends: readonly Backend[]): void {
  for (const backend of backends) {
    const { from, priority } = backend.config;
    const behind = priority === undefined
      ? []
      : backends.filter((other) =>
        other.config.from === from && other.config.priority !== undefined &&
        other.config.priority < priority
      );
    backend.standbyBehind = behind.length > 0 ? behind : undefined;
  }
}
