/**
 * The balancer's tunables, each documented where it is declared with its unit and default.
 * Defaults live in {@linkcode DEFAULT_OPTIONS} and nowhere else.
 *
 * @module
 */

import type { ActiveHealthOptions } from "../backends/probes.ts";
import type { CountedFailure, HealthSettings } from "../backends/health.ts";

export type { ActiveHealthOptions, CountedFailure };

/** How the proxy behaves; the per-backend settings live with each backend. */
export interface BalancerOptions {
  /**
   * Per-try timeout in milliseconds: how long one backend may take to answer with its status
   * line and headers before the try is abandoned, the backend is marked failed and the
   * request moves on ("max delay response" in the original). For a request body streamed
   * past the replay limit it counts from when the whole body has been sent, as nginx's
   * `proxy_read_timeout` does: a slow upload is not the backend being slow. Default 2000
   * (2 s).
   */
  readonly timeoutMs: number;
  /**
   * Body idle timeout in milliseconds: once a response's headers have been forwarded, the
   * longest the backend may leave its body without sending more bytes. Past it the
   * response is cut (the client sees its connection end before the body does) and the try
   * counts as a `timeout` failure of the backend. As nginx's `proxy_read_timeout`. Waiting
   * for a slow client to read does not count. The same limit applies to a request body
   * streamed to a backend (over the replay limit): a backend that takes none of it for this
   * long is a `timeout` failure (nginx's `proxy_send_timeout`), a client that sends none of
   * it for this long is answered 408 (nginx's `client_body_timeout`). 0 turns all three off.
   * Default 60000 (60 s).
   */
  readonly bodyIdleTimeoutMs: number;
  /**
   * Retry downtime in milliseconds: how long a backend that failed is skipped before it is
   * tried again. Default 10000 (10 s).
   */
  readonly retryDowntimeMs: number;
  /**
   * Largest request body, in bytes, that is buffered so it can be replayed on another
   * backend. Larger bodies stream straight through and are never retried after being sent.
   * Default 1048576 (1 MiB). Such bodies are held in memory while their request lasts, so
   * request bodies take at most this much times the requests in flight; larger ones
   * stream with backpressure.
   */
  readonly replayLimitBytes: number;
  /**
   * Largest request body accepted, in bytes; 0 accepts any size. A declared
   * `content-length` over it is answered 413 at once, before any backend is contacted; a
   * chunked body is read until it passes the limit, then answered 413 (the try on its way
   * to a backend, if any, is abandoned and not held against the backend). Default 104857600
   * (100 MiB): large uploads pass, a runaway one cannot tie a backend up for ever.
   */
  readonly maxBodyBytes: number;
  /**
   * Largest request head accepted, in bytes: the total length of the header field names
   * and values. More is answered 431 without contacting a backend. 0 turns the check off.
   * `Deno.serve` itself answers 400 and closes the connection for a head over about
   * 64 KiB or with more than about 127 fields, before the balancer sees it, so limits
   * above 64 KiB change nothing. Default 32768 (32 KiB), as nginx's
   * `large_client_header_buffers` allows.
   */
  readonly maxHeaderBytes: number;
  /**
   * Longest request target accepted (path and query as sent), in bytes; a longer one is
   * answered 414 without contacting a backend. 0 turns the check off. `Deno.serve` itself
   * answers 400 and closes the connection for a whole head over 65,540 bytes (measured with
   * Deno 2.9.6), target included, before the balancer sees it, so limits above about 64 KiB
   * change nothing. Default 8192 (8 KiB), as one of nginx's `large_client_header_buffers`.
   */
  readonly maxTargetBytes: number;
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
  /** Backend selection policy, by name (see `policies/mod.ts`). Default `round-robin`. */
  readonly policy: string;
  /** Passive health: what real traffic teaches about backends. */
  readonly passive: PassiveHealthOptions;
  /** Active health: probes sent on their own schedule. Off unless `path` is set. */
  readonly active: ActiveHealthOptions;
  /**
   * What to do when every backend is ejected. `fail-fast`: answer 503 at once with
   * `Retry-After`. `least-recently-failed`: send the request to the backend whose failure is
   * oldest, as a last resort. Default `fail-fast`.
   */
  readonly panic: "fail-fast" | "least-recently-failed";
  /**
   * Which `Host` the backend gets. `client`: the `Host` the client sent, as Caddy, Traefik
   * and HAProxy do, so a backend that builds absolute URLs or picks a virtual host from it
   * sees the public name. `backend`: the host and port of the backend's own URL, as nginx's
   * default `proxy_set_header Host $proxy_host`. Either way the client's `Host` is also in
   * `x-forwarded-host`. Default `client`.
   */
  readonly upstreamHost: "client" | "backend";
  /**
   * Whether a `Location` or `Content-Location` response header that points at the answering
   * backend's own base URL (its configured scheme, host and port) is rewritten to the
   * address the client used (the scheme and `Host` of its request), as nginx's
   * `proxy_redirect default`. Applies with either `upstreamHost`. Default true.
   */
  readonly rewriteLocation: boolean;
  /**
   * Whether responses carry `x-app-url`, naming the backend that answered. Off, clients
   * cannot learn internal addresses from it (access logs still name the backend).
   * Default true (the original's contract).
   */
  readonly exposeBackend: boolean;
  /**
   * Whether the 502/504/503-overload bodies the balancer makes up list each try (`tried`:
   * backend address, outcome, error such as `connection refused (10.0.0.5:8001)`). Off,
   * the body says what happened in words only (`upstream timed out`, `upstream
   * unreachable`); the event and access logs keep the details. Default true.
   */
  readonly errorDetails: boolean;
  /**
   * Slow start window in milliseconds: a backend that returns to rotation gets a share of
   * traffic that grows linearly from ~0 to its full share over this window. 0 turns it off.
   * Default 0.
   */
  readonly slowStartMs: number;
}

