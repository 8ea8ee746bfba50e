/**
 * Runs a {@linkcode Balancer} on `Deno.serve`, changes its configuration without dropping a
 * request, and stops it cleanly.
 *
 * A configuration in force is one immutable {@linkcode Balancer} (options, backends,
 * policy). The server's handler reads the current one once per request, so a request runs
 * start to end on the settings it started with; {@linkcode RunningBalancer.reconfigure}
 * builds the next `Balancer` and swaps it in one assignment. Backends kept across the change
 * (same URL) are the same `Backend` objects, with their health state and figures, and take
 * the new weight and health settings (`Backend.reconfigure`). Removed
 * backends are drained: no new try goes to them (their health says `draining`, which every
 * generation's policy respects), tries in flight finish, and they are forgotten once empty.
 *
 * @module
 */

import { type EdgeContext, hostlessOrigin, refuseAtEdge } from "./refusals.ts";
import { Backend, type BackendConfig } from "../backends/backend.ts";
import { Balancer, type RequestRecord } from "./balancer.ts";
import { type Clock, monotonicClock, systemClock, type Timers } from "../lib/time.ts";
import { formatDuration } from "../lib/duration.ts";
import { LagMonitor } from "./overload.ts";
import { type BalancerOptions, DEFAULT_OPTIONS, healthSettings } from "./options.ts";
import { createPolicy } from "../policies/mod.ts";
import type { Random } from "../policies/policy.ts";
import { type ProbeFn, Prober } from "../backends/probes.ts";
import { type Transport, UpstreamError } from "../transports/transport.ts";
import { AutoTransport } from "../transports/auto.ts";

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
  /** Event log sink (backend marked failed, listening, reloads). Default none. */
  readonly log?: (line: string) => void;
  /** How active probes are sent (tests fake it). Default `fetch`. */
  readonly probe?: ProbeFn;
  /** Timers for active probes (tests drive them). Default the real timers. */
  readonly scheduler?: Timers;
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
}

/** A new configuration for a running balancer. */
export interface Reconfiguration {
  readonly backends: readonly BackendConfig[];
  readonly options: BalancerOptions;
  /** A new per-request sink; leave the key out to keep the current one. */
  readonly onRequest?: ((record: RequestRecord) => void) | undefined;
}

/** What a reconfiguration changed, by backend URL. */
export interface Reconfigured {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Kept backends whose weight changed. */
  readonly reweighted: readonly string[];
}

/** A balancer that is serving. */
export interface RunningBalancer {
  /** The configuration in force (a new object after each reconfiguration). */
  readonly balancer: Balancer;
  /** e.g. `http://127.0.0.1:8080` */
  readonly url: string;
  readonly hostname: string;
  readonly port: number;
  /** The active health checks in force, when `options.active.path` is set. */
  readonly prober?: Prober;
  /** Backends removed by a reconfiguration that still have tries in flight. */
  readonly draining: readonly Backend[];
  /** The balancer's own event-loop lag, shared by every configuration. */
  readonly lag: LagMonitor;
  /**
   * Puts a new configuration in force at once; requests already started finish on the old
   * one. Resolves when the active health checks follow the new backends too.
   */
  reconfigure(next: Reconfiguration): Promise<Reconfigured>;
  /**
   * Stops accepting, lets in-flight requests finish for up to `graceMs` (default: as long
   * as they take), stops probes, closes upstream connections.
   *
   * @returns whether every in-flight request finished within the grace period.
   */
  shutdown(graceMs?: number): Promise<boolean>;
}

