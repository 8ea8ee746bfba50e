/**
 * The pools of a running balancer as configured, backend names not expanded, and the DNS
 * discovery that expands them (`backends/dns_refresh.ts`): started once some backend is a
 * name, never for IP-only lists, paused while a reconfiguration leaves no name.
 *
 * @module
 */

import type { BackendConfig } from "../backends/backend.ts";
import { dnsResolver, needsDiscovery, type Resolver } from "../backends/discovery.ts";
import { DnsRefresh } from "../backends/dns_refresh.ts";
import type { Join } from "../backends/pool.ts";
import { type Clock, systemTimers, type Timers } from "../lib/time.ts";
import { type BalancerOptions, healthSettings } from "./options.ts";
import { DEFAULT_POOL, type PoolConfig, type PoolPlan } from "./pools.ts";

/** What DNS discovery is run with, once some backend is a name. */
export interface DiscoveryParts {
  /** How names are resolved. Default the resolver of setting `dns.resolver`. */
  readonly resolver?: Resolver;
  readonly clock: Clock;
  /** Timers for the refreshes. Default the real ones. */
  readonly timers?: Timers;
  /** Time between two refreshes, read after each one (the setting in force). */
  readonly intervalMs: () => number;
  /** Called after a refresh changed some name's addresses. */
  readonly apply: () => void;
  /** Event log. */
  readonly log?: (line: string) => void;
}

/** Every pool as configured, the default first, and the names among them resolved. */
export class ConfiguredPools {
  #pools: readonly PoolConfig[];
  #dns: DnsRefresh | undefined;
  readonly #parts: DiscoveryParts;

  constructor(
    backends: readonly BackendConfig[],
    options: BalancerOptions,
    pools: readonly PoolConfig[] | undefined,
    parts: DiscoveryParts,
  ) {
    this.#parts = parts;
    this.#pools = poolConfigs(backends, options, pools);
    this.#dns = this.#startDns(options);
  }

  /** Every pool as configured, the default (the top-level backends and options) first. */
  get all(): readonly PoolConfig[] {
    return this.#pools;
  }

  /** The default pool's options: the top level's. */
  get topOptions(): BalancerOptions {
    return this.#pools[0].options;
  }

  /** DNS discovery, when some backend is a name: its names, last good sets, failures. */
  get dns(): DnsRefresh | undefined {
    return this.#dns;
  }

  /**
   * A reconfiguration's pools replace these. New names resolve now rather than at the next
   * tick (their last good set meanwhile); with no name left, no timer runs.
   */
  replace(
    backends: readonly BackendConfig[],
    options: BalancerOptions,
    pools: readonly PoolConfig[] | undefined,
  ): void {
    this.#pools = poolConfigs(backends, options, pools);
    this.#dns ??= this.#startDns(options);
    if (needsDiscovery(this.#everyBackend())) this.#dns?.refreshNow();
    else this.#dns?.pause();
  }

  /** What the pools should hold now: each one's backends with the names expanded. */
  plans(): PoolPlan[] {
    return this.#pools.map((pool) => ({
      name: pool.name,
      backends: this.#dns ? this.#dns.discovery.expand(pool.backends) : pool.backends,
      settings: healthSettings(pool.options),
    }));
  }

  /**
   * How addresses a name gains after its first answer join: as a returning backend would
   * (after passing probes when the default pool runs them). `undefined` without discovery.
   */
  join(): Join | undefined {
    const active = this.topOptions.active;
    return this.#dns && { joins: this.#dns.discovery.joins, awaitProbes: !!active.path };
  }

  /** No more refreshes; resolves once the one under way (if any) has ended. */
  stop(): Promise<void> | undefined {
    return this.#dns?.stop();
  }

  /** Every pool's configured backends, for DNS discovery to find the names among them. */
  #everyBackend(): readonly BackendConfig[] {
    return this.#pools.flatMap((pool) => pool.backends);
  }

  /** DNS discovery when some configured backend is a name; nothing otherwise. */
  #startDns(options: BalancerOptions): DnsRefresh | undefined {
    if (!needsDiscovery(this.#everyBackend())) return undefined;
    const parts = this.#parts;
    return new DnsRefresh({
      resolver: parts.resolver ?? dnsResolver(options.dns.resolver),
      clock: parts.clock,
      timers: parts.timers ?? systemTimers,
      configured: () => this.#everyBackend(),
      intervalMs: parts.intervalMs,
      apply: parts.apply,
      log: parts.log,
    });
  }
}

/** Every pool as configured, the default (the top-level backends and options) first. */
function poolConfigs(
  backends: readonly BackendConfig[],
  options: BalancerOptions,
  pools: readonly PoolConfig[] = [],
): PoolConfig[] {
  return [{ name: DEFAULT_POOL, backends, options }, ...pools];
}