/**
 * Passive health settings. Every ejection lasts `retryDowntimeMs`, unless `backoff` is
 * `exponential`.
 */
export interface PassiveHealthOptions {
  /** Consecutive failed tries that eject a backend. Default 1 (the original's behaviour). */
  readonly failuresToEject: number;
  /**
   * Which failures count. `connect`: no connection; `timeout`: no response within the
   * per-try timeout; `reset`: connection broken or invalid HTTP; `5xx`: a 5xx status.
   * Default all four.
   */
  readonly countedFailures: readonly CountedFailure[];
  /**
   * How long repeated ejections last. `none`: every ejection lasts exactly `retryDowntimeMs`
   * (the original's contract: a failed backend is skipped for the retry downtime, then used
   * again). `exponential`: each ejection that follows another without a healthy spell
   * (`healthySpellMs`) lasts twice as long as the one before, up to `maxEjectionMs` (Envoy's
   * outlier detection). Default `none`.
   */
  readonly backoff: "none" | "exponential";
  /**
   * Longest ejection in milliseconds, with `backoff: exponential` only (ignored otherwise).
   * Each ejection that follows another without a healthy spell in between lasts twice as
   * long as the one before, up to this cap. Default 300000 (5 min).
   */
  readonly maxEjectionMs: number;
  /**
   * With `backoff: exponential` only (ignored otherwise): a backend that has served without
   * failure for this long, in milliseconds, is forgiven its past ejections: the next one
   * lasts `retryDowntimeMs` again. Default 60000 (1 min).
   */
  readonly healthySpellMs: number;
}

/** The documented defaults, in one place. */
export const DEFAULT_OPTIONS: BalancerOptions = {
  timeoutMs: 2_000,
  bodyIdleTimeoutMs: 60_000,
  retryDowntimeMs: 10_000,
  replayLimitBytes: 1_048_576,
  maxBodyBytes: 104_857_600,
  maxHeaderBytes: 32_768,
  maxTargetBytes: 8_192,
  retryNonIdempotent: true,
  trustedProxies: [],
  policy: "round-robin",
  passive: {
    failuresToEject: 1,
    countedFailures: ["connect", "timeout", "reset", "5xx"],
    backoff: "none",
    maxEjectionMs: 300_000,
    healthySpellMs: 60_000,
  },
  active: {
    path: undefined,
    intervalMs: 5_000,
    timeoutMs: 1_000,
    expectStatusMin: 200,
    expectStatusMax: 399,
    rise: 2,
    fall: 3,
  },
  panic: "fail-fast",
  upstreamHost: "client",
  rewriteLocation: true,
  exposeBackend: true,
  errorDetails: true,
  slowStartMs: 0,
};

/**
 * The settings {@linkcode Health} takes from the balancer's options. With only `ejectMs`
 * (a shorthand for tests and benchmarks), the defaults with that retry downtime.
 */
export function healthSettings(
  options: BalancerOptions | { readonly ejectMs: number },
): HealthSettings {
  if ("ejectMs" in options) {
    return healthSettings({ ...DEFAULT_OPTIONS, retryDowntimeMs: options.ejectMs });
  }
  return {
    retryDowntimeMs: options.retryDowntimeMs,
    exponential: options.passive.backoff === "exponential",
    failuresToEject: Math.max(1, options.passive.failuresToEject),
    countedFailures: new Set(options.passive.countedFailures),
    maxEjectionMs: Math.max(options.retryDowntimeMs, options.passive.maxEjectionMs),
    healthySpellMs: options.passive.healthySpellMs,
    slowStartMs: Math.max(0, options.slowStartMs),
    rise: Math.max(1, options.active.rise),
    fall: Math.max(1, options.active.fall),
    probeIntervalMs: options.active.intervalMs,
  };
}