/** Starts serving; throws `Deno.errors.AddrInUse` when the port is taken. */
export function startBalancer(config: BalancerConfig): RunningBalancer {
  const transport = config.transport ?? new AutoTransport();
  const clock = config.clock ?? systemClock;
  const log = config.log;
  // Lag is a property of the real event loop: it is measured on the real (monotonic) clock
  // even when the balancer's model of time is a test's fake clock.
  const lag = config.lag ?? new LagMonitor(monotonicClock, {
    onChange: log && ((overloaded, lagMs) => log(overloadLine(overloaded, lagMs))),
  });
  const onEject = (backend: Backend) => {
    log?.(ejectionLine(backend));
    config.onEject?.(backend);
  };
  const build = (
    options: BalancerOptions,
    backends: readonly Backend[],
    onRequest: ((record: RequestRecord) => void) | undefined,
  ) =>
    new Balancer({
      options,
      backends,
      policy: createPolicy(options.policy, { random: config.random, start: config.firstPick }),
      transport,
      clock,
      onRequest,
      onEject: log || config.onEject ? onEject : undefined,
      lag,
    });
  const startProber = (balancer: Balancer): Prober | undefined => {
    if (!balancer.options.active.path) return undefined;
    const prober = new Prober({
      backends: balancer.backends,
      options: balancer.options.active,
      clock,
      probe: config.probe,
      timers: config.scheduler,
      onChange: log && ((backend) => log(probeLine(backend, clock()))),
    });
    prober.start();
    return prober;
  };

  const options: BalancerOptions = {
    ...DEFAULT_OPTIONS,
    ...config.options,
    policy: config.policy ?? config.options?.policy ?? DEFAULT_OPTIONS.policy,
  };
  const settings = healthSettings(options);
  let onRequest = config.onRequest;
  let current = build(options, config.backends.map((b) => new Backend(b, settings)), onRequest);
  let removed: Backend[] = [];
  // What the edge checks need: the listener's fallback origin (set once listening) and the
  // limit in force (replaced on reconfiguration), one object for every request.
  let edge: EdgeContext = { hostlessOrigin: "", maxTargetBytes: options.maxTargetBytes };
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: config.hostname ?? "127.0.0.1",
      port: config.port ?? 8080,
      // Only set when asked: the single-thread path stays exactly as it was.
      ...(config.reusePort ? { reusePort: true } : {}),
      onListen: () => {},
      onError: (error) => {
        // A response body the backend cut or left idle also lands here, after its head went
        // out: not the balancer's fault, and already counted against the backend.
        if (!(error instanceof UpstreamError)) {
          log?.(`internal error: ${error instanceof Error ? error.stack : error}`);
        }
        return Response.json({ error: "internal error in the balancer" }, { status: 500 });
      },
      // One read of `current` per request: the request keeps that configuration.
    }, (request, info) => refuseAtEdge(request, edge) ?? current.handle(request, info));
  } catch (error) {
    transport.close();
    throw error;
  }
  edge = { ...edge, hostlessOrigin: hostlessOrigin(server.addr) };
  if (config.lag === undefined) lag.start();
  let prober = startProber(current);
  // Prober changes run one after another, in the order of the reconfigurations.
  let probers: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const url = `http://${server.addr.hostname}:${server.addr.port}`;
  const list = current.backends.map((b) => b.url).join(", ");
  // A worker's socket is one of several on the port: "listening on" is said once, by the
  // process, when every worker serves (scripts wait for that line).
  log?.(`${config.reusePort ? "sharing" : "listening on"} ${url}, backends ${list}`);

  return {
    get balancer() {
      return current;
    },
    url,
    hostname: server.addr.hostname,
    port: server.addr.port,
    get prober() {
      return prober;
    },
    lag,
    get draining() {
      removed = removed.filter((backend) => backend.inFlight > 0);
      return removed;
    },
    reconfigure(next) {
      if (stopped) return Promise.reject(new Error("Cannot reconfigure a stopped balancer"));
      const nowMs = clock();
      const settings = healthSettings(next.options);
      // A removed backend is remembered while it has tries in flight; added back then, it
      // is the same object again.
      removed = removed.filter((backend) => backend.inFlight > 0);
      const known = new Map<string, Backend>();
      for (const backend of [...removed, ...current.backends]) known.set(backend.url, backend);
      const added: string[] = [];
      const reweighted: string[] = [];
      const backends = next.backends.map((config) => {
        const kept = known.get(config.url);
        if (kept === undefined) {
          added.push(config.url);
          return new Backend(config, settings);
        }
        known.delete(config.url);
        if (kept.health.state(nowMs) === "draining" && removed.includes(kept)) {
          kept.health.enable({ source: "admin", detail: "back in the configuration", atMs: nowMs });
        }
        if (kept.config.weight !== config.weight) reweighted.push(config.url);
        // New weight and health settings (retry downtime, thresholds, back-off, slow start)
        // from now on; its health state, figures and a current ejection's end stay.
        kept.reconfigure(config, settings);
        return kept;
      });
      const gone = current.backends.filter((backend) => known.has(backend.url));
      for (const backend of gone) {
        backend.health.drain({
          source: "admin",
          detail: "removed from the configuration",
          atMs: nowMs,
        });
      }
      removed = [...removed.filter((b) => known.has(b.url)), ...gone];
      if ("onRequest" in next) onRequest = next.onRequest;
      const previous = current;
      current = build(next.options, backends, onRequest);
      edge = { ...edge, maxTargetBytes: next.options.maxTargetBytes };
      const before = prober;
      const changed = gone.length > 0 || added.length > 0 ||
        JSON.stringify(previous.options.active) !== JSON.stringify(next.options.active);
      const done = probers.then(async () => {
        if (!changed || stopped) return;
        await before?.stop();
        if (!stopped) prober = startProber(current);
      });
      probers = done.catch(() => {});
      return done.then(() => ({ added, removed: gone.map((b) => b.url), reweighted }));
    },
    async shutdown(graceMs = Infinity) {
      stopped = true;
      const finished = server.shutdown().then(() => true);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<boolean>((resolve) => {
        if (Number.isFinite(graceMs)) timer = setTimeout(() => resolve(false), graceMs);
      });
      const drained = await Promise.race([finished, expired]);
      clearTimeout(timer);
      await probers;
      await prober?.stop();
      if (config.lag === undefined) lag.stop();
      transport.close();
      return drained;
    },
  };
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
  return `backend ${backend.url} marked failed for ${formatDuration(lengthMs)}: ${cause?.detail}`;
}

/** e.g. `backend http://127.0.0.1:8002 failed: probe GET /health: status 503 (...)` */
function probeLine(backend: Backend, nowMs: number): string {
  return `backend ${backend.url} ${backend.health.state(nowMs)}: ${backend.health.cause?.detail}`;
}
