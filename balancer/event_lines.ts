/**
 * The event log's lines about a running balancer: it listens, it is overloaded or no longer,
 * a backend is marked failed by requests or changes state by probes. One function per line,
 * so the words are in one place (scripts and tests wait for some of them).
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { formatDuration } from "../lib/duration.ts";
import { DEFAULT_POOL } from "./pools.ts";

/**
 * e.g. `listening on http://127.0.0.1:8080, backends http://127.0.0.1:8001, ...`. A worker's
 * socket is one of several on the port: "listening on" is said once, by the process, when
 * every worker serves (scripts wait for that line); a worker says "sharing".
 */
export function listeningLine(url: string, sharing: boolean, backends: readonly Backend[]): string {
  const list = backends.map((b) => b.url).join(", ");
  return `${sharing ? "sharing" : "listening on"} ${url}, backends ${list}`;
}

/** e.g. `redirecting http://127.0.0.1:8081 to https://127.0.0.1:8443` */
export function redirectingLine(hostname: string, port: number, url: string): string {
  return `redirecting http://${hostname}:${port} to ${url}`;
}

/**
 * e.g. `overloaded: event loop 740ms late; timeouts are not held against backends`. Written
 * at most once per start and once per end: overload ends only after a calm window.
 */
export function overloadLine(overloaded: boolean, lagMs: number): string {
  return overloaded
    ? `overloaded: event loop ${Math.round(lagMs)}ms late; per-try timeouts meanwhile are ` +
      "answered 503 and not held against backends"
    : "no longer overloaded: event loop on time again";
}

/** e.g. `backend http://127.0.0.1:8002 marked failed for 10s: status 500` */
export function ejectionLine(backend: Backend): string {
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
export function probeLine(backend: Backend, nowMs: number): string {
  const state = backend.health.state(nowMs);
  return `backend ${named(backend)} ${state}: ${backend.health.cause?.detail}`;
}
