/**
 * The periodic side of DNS discovery: resolves the configured names now and then every
 * `intervalMs` on injected {@linkcode Timers}, and hands a changed set to `apply`. Made only
 * when some backend is a name, so IP-only configurations run no timer at all.
 *
 * @module
 */

import type { BackendConfig } from "./backend.ts";
import { Discovery, needsDiscovery, type Resolver } from "./discovery.ts";
import type { Clock, Timers } from "../lib/time.ts";

/** What a {@linkcode DnsRefresh} reads and calls. */
export interface DnsRefreshOptions {
  readonly resolver: Resolver;
  readonly clock: Clock;
  readonly timers: Timers;
  /** The configured backends now (names unexpanded); read at each refresh. */
  readonly configured: () => readonly BackendConfig[];
  /** Time between two refreshes, read after each one (a reload may change it). */
  readonly intervalMs: () => number;
  /** Called after a refresh that changed some name's set. */
  readonly apply: () => void;
  /** Event log. */
  readonly log?: (line: string) => void;
}

/** Refreshes the names on a schedule; one refresh at a time. */
export class DnsRefresh {
  readonly discovery: Discovery;
  /** Settles once the first refresh has ended, whatever it found. */
  readonly first: Promise<void>;
  readonly #options: DnsRefreshOptions;
  #timer: number | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: DnsRefreshOptions) {
    this.#options = options;
    this.discovery = new Discovery(options.resolver);
    this.first = this.refreshNow();
  }

  /**
   * Refreshes at once (or right after the refresh under way), then every interval again.
   * Resolves when that refresh has ended.
   */
  refreshNow(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#timer !== undefined) this.#options.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running) {
      // The configuration changed during a refresh: resolve again with the new names.
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#refresh().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.refreshNow();
      } else this.#schedule();
    });
    return this.#running;
  }

  /**
   * The configuration has no name left (a reload removed them all): no timer until
   * {@linkcode refreshNow} is called again, and the removed names are forgotten.
   */
  pause(): void {
    if (this.#timer !== undefined) this.#options.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.discovery.retain(this.#options.configured());
  }

  /** No more refreshes; resolves once the one under way (if any) has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#options.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#running) await this.#running;
  }

  async #refresh(): Promise<void> {
    const { clock, configured, apply, log } = this.#options;
    const result = await this.discovery.refresh(configured(), clock());
    if (this.#stopped) return;
    for (const line of result.lines) log?.(line);
    if (result.changed) apply();
  }

  #schedule(): void {
    if (this.#stopped || !needsDiscovery(this.#options.configured())) return;
    this.#timer = this.#options.timers.setTimeout(() => {
      this.#timer = undefined;
      this.refreshNow();
    }, this.#options.intervalMs());
  }
}
