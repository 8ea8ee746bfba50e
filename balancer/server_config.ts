/**
 * What a running balancer is started with ({@linkcode BalancerConfig}, its options completed
 * by {@linkcode topOptions}) and what a reconfiguration gives it ({@linkcode Reconfiguration});
 * `server.ts` runs them.
 *
 * @module
 */

import type { Backend, BackendConfig } from "../backends/backend.ts";
import type { PoolChange } from "../backends/pool.ts";
import type { ProbeFn } from "../backends/probes.ts";
import type { Clock, Timers } from "../lib/time.ts";
import type { TrimMemory } from "../lib/malloc_trim.ts";
import type { HeapReducer } from "../lib/heap_reduce.ts";
import type { Random } from "../policies/policy.ts";
import type { Transport } from "../transports/transport.ts";
import type { Resolver } from "../backends/discovery.ts";
import type { RequestRecord } from "./exchange.ts";
import type { ListenerConfig } from "./listeners.ts";
import { type BalancerOptions, DEFAULT_OPTIONS } from "./options.ts";
import type { LagMonitor } from "./overload.ts";
import type { PoolConfig } from "./pools.ts";
import type { Route } from "./routes.ts";

/** Everything needed to start a balancer: where to listen (`listeners.ts`), and what to serve. */
export interface BalancerConfig extends ListenerConfig {
  /** The backends, in rotation order. */
  readonly backends: readonly BackendConfig[];
  /** Selection policy name. Default `options.policy`. */
  readonly policy?: string;
  /** Proxy tunables; missing fields take `DEFAULT_OPTIONS` (`options.ts`). */
  readonly options?: Partial<BalancerOptions>;
  /** Upstream transport. Default a new `AutoTransport`, closed on shutdown. */
  readonly transport?: Transport;
  /** Default the system clock. */
  readonly clock?: Clock;
  /** Per-request record sink (access log, metrics); unset skips the bookkeeping. */
  readonly onRequest?: (record: RequestRecord) => void;
  /** Called when a failed try ejects a backend (metrics); the event log has its own line. */
  readonly onEject?: (backend: Backend) => void;
  /** Record why each try went to its backend (see `BalancerParts.explainPicks`). Default false. */
  readonly explainPicks?: boolean;
  /** Event log sink (backend marked failed, listening, reloads). Default none. */
  readonly log?: (line: string) => void;
  /** How active probes are sent (tests fake it). Default `fetch`. */
  readonly probe?: ProbeFn;
  /** Timers for active probes and DNS refreshes (tests drive them). Default the real timers. */
  readonly scheduler?: Timers;
  /** How backend names are resolved (tests fake it). Default `options.dns.resolver`'s. */
  readonly resolver?: Resolver;
  /** Randomness for random policies (tests seed it). Default `Math.random`. */
  readonly random?: Random;
  /** Where round robin's counter starts (see `PolicyDeps.start`). Default 0. */
  readonly firstPick?: number;
  /**
   * The event-loop lag monitor (see `overload.ts`). Default a new one on `clock`, started
   * by the server and stopped on shutdown; a given one is left for its owner to stop.
   */
  readonly lag?: LagMonitor;
  /** PEM CAs trusted for https:// backends by the default transport and the probes. */
  readonly caCerts?: readonly string[];
  /** Pools besides the default one (`backends` with `options`). Default none. */
  readonly pools?: readonly PoolConfig[];
  /** Routes to the pools, in order. Default none: every request goes to the default pool. */
  readonly routes?: readonly Route[];
  /**
   * The key of sticky cookies while `options.stickySecret` is unset: the process's, given to
   * every worker. Default a random one made by the server, kept across reconfigurations.
   */
  readonly stickySecret?: string;
  /**
   * Hands memory the C heap holds free back to the system when traffic pauses
   * (`memory_trim.ts`). Default none: the process keeps what its allocator holds.
   */
  readonly trimMemory?: TrimMemory;
  /**
   * Compacts the V8 heap once the balancer has gone idle after a burst grew it
   * (`idle_heap_reducer.ts`). Default none: the heap keeps the size traffic grew it to.
   */
  readonly reduceHeap?: HeapReducer;
}

/** A new configuration for a running balancer. */
export interface Reconfiguration {
  readonly backends: readonly BackendConfig[];
  readonly options: BalancerOptions;
  /** A new per-request sink; leave the key out to keep the current one. */
  readonly onRequest?: ((record: RequestRecord) => void) | undefined;
  /** Pools besides the default one. Default none. */
  readonly pools?: readonly PoolConfig[];
  /** Routes, in order. Default none. */
  readonly routes?: readonly Route[];
}

/** What a reconfiguration changed in the default pool, by backend URL. */
export type Reconfigured = PoolChange;

/** The top level's options: the given ones over the defaults, the policy from either place. */
export function topOptions(config: BalancerConfig): BalancerOptions {
  return {
    ...DEFAULT_OPTIONS,
    ...config.options,
    policy: config.policy ?? config.options?.policy ?? DEFAULT_OPTIONS.policy,
  };
}
