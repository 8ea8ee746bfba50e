// Over 300 lines: the listener, its pools and routes, their reconfiguration (DNS discovery's changes too), probes and shutdown share one state.
/**
 * Runs a {@linkcode Balancer} on `Deno.serve`, changes its configuration without dropping a
 * request, and stops it cleanly.
 *
 * A configuration in force is one immutable {@linkcode Balancer} (options, backends,
 * policy). The server's handler reads the current one once per request, so a request runs
 * start to end on the settings it started with; {@linkcode RunningBalancer.reconfigure}
 * builds the next `Balancer` and swaps it in one assignment; which backends are added, kept
 * and drained is the `Pool`'s business (`backends/pool.ts`).
 *
 * @module
 */

import { hostlessOrigin } from "./refusals.ts";
import { isBackendFailure } from "./outcomes.ts";
import type { Backend, BackendConfig } from "../backends/backend.ts";
import type { PoolChange } from "../backends/pool.ts";
import { admissionGateFor } from "./admission.ts";
import { Balancer, type RequestRecord } from "./balancer.ts";
import { type InForce, inForce } from "./dispatch.ts";
import { DEFAULT_POOL, type PoolConfig, type PoolPlan, Pools } from "./pools.ts";
import type { Route } from "./routes.ts";
import { type Clock, monotonicClock, systemClock, systemTimers, type Timers } from "../lib/time.ts";
import { formatDuration } from "../lib/duration.ts";
import { LagMonitor } from "./overload.ts";
import { type BalancerOptions, DEFAULT_OPTIONS, healthSettings } from "./options.ts";
import { createPolicy } from "../policies/mod.ts";
import type { Random } from "../policies/policy.ts";
import type { ProbeFn, Prober } from "../backends/probes.ts";
import { PoolProbers } from "./pool_probers.ts";
import type { Transport } from "../transports/transport.ts";
import { AutoTransport } from "../transports/auto.ts";
import { WebSocketBridges } from "./websocket.ts";
import { type RedirectListener, startRedirect } from "./redirect.ts";
import { DnsRefresh } from "../backends/dns_refresh.ts";
import { newStickySecret } from "./sticky.ts";
import { dnsResolver, needsDiscovery, type Resolver } from "../backends/discovery.ts";

