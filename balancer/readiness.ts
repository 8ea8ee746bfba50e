/**
 * The answers to orchestrators' health checks, `GET /healthz` (liveness) and `GET /readyz`
 * (readiness), as the admin API serves them and, with the setting `health.onListener`, the
 * balancer's own port (see `refusals.ts`). Liveness says only that the process serves HTTP:
 * restarting it would not bring a dead backend back. Readiness says whether sending it
 * traffic makes sense: it is listening with a configuration in force (it is answering, from
 * a built `Balancer`) and at least one backend is available, so that a Service stops sending
 * requests to a replica that could only answer 503.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";

/** The paths, as Kubernetes' own components name them. */
export const LIVENESS_PATH = "/healthz";
export const READINESS_PATH = "/readyz";

/** Why a balancer is not ready, or `undefined` when it is. */
export function notReadyBecause(
  backends: readonly Backend[],
  nowMs: number,
): string | undefined {
  if (backends.length === 0) return "no backends configured";
  for (const backend of backends) if (backend.available(nowMs)) return undefined;
  return `no backend available: all ${backends.length} are out of rotation ` +
    "(failed, draining or disabled)";
}

/** `200 {"status":"ok"}`: the process serves. */
export function livenessAnswer(): Response {
  return Response.json({ status: "ok" }, { headers: NO_STORE });
}

/**
 * `200 {"status":"ready", …}` or `503 {"status":"not ready","reason":…, …}`, with how many
 * backends are in each state. No backend address: the answer needs no token and may be on
 * the public port, where `exposeBackend: false` promises that internal addresses stay hidden.
 */
export function readinessAnswer(
  backends: readonly Backend[],
  nowMs: number,
  stopping = false,
): Response {
  const reason = stopping ? "shutting down" : notReadyBecause(backends, nowMs);
  const states: Record<string, number> = {};
  let available = 0;
  for (const backend of backends) {
    const state = backend.health.state(nowMs);
    states[state] = (states[state] ?? 0) + 1;
    if (backend.available(nowMs)) available++;
  }
  const figures = { available, total: backends.length, states };
  if (reason === undefined) {
    return Response.json({ status: "ready", ...figures }, { headers: NO_STORE });
  }
  return Response.json({ status: "not ready", reason, ...figures }, {
    status: 503,
    headers: NO_STORE,
  });
}

/** A probe's answer is about this moment: no cache may keep it. */
const NO_STORE = { "cache-control": "no-store" };
