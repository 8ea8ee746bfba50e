/**
 * What the balancer believes about each backend, and why, as one JSON-serialisable
 * document: served by the admin API at `GET /status` and printed by the `status` command.
 * This module is its one builder. Built only when asked, from the counters the request path
 * keeps anyway.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { Cause, HealthState } from "../backends/health.ts";
import type { LatencySummary } from "../backends/latency.ts";
import type { Balancer } from "../balancer/balancer.ts";
import type { Route } from "../balancer/routes.ts";
import type { RunningBalancer } from "../balancer/server.ts";
import type { StickySpec } from "../balancer/sticky.ts";
import { VERSION } from "../lib/version.ts";

/** A cause with its time as an ISO 8601 string. */
export interface CauseStatus {
  readonly source: Cause["source"];
  readonly detail: string;
  readonly at: string;
}

/** One entry of a backend's recent history. */
export interface TransitionStatus extends CauseStatus {
  readonly from: HealthState;
  readonly to: HealthState;
  /** For an ejection: when it ends. */
  readonly until?: string;
}

/** One backend in the status document. */
export interface BackendStatus {
  /** Stable short id, e.g. `127.0.0.1:8001`, as used in `/backends/{id}`. */
  readonly id: string;
  readonly url: string;
  /** The configured URL DNS discovery resolved it from; absent for a backend as configured. */
  readonly from?: string;
  /** The pool it serves in; absent for the default pool (the top-level backends). */
  readonly pool?: string;
  /** Configured weight. */
  readonly weight: number;
  /** Weight now, lower during slow start. */
  readonly effectiveWeight: number;
  readonly state: HealthState;
  /** Why it is in that state; `null` if nothing ever happened to it. */
  readonly cause: CauseStatus | null;
  /** End of the current passive ejection; `null` when not ejected by traffic. */
  readonly ejectedUntil: string | null;
  readonly inFlight: number;
  /** WebSocket connections open through it now. */
  readonly websockets: number;
  readonly requests: number;
  readonly failures: number;
  readonly ejections: number;
  readonly lastError: { readonly detail: string; readonly at: string } | null;
  /** Time to response headers: peak-sensitive moving average and recent percentiles. */
  readonly latencyMs: LatencySummary;
  /** The last active probe; `null` when probes are off or none finished yet. */
  readonly probe: {
    readonly ok: boolean;
    readonly status: number | null;
    readonly error: string | null;
    readonly latencyMs: number;
    readonly at: string;
  } | null;
  /** Recent transitions, oldest first. */
  readonly history: readonly TransitionStatus[];
}

/** The backends in force and the policy choosing among them. */
export interface BalancerStatus {
  readonly policy: string;
  /** Setting `sticky` (never its secret); absent when off. */
  readonly sticky?: StickySpec;
  /** When it was taken. */
  readonly at: string;
  readonly backends: readonly BackendStatus[];
}

/** The whole document, as `GET /status` serves it. */
export interface StatusDocument extends BalancerStatus {
  /** The running Roundabout's version (`lib/version.ts`). */
  readonly version: string;
  /** Which of several workers answered (`--workers N`); absent with one process. */
  readonly worker?: WorkerPlace;
  /** Backends a reload removed that still have tries in flight. */
  readonly draining: readonly BackendStatus[];
  /** The balancer's own load (see balancer/overload.ts): whether timeouts are its fault. */
  readonly overload: {
    readonly overloaded: boolean;
    readonly eventLoopLagMs: number;
    readonly episodes: number;
  };
  /** Every pool (the default first), present when `pools` or `routes` are configured. */
  readonly pools?: readonly PoolStatus[];
  /** The routes in order, present when `pools` or `routes` are configured. */
  readonly routes?: readonly RouteStatus[];
  /** DNS discovery, present when some backend is a name (`backends/discovery.ts`). */
  readonly dns?: {
    /** Resolutions that failed since start; each kept its name's last good set. */
    readonly failures: number;
    readonly names: readonly NameStatusDoc[];
  };
}

/** One pool: its policy, per-try timeout and backends. */
export interface PoolStatus {
  readonly name: string;
  readonly policy: string;
  readonly timeoutMs: number;
  /** The pool's `sticky` (never its secret); absent when off. */
  readonly sticky?: StickySpec;
  readonly backends: readonly BackendStatus[];
}

/** One route: what it matches and where it sends it. */
export interface RouteStatus extends Pick<Route, "pool" | "stripPrefix" | "timeoutMs"> {
  readonly index: number;
  readonly match: Pick<Route, "host" | "pathPrefix" | "methods" | "headers">;
}

/** One configured name: the backends it stands for, and whether its newest resolution failed. */
export interface NameStatusDoc {
  readonly url: string;
  readonly backends: readonly string[];
  readonly resolvedAt: string | null;
  /** Why the newest resolution failed (the last good set is kept); `null` when it succeeded. */
  readonly error: string | null;
}

