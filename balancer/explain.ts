/**
 * Why a try went to its backend, for the dashboard's recent requests: the policy's reason,
 * what the request moved on from, and every backend passed over at that pick with why.
 *
 * Built only when the balancer explains picks (the admin API is on), after the pick, from
 * state the backends already keep; the request path without observers never calls it.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { Policy } from "../policies/policy.ts";
import type { PickWhy, SkippedBackend, TryRecord } from "./outcomes.ts";

/**
 * Why `chosen` took the next try at `nowMs`: the policy's words, after what the request
 * moved on from (`previous`, the last try's record), and the backends passed over.
 */
export function explainPick(
  policy: Policy,
  backends: readonly Backend[],
  chosen: Backend,
  nowMs: number,
  tried: readonly Backend[],
  previous: TryRecord | undefined,
): PickWhy {
  let reason = chosen.available(nowMs)
    ? policy.explain?.(chosen, nowMs) ?? `chosen by ${policy.name}`
    : "every backend out of rotation: the one whose last failure is oldest (panic)";
  if (previous !== undefined) {
    reason = `moved on after ${previous.backend} ${failure(previous)}; ${reason}`;
  }
  const skipped: SkippedBackend[] = [];
  for (const backend of backends) {
    if (backend === chosen) continue;
    const why = skipReason(backend, nowMs, tried);
    if (why !== undefined) skipped.push({ backend: backend.url, reason: why });
  }
  return { reason, skipped };
}

/**
 * Why `backend` could not take the try at `nowMs`, or was taken at less than its weight;
 * `undefined` for a backend in rotation at full weight that the policy simply did not pick.
 */
export function skipReason(
  backend: Backend,
  nowMs: number,
  tried: readonly Backend[],
): string | undefined {
  if (tried.includes(backend)) return "already tried by this request";
  const health = backend.health;
  const state = health.state(nowMs);
  const cause = health.causeAt(nowMs);
  const detail = cause === undefined ? "" : `: ${cause.detail}`;
  switch (state) {
    case "draining":
      return `draining${detail}`;
    case "disabled":
      return `disabled by an operator${detail}`;
    case "failed":
      if (cause?.source === "request" && health.ejectedUntilMs > nowMs) {
        return `failed until ${clockTime(health.ejectedUntilMs)}${detail}`;
      }
      return `failed until probes pass${detail}`;
  }
  if (backend.standby(nowMs)) {
    return `standby (SRV priority ${backend.config.priority}) behind an available backend`;
  }
  const share = health.weightFactor(nowMs);
  if (share < 1) return `slow start: ${Math.round(share * 100)}% of its weight`;
  return undefined;
}

/** `HH:MM:SS UTC`: the reason is made on the server, which does not know the reader's zone. */
export function clockTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

function failure(record: TryRecord): string {
  if (record.outcome === "status") return `status ${record.status}`;
  return record.error === undefined ? record.outcome : `${record.outcome} (${record.error})`;
}
