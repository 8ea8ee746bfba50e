/**
 * The balancer's tunables, each documented where it is declared with its unit and default.
 * Defaults live in {@linkcode DEFAULT_OPTIONS} and nowhere else.
 *
 * @module
 */

/** How the proxy behaves; the per-backend settings live with each backend. */
export interface BalancerOptions {
  /**
   * Per-try timeout in milliseconds: how long one backend may take to answer with its status
   * line and headers before the try is abandoned, the backend is marked failed and the
   * request moves on ("max delay response" in the original). Default 2000 (2 s).
   */
  readonly timeoutMs: number;
  /**
   * Retry downtime in milliseconds: how long a backend that failed is skipped before it is
   * tried again. Default 10000 (10 s).
   */
  readonly retryDowntimeMs: number;
  /**
   * Largest request body, in bytes, that is buffered so it can be replayed on another
   * backend. Larger bodies stream straight through and are never retried after being sent.
   * Default 1048576 (1 MiB).
   */
  readonly replayLimitBytes: number;
  /**
   * Whether a request that reached a backend (and failed there) may be replayed on the next
   * backend even when its method is not idempotent. `true` follows the original balancer, so
   * the alternating-failure scenario is invisible to clients for POST too. With `false`, only
   * idempotent methods (RFC 9110 §9.2.2) and requests carrying an `Idempotency-Key` header
   * move on after they were sent. A connection that never reached a backend is always
   * retried. Default true.
   */
  readonly retryNonIdempotent: boolean;
  /**
   * Peer addresses whose incoming `X-Forwarded-*` headers are believed and extended. From
   * any other peer they are replaced, so a client cannot forge its address. Exact IP
   * addresses. Default none.
   */
  readonly trustedProxies: readonly string[];
}

/** The documented defaults, in one place. */
export const DEFAULT_OPTIONS: BalancerOptions = {
  timeoutMs: 2_000,
  retryDowntimeMs: 10_000,
  replayLimitBytes: 1_048_576,
  retryNonIdempotent: true,
  trustedProxies: [],
};