/** One worker among several: its index from 0 and how many there are. */
export interface WorkerPlace {
  readonly index: number;
  readonly count: number;
}

/** What {@linkcode statusSnapshot} reads; a `Balancer` has it. */
export interface StatusSource {
  readonly backends: readonly Backend[];
  readonly policyName: string;
  readonly sticky?: StickySpec;
}

/** The backends in force at `nowMs`: the core of the status document. */
export function statusSnapshot(balancer: StatusSource, nowMs: number): BalancerStatus {
  const sticky = balancer.sticky;
  return {
    policy: balancer.policyName,
    ...(sticky ? { sticky: { ...sticky } } : {}),
    at: iso(nowMs),
    backends: balancer.backends.map((backend) => backendStatus(backend, nowMs)),
  };
}

/** The whole status document of `running` at `nowMs`, naming `worker` when there are several. */
export function statusDocument(
  running:
    & Pick<RunningBalancer, "balancer" | "draining" | "lag">
    & Partial<Pick<RunningBalancer, "dns" | "pools" | "routes">>,
  nowMs: number,
  worker?: WorkerPlace,
): StatusDocument {
  const lag = running.lag;
  return {
    version: VERSION,
    ...statusSnapshot(running.balancer, nowMs),
    ...(worker ? { worker: { index: worker.index, count: worker.count } } : {}),
    draining: running.draining.map((backend) => backendStatus(backend, nowMs)),
    overload: {
      overloaded: lag.overloaded,
      eventLoopLagMs: Math.round(lag.lagMs()),
      episodes: lag.episodes,
    },
    ...routingStatus(running, nowMs),
    ...(running.dns ? { dns: dnsStatus(running.dns) } : {}),
  };
}

/** Pools and routes, when there is more than the default pool to show. */
function routingStatus(
  running: Partial<Pick<RunningBalancer, "pools" | "routes">>,
  nowMs: number,
): Pick<StatusDocument, "pools" | "routes"> {
  const pools: ReadonlyMap<string, Balancer> = running.pools ?? new Map();
  const routes = running.routes ?? [];
  if (pools.size <= 1 && routes.length === 0) return {};
  return {
    pools: [...pools].map(([name, balancer]) => ({
      name,
      policy: balancer.policyName,
      timeoutMs: balancer.options.timeoutMs,
      ...(balancer.sticky ? { sticky: { ...balancer.sticky } } : {}),
      backends: balancer.backends.map((backend) => backendStatus(backend, nowMs)),
    })),
    routes: routes.map(({ pool, stripPrefix, timeoutMs, ...match }, index) => ({
      index,
      match,
      pool,
      stripPrefix,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    })),
  };
}

function dnsStatus(dns: NonNullable<RunningBalancer["dns"]>): StatusDocument["dns"] {
  return {
    failures: dns.discovery.failures,
    names: dns.discovery.status().map((name) => ({
      url: name.url,
      backends: name.backends,
      resolvedAt: name.resolvedAtMs === null ? null : iso(name.resolvedAtMs),
      error: name.error,
    })),
  };
}

/** One backend's entry of the status document at `nowMs`. */
export function backendStatus(backend: Backend, nowMs: number): BackendStatus {
  const health = backend.health;
  const state = health.state(nowMs);
  const cause = health.causeAt(nowMs);
  const probe = backend.probe;
  const ejected = state === "failed" && nowMs < health.ejectedUntilMs;
  return {
    id: backend.id,
    url: backend.url,
    ...(backend.config.from === undefined ? {} : { from: backend.config.from }),
    ...(backend.pool === "default" ? {} : { pool: backend.pool }),
    weight: backend.config.weight,
    effectiveWeight: Math.round(backend.effectiveWeight(nowMs) * 1000) / 1000,
    state,
    cause: cause ? causeStatus(cause) : null,
    ejectedUntil: ejected ? iso(health.ejectedUntilMs) : null,
    inFlight: backend.inFlight,
    websockets: backend.websockets,
    requests: backend.requests,
    failures: backend.failures,
    ejections: health.ejections,
    lastError: backend.lastError
      ? { detail: backend.lastError.detail, at: iso(backend.lastError.atMs) }
      : null,
    latencyMs: backend.latency.summary(nowMs),
    probe: probe
      ? {
        ok: probe.ok,
        status: probe.status,
        error: probe.error,
        latencyMs: probe.latencyMs,
        at: iso(probe.atMs),
      }
      : null,
    history: health.history(nowMs).map((t) => ({
      from: t.from,
      to: t.to,
      ...causeStatus(t.cause),
      ...(t.untilMs === undefined ? {} : { until: iso(t.untilMs) }),
    })),
  };
}

function causeStatus(cause: Cause): CauseStatus {
  return { source: cause.source, detail: cause.detail, at: iso(cause.atMs) };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
