/**
 * Runs a {@linkcode Balancer} on `Deno.serve`, changes its configuration without dropping a
 * request, and stops it cleanly.
 *
 * A configuration in force is one immutable {@linkcode Balancer} (options, backends,
 * policy). The server's handler reads the current one once per request, so a request runs
 * start to end on the settings it started with; {@linkcode RunningBalancer.reconfigure}
 * builds the next `Balancer` and swaps it in one assignment; which backends are added, kept
 * and drained is the `Pool`'s business (`backends/pool.ts`). The listeners are opened by
 * `listeners.ts`, the configured pools and their DNS discovery kept by `configured_pools.ts`,
 * the event log's words are `event_lines.ts`'s.
 *
 * @module
 */

import { hostlessOrigin } from "./refusals.ts";
import { isBackendFailure } from "./outcomes.ts";
import type { Backend } from "../backends/backend.ts";
import { type AdmissionGate, admissionGateFor } from "./admission.ts";
import { Balancer, type RequestRecord } from "./balancer.ts";
import { ConfiguredPools } from "./configured_pools.ts";
import { type InForce, inForce } from "./dispatch.ts";
import {
  ejectionLine,
  listeningLine,
  overloadLine,
  probeLine,
  redirectingLine,
} from "./event_lines.ts";
import { openListeners } from "./listeners.ts";
import { DEFAULT_POOL, Pools } from "./pools.ts";
import type { Route } from "./routes.ts";
import { backgroundTimers, type Clock, monotonicClock, systemClock } from "../lib/time.ts";
import { MemoryTrimmer } from "./memory_trim.ts";
import { IdleHeapReducer } from "./idle_heap_reducer.ts";
import { LagMonitor } from "./overload.ts";
import { createPolicy } from "../policies/mod.ts";
import type { Prober } from "../backends/probes.ts";
import { PoolProbers } from "./pool_probers.ts";
import type { DnsRefresh } from "../backends/dns_refresh.ts";
import type { Transport } from "../transports/transport.ts";
import { AutoTransport } from "../transports/auto.ts";
import { WebSocketBridges } from "./websocket.ts";
import type { RedirectListener } from "./redirect.ts";
import { newStickySecret } from "./sticky.ts";
import {
  type BalancerConfig,
  type Reconfiguration,
  type Reconfigured,
  topOptions,
} from "./server_config.ts";

export type { BalancerConfig, Reconfiguration, Reconfigured } from "./server_config.ts";

/** Starts serving; throws `Deno.errors.AddrInUse` when the port is taken. */
export function startBalancer(config: BalancerConfig): RunningBalancer {
  return new RunningBalancer(config);
}

/** A balancer that is serving: `Deno.serve` hosting the handler of the configuration in force. */
export class RunningBalancer {
  /** e.g. `http://127.0.0.1:8080` */
  readonly url: string;
  readonly hostname: string;
  readonly port: number;
  /** The balancer's own event-loop lag, shared by every configuration. */
  readonly lag: LagMonitor;
  /** Open WebSocket bridges, whatever configuration opened them. */
  readonly websockets: WebSocketBridges;
  /** Hands freed memory back when traffic pauses; absent when `trimMemory` was not given. */
  readonly memoryTrim: MemoryTrimmer | undefined;
  /** Compacts the V8 heap once traffic has stopped; absent when `reduceHeap` was not given. */
  readonly heapReducer: IdleHeapReducer | undefined;
  readonly #config: BalancerConfig;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #pools: Pools;
  readonly #stickySecret: string;
  /** The plain listener that sends clients to HTTPS, when `tls.redirectPort` is set. */
  readonly redirect: RedirectListener | undefined;
  /** Every pool as configured, the default first, and DNS discovery over their names. */
  readonly #configured: ConfiguredPools;
  #routes: readonly Route[];
  #current: InForce;
  /** The admission gate of the configuration in force, or null without one (maxInFlight 0). */
  #admission: AdmissionGate | null = null;
  #onRequest: ((record: RequestRecord) => void) | undefined;
  /** Active health checks by pool, for the pools that set `active.path`. */
  readonly #probers: PoolProbers;
  #stopped = false;