/** Everything needed to start a balancer. */
export interface BalancerConfig {
  /** Address to listen on. Default 127.0.0.1. */
  readonly hostname?: string;
  /** Port to listen on; 0 picks a free one. Default 8080. */
  readonly port?: number;
  /** The backends, in rotation order. */
  readonly backends: readonly BackendConfig[];
  /** Selection policy name. Default `options.policy`. */
  readonly policy?: string;
  /** Proxy tunables; missing fields take {@linkcode DEFAULT_OPTIONS}. */
  readonly options?: Partial<BalancerOptions>;
  /** Upstream transport. Default a new {@linkcode AutoTransport}, closed on shutdown. */
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
   * Share the port with other listeners that set it too (SO_REUSEPORT; the kernel spreads
   * new connections among them): how `--workers N` serves one port from N threads.
   * Default false.
   */
  readonly reusePort?: boolean;
  /**
   * The event-loop lag monitor (see `overload.ts`). Default a new one on `clock`, started
   * here and stopped on shutdown; a given one is left for its owner to stop.
   */
  readonly lag?: LagMonitor;
  /**
   * Serve HTTPS (h2 or http/1.1 by ALPN) with this PEM chain and key, and when `redirectPort`
   * is given also plain HTTP there, answering 308 to HTTPS (`redirect.ts`). Default plain HTTP.
   */
  readonly tls?: { readonly cert: string; readonly key: string; readonly redirectPort?: number };
  /** PEM CAs trusted for https:// backends by the default transport and the probes. */
  readonly caCerts?: readonly string[];
  /** Pools besides the default one (`backends` with `options`). Default none. */
  readonly pools?: readonly PoolConfig[];
  /** Routes to the pools, in order. Default none: every request goes to the default pool. */
  readonly routes?: readonly Route[];
  /**
   * The key of sticky cookies while `options.stickySecret` is unset: the process's, given to
   * every worker. Default a random one made here, kept across reconfigurations.
   */
  readonly stickySecret?: string;
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
  readonly #config: BalancerConfig;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #pools: Pools;
  readonly #stickySecret: string;
  /** The plain listener that sends clients to HTTPS, when `tls.redirectPort` is set. */
  readonly redirect: RedirectListener | undefined;
  /** Every pool as configured, the default first: backend names not expanded. */
  #configured: readonly PoolConfig[];
  #routes: readonly Route[];
  /** DNS discovery, made once some backend is a name; never for IP-only lists. */
  #dns: DnsRefresh | undefined;
  #current: InForce;
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
    const options: BalancerOptions = {
      ...DEFAULT_OPTIONS,
      ...config.options,
      policy: config.policy ?? config.options?.policy ?? DEFAULT_OPTIONS.policy,
    };
    this.#configured = poolConfigs(config.backends, options, config.pools);
    this.#routes = config.routes ?? [];
    this.#dns = this.#startDns(options);
    this.#pools = new Pools(this.#plans());
    try {
      this.#server = Deno.serve({
        hostname: config.hostname ?? "127.0.0.1",
        port: config.port ?? 8080,
        // Only set when asked: the single-thread path stays exactly as it was.
        ...(config.reusePort ? { reusePort: true } : {}),
        ...(config.tls ? { cert: config.tls.cert, key: config.tls.key } : {}),
        onListen: () => {},
        onError: (error) => this.#internalError(error),
        // One read of the configuration in force per request: the request keeps it.
      }, (request, info) => this.#current.handle(request, info));
    } catch (error) {
      this.#transport.close();
      this.websockets.close();
      this.#dns?.stop();
      throw error;
    }
    try {
      this.redirect = this.#startRedirect();
    } catch (error) {
      this.#server.shutdown();
      this.#transport.close();
      this.websockets.close();
      this.#dns?.stop();
      throw error;
    }
    // Built once listening, for the listener's address; no request reaches the handler
    // before this synchronous run ends.
    this.#current = this.#build();
    const addr = this.#server.addr;
    this.hostname = addr.hostname;
    this.port = addr.port;
    this.url = `${config.tls ? "https" : "http"}://${addr.hostname}:${addr.port}`;
    if (config.lag === undefined) this.lag.start();
    const clock = this.#clock;
    this.#probers = new PoolProbers({
      clock,
      probe: config.probe,
      caCerts: config.caCerts,
      timers: config.scheduler,
      onChange: log && ((backend) => log(probeLine(backend, clock()))),
    });
    this.#probers.start(this.#current.pools);
    const list = this.#current.balancer.backends.map((b) => b.url).join(", ");
    // A worker's socket is one of several on the port: "listening on" is said once, by the
    // process, when every worker serves (scripts wait for that line).
    log?.(`${config.reusePort ? "sharing" : "listening on"} ${this.url}, backends ${list}`);
    if (this.redirect && !config.reusePort) {
      log?.(`redirecting http://${this.hostname}:${this.redirect.port} to ${this.url}`);
    }
  }

  /** The plain listener redirecting to HTTPS, when configured. */
  #startRedirect(): RedirectListener | undefined {
    const { tls, reusePort } = this.#config;
    if (tls?.redirectPort === undefined) return undefined;
    const { hostname, port } = this.#server.addr;
    return startRedirect({ hostname, port: tls.redirectPort, tlsPort: port, reusePort });
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
    return this.#dns;
  }

  /**
   * Puts a new configuration in force at once; requests already started finish on the old
   * one. Resolves when the active health checks follow the new backends too.
   */
  reconfigure(next: Reconfiguration): Promise<Reconfigured> {
    if (this.#stopped) return Promise.reject(new Error("Cannot reconfigure a stopped balancer"));
    if ("onRequest" in next) this.#onRequest = next.onRequest;
    this.#configured = poolConfigs(next.backends, next.options, next.pools);
    this.#routes = next.routes ?? [];
    this.#dns ??= this.#startDns(next.options);
    // New names resolve now rather than at the next tick (their last good set meanwhile);
    // with no name left, no timer runs.
    if (needsDiscovery(this.#everyConfigured())) this.#dns?.refreshNow();
    else this.#dns?.pause();
    return this.#apply("removed from the configuration");
  }

  /** The configured pools, with the names expanded, put in force with the routes. */
  #apply(reason: string): Promise<Reconfigured> {
    const active = this.#configured[0].options.active;
    const changes = this.#pools.reconfigure(
      this.#plans(),
      this.#clock(),
      reason,
      // Addresses a name gains after its first answer join as a returning backend would.
      this.#dns && { joins: this.#dns.discovery.joins, awaitProbes: !!active.path },
    );
    const previous = this.#current;
    this.#current = this.#build();
    const backendsChanged = [...changes.values()].some((c) =>
      c.removed.length > 0 || c.added.length > 0
    );
    return this.#probers.follow(previous.pools, this.#current.pools, backendsChanged)
      .then(() => changes.get(DEFAULT_POOL)!);
  }

  /** Every pool's configured backends, for DNS discovery to find the names among them. */
  #everyConfigured(): readonly BackendConfig[] {
    return this.#configured.flatMap((pool) => pool.backends);
  }

  /** What the pools should hold now: each one's backends with the names expanded. */
  #plans(): PoolPlan[] {
    return this.#configured.map((pool) => ({
      name: pool.name,
      backends: this.#dns ? this.#dns.discovery.expand(pool.backends) : pool.backends,
      settings: healthSettings(pool.options),
    }));
  }

  /** DNS discovery when some configured backend is a name; nothing otherwise. */
  #startDns(options: BalancerOptions): DnsRefresh | undefined {
    if (!needsDiscovery(this.#everyConfigured())) return undefined;
    return new DnsRefresh({
      resolver: this.#config.resolver ?? dnsResolver(options.dns.resolver),
      clock: this.#clock,
      timers: this.#config.scheduler ?? systemTimers,
      configured: () => this.#everyConfigured(),
      intervalMs: () => Math.max(100, this.#current.balancer.options.dns.refreshMs),
      apply: () => {
        if (!this.#stopped) this.#apply("gone from DNS").catch(() => {});
      },
      log: this.#config.log,
    });
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
    await this.#dns?.stop();
    await this.#probers.stop();
    if (this.#config.lag === undefined) this.lag.stop();
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
    const top = this.#configured[0].options;
    // One gate for the listener: maxInFlight counts requests, whatever pool serves them.
    const admission = top.maxInFlight > 0 ? admissionGateFor(top, this.#clock) : null;
    const pools = new Map<string, Balancer>();
    for (const pool of this.#configured) {
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

/** Every pool as configured, the default (the top-level backends and options) first. */
function poolConfigs(
  backends: readonly BackendConfig[],
  options: BalancerOptions,
  pools: readonly PoolConfig[] = [],
): PoolConfig[] {
  return [{ name: DEFAULT_POOL, backends, options }, ...pools];
}

/**
 * e.g. `overloaded: event loop 740ms late; timeouts are not held against backends`. Written
 * at most once per start and once per end: overload ends only after a calm window.
 */
function overloadLine(overloaded: boolean, lagMs: number): string {
  return overloaded
    ? `overloaded: event loop ${Math.round(lagMs)}ms late; per-try timeouts meanwhile are ` +
      "answered 503 and not held against backends"
    : "no longer overloaded: event loop on time again";
}

/** e.g. `backend http://127.0.0.1:8002 marked failed for 10s: status 500` */
function ejectionLine(backend: Backend): string {
  const cause = backend.health.cause;
  const lengthMs = backend.health.ejectedUntilMs - (cause?.atMs ?? 0);
  const length = formatDuration(lengthMs);
  return `backend ${named(backend)} marked failed for ${length}: ${cause?.detail}`;
}

/** A backend as the event log names it: its URL, and its pool unless the default one. */
function named(backend: Backend): string {
  return backend.pool === DEFAULT_POOL ? backend.url : `${backend.url} (pool ${backend.pool})`;
}

/** e.g. `backend http://127.0.0.1:8002 failed: probe GET /health: status 503 (...)` */
function probeLine(backend: Backend, nowMs: number): string {
  const state = backend.health.state(nowMs);
  return `backend ${named(backend)} ${state}: ${backend.health.cause?.detail}`;
}
