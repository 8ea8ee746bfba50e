/**
 * The one selection interface every load-balancing policy implements. One policy per file in
 * `policies/`, registered by name in `policies/mod.ts`.
 *
 * @module
 */

import type { Backend } from "./backend.ts";

/** Chooses the backend for the next try of a request. */
export interface Policy {
  /**
   * Picks an available backend that is not in `tried`, or returns `undefined` when there is
   * none; the caller turns that into a response. Called once per try, so it must be cheap.
   */
  pick(backends: readonly Backend[], nowMs: number, tried: readonly Backend[]): Backend | undefined;
}

/** Whether `backend` may take the next try. */
export function eligible(backend: Backend, nowMs: number, tried: readonly Backend[]): boolean {
  return backend.available(nowMs) && (tried.length === 0 || !tried.includes(backend));
}