  constructor(config: BalancerConfig) {
    this.#config = config;
    this.websockets = new WebSocketBridges(config.caCerts);
    this.#transport = config.transport ?? new AutoTransport({ caCerts: config.caCerts });
    this.#clock = config.clock ?? systemClock;
    this.#onRequest = config.onRequest;
    this.#stickySecret = config.stickySecret ?? newStickySecret();
    const log = config.log;
    // Lag is a property of the real event loop: it is measured on the real (monotonic)
    // clock even when the balancer's model of time is a test's fake clock.
    this.lag = config.lag ?? new LagMonitor(monotonicClock, {
      onChange: log && ((overloaded, lagMs) => log(overloadLine(overloaded, lagMs))),
    });
    this.memoryTrim = config.trimMemory && new MemoryTrimmer({
      trim: config.trimMemory,
      clock: monotonicClock,
      timers: backgroundTimers,
      onError: (error) =>
        log?.(`memory trim off: ${error instanceof Error ? error.message : error}`),
    });
    this.heapReducer = config.reduceHeap && new IdleHeapReducer({
      reducer: config.reduceHeap,
      clock: monotonicClock,
      timers: backgroundTimers,
      isIdle: () => this.#admission === null || this.#admission.idle,
      onReduced: () => this.memoryTrim?.quiet(),
      onError: (error) =>
        log?.(`idle heap compaction off: ${error instanceof Error ? error.message : error}`),
    });
    this.#configured = new ConfiguredPools(config.backends, topOptions(config), config.pools, {
      resolver: config.resolver,
      clock: this.#clock,
      timers: config.scheduler,
      intervalMs: () => Math.max(100, this.#current.balancer.options.dns.refreshMs),
      apply: () => {
        if (!this.#stopped) this.#apply("gone from DNS").catch(() => {});
      },
      log,
    });
    this.#routes = config.routes ?? [];
    this.#pools = new Pools(this.#configured.plans());
    try {
      const listeners = openListeners(
        config,
        // One read of the configuration in force per request: the request keeps it.
        (request, info) => this.#current.handle(request, info),
        (error) => this.#internalError(error),
      );
      this.#server = listeners.server;
      this.redirect = listeners.redirect;
      this.url = listeners.url;
    } catch (error) {
      this.#transport.close();
      this.websockets.close();
      this.#configured.stop();
      throw error;
    }
    // Built once listening, for the listener's address; no request reaches the handler
    // before this synchronous run ends.
    this.#current = this.#build();
    this.hostname = this.#server.addr.hostname;
    this.port = this.#server.addr.port;
    if (config.lag === undefined) this.lag.start();
    this.memoryTrim?.start();
    this.#probers = this.#startProbers();
    this.#probers.start(this.#current.pools);
    if (log) this.#announce(log);
  }

  /** Says where it listens, for scripts that wait for the line. */
  #announce(log: (line: string) => void): void {
    const sharing = !!this.#config.reusePort;
    log(listeningLine(this.url, sharing, this.#current.balancer.backends));
    if (this.redirect && !sharing) {
      log(redirectingLine(this.hostname, this.redirect.port, this.url));
    }
  }

  /** Active health checks, by pool; their state changes go to the event log. */
  #startProbers(): PoolProbers {
    const { log, probe, caCerts, scheduler } = this.#config;
    const clock = this.#clock;
    return new PoolProbers({
      clock,
      probe,
      caCerts,
      timers: scheduler,
      onChange: log && ((backend) => log(probeLine(backend, clock()))),
    });
  }

  /** The default pool's balancer in force (a new object after each reconfiguration). */
  get balancer(): Balancer {
    return this.#current.balancer;
  }

  /** Every pool's balancer in force by name, the default first. */
  get pools(): ReadonlyMap<string, Balancer> {
    return this.#current.pools;
  }

  /** The routes in force. */
  get routes(): readonly Route[] {
    return this.#current.routes;
  }

  /** The default pool's active health checks, when its `options.active.path` is set. */
  get prober(): Prober | undefined {
    return this.#probers.default;
  }

  /** Backends removed by a reconfiguration that still have tries in flight, every pool's. */
  get draining(): readonly Backend[] {
    return this.#pools.draining;
  }

  /** DNS discovery, when some backend is a name: its names, last good sets, failures. */
  get dns(): DnsRefresh | undefined {
    return this.#configured.dns;
  }

