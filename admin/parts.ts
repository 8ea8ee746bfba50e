/**
 * What every part of the admin API works with, and the one rule several workers add.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import type { Backend } from "../backends/backend.ts";
import type { Clock } from "../lib/time.ts";
import type { LiveConfig } from "../config/live.ts";
import type { RunningBalancer } from "../balancer/server.ts";
import type { Metrics } from "./metrics.ts";
import type { History } from "./history.ts";
import { problem } from "./errors.ts";

/** What the admin API works with. */
export interface AdminParts {
  readonly live: LiveConfig;
  readonly running: RunningBalancer;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Bearer token every request must carry; unset: none needed. */
  readonly token?: string;
  /** `GET /metrics` needs no token (`metrics.public`). Default false. */
  readonly metricsPublic?: boolean;
  /** How often a `wait` polls the in-flight count, in milliseconds. Default 20. */
  readonly pollMs?: number;
  /** Aborted when the process stops: waits end at once. */
  readonly stopping?: AbortSignal;
  /** Set when this is one of several workers (`--workers N`). */
  readonly worker?: WorkerRole;
  /** Per-second figures for the dashboard; `startAdmin` makes and feeds one when unset. */
  readonly history?: History;
  /** The event log, where operators' actions are recorded with who asked. Default: none. */
  readonly log?: (line: string) => void;
}

/** Which of several workers an instance is, and how it reaches the others. */
export interface WorkerRole {
  /** From 0. */
  readonly index: number;
  /** How many workers there are. */
  readonly count: number;
  /** Asks every other worker to reload (through the main thread). */
  reloadOthers(reason: string): void;
}

/** The backends the admin API can name: every pool's in force, then those a reload removed. */
export function everyBackend(parts: AdminParts): Backend[] {
  const inForce = [...parts.running.pools.values()].flatMap((pool) => pool.backends);
  return [...inForce, ...parts.running.draining];
}

/**
 * Guards a route that changes the backends or the configuration: with several workers it
 * would change this one only and the workers would disagree, so it answers 409 and points
 * to the config file and a reload, which every worker follows.
 */
export function oneWorkerOnly(parts: AdminParts): MiddlewareHandler {
  return async (c, next) => {
    const worker = parts.worker;
    if (worker === undefined) return await next();
    return problem(
      c,
      409,
      `${c.req.method} ${c.req.path} would change worker ${worker.index} only, ` +
        `and the ${worker.count} workers would disagree: change the config file ` +
        "and reload (SIGHUP or POST /reload) instead",
      { worker: { index: worker.index, count: worker.count } },
    );
  };
}

/**
 * Records an operator's action in the event log with who asked: the peer address Deno.serve
 * hands Hono as `c.env` (`unknown` under `app.request()`, which has no socket), e.g.
 * `admin 127.0.0.1: disabled backend http://10.0.0.1:8000`.
 */
export function audit(c: Context, parts: AdminParts, action: string): void {
  parts.log?.(`admin ${peerOf(c)}: ${action}`);
}

/** The caller's address, from the Deno.serve handler info Hono receives as its env. */
function peerOf(c: Context): string {
  const info = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return info?.remoteAddr?.hostname ?? "unknown";
}
