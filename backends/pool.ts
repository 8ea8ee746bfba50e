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
   * `reason` is the drained ones' cause.
   */
  reconfigure(
    configs: readonly BackendConfig[],
    settings: HealthSettings,
    nowMs: number,
    reason = "removed from the configuration",
  ): PoolChange {
    const draining = this.draining;
    const known = new Map<string, Backend>();
    for (const backend of [...draining, ...this.#backends]) known.set(backend.url, backend);
    const added: string[] = [];
    const reweighted: string[] = [];
    const next = configs.map((config) => {
      const kept = known.get(config.url);
      if (kept === undefined) {
        added.push(config.url);
        return new Backend(config, settings);
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
    const removed = this.#backends.filter((backend) => known.has(backend.url));
    for (const backend of removed) {
      backend.drain({
        source: "admin",
        detail: reason,
        atMs: nowMs,
      });
    }
    this.#draining = [...draining.filter((b) => known.has(b.url)), ...removed];
    this.#backends = next;
    return { added, removed: removed.map((backend) => backend.url), reweighted };
  }
}