  /**
   * Puts a new configuration in force at once; requests already started finish on the old
   * one. Resolves when the active health checks follow the new backends too.
   */
  reconfigure(next: Reconfiguration): Promise<Reconfigured> {
    if (this.#stopped) return Promise.reject(new Error("Cannot reconfigure a stopped balancer"));
    if ("onRequest" in next) this.#onRequest = next.onRequest;
    this.#routes = next.routes ?? [];
    this.#configured.replace(next.backends, next.options, next.pools);
    return this.#apply("removed from the configuration");
  }

  /** The configured pools, with the names expanded, put in force with the routes. */
  #apply(reason: string): Promise<Reconfigured> {
    const changes = this.#pools.reconfigure(
      this.#configured.plans(),
      this.#clock(),
      reason,
      this.#configured.join(),
    );
    const previous = this.#current;
    this.#current = this.#build();
    const backendsChanged = [...changes.values()].some((c) =>
      c.removed.length > 0 || c.added.length > 0
    );
    return this.#probers.follow(previous.pools, this.#current.pools, backendsChanged)
      .then(() => changes.get(DEFAULT_POOL)!);
  }

  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (default: as long
   * as they take), stops probes, closes upstream connections.
   *
   * @returns whether every in-flight request finished within the grace period.
   */
  async shutdown(graceMs = Infinity): Promise<boolean> {
    this.#stopped = true;
    this.websockets.stopping = true;
    const finished = this.#server.shutdown().then(() => true);
    const redirected = this.redirect?.shutdown();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<boolean>((resolve) => {
      if (Number.isFinite(graceMs)) timer = setTimeout(() => resolve(false), graceMs);
    });
    const drained = await Promise.race([finished, expired]);
    clearTimeout(timer);
    await redirected;
    await this.#configured.stop();
    await this.#probers.stop();
    if (this.#config.lag === undefined) this.lag.stop();
    this.memoryTrim?.close();
    this.heapReducer?.close();
    this.#transport.close();
    this.websockets.close();
    return drained;
  }

  /**
   * The configuration in force: each pool's balancer (one policy each) on the pools'
   * backends, sharing one admission gate, and the routes among them.
   */
  #build(): InForce {
    const config = this.#config;
    const log = config.log;
    const onEject = log || config.onEject
      ? (backend: Backend) => {
        log?.(ejectionLine(backend));
        config.onEject?.(backend);
      }
      : undefined;
    const top = this.#configured.topOptions;
    // One gate for the listener: maxInFlight counts requests, whatever pool serves them.
    const admission = top.maxInFlight > 0
      ? admissionGateFor(top, this.#clock, undefined, this.#onQuiet())
      : null;
    this.#admission = admission;
    const pools = new Map<string, Balancer>();
    for (const pool of this.#configured.all) {
      pools.set(
        pool.name,
        new Balancer({
          options: pool.options,
          backends: this.#pools.get(pool.name).backends,
          policy: createPolicy(pool.options.policy, {
            random: config.random,
            start: config.firstPick,
          }),
          transport: this.#transport,
          clock: this.#clock,
          hostlessOrigin: hostlessOrigin(this.#server.addr, config.tls !== undefined),
          tls: config.tls !== undefined,
          onRequest: this.#onRequest,
          onEject,
          explainPicks: config.explainPicks,
          stickySecret: this.#stickySecret,
          lag: this.lag,
          websockets: this.websockets,
          pool: pool.name,
          admission,
        }),
      );
    }
    return inForce(pools, this.#routes);
  }

  /** What to tell when the last request in flight is answered, if anyone listens. */
  #onQuiet(): (() => void) | undefined {
    const trim = this.memoryTrim?.quiet;
    const reduce = this.heapReducer?.quiet;
    if (trim && reduce) {
      return () => {
        trim();
        reduce();
      };
    }
    return trim ?? reduce;
  }

  /**
   * What `Deno.serve` answers when the handler throws. A response body the backend cut or
   * left idle also lands here, after its head went out: not the balancer's fault, and
   * already counted against the backend when the transport reported it.
   */
  #internalError(error: unknown): Response {
    if (!isBackendFailure(error)) {
      this.#config.log?.(`internal error: ${error instanceof Error ? error.stack : error}`);
    }
    return Response.json({ error: "internal error in the balancer" }, { status: 500 });
  }
}
