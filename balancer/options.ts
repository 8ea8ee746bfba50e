/**
 * The balancer's tunables as the request path reads them. Each is a setting declared once,
 * with its unit, default, range and description, in `config/settings.ts` (its `field` names
 * the member here); the comments below name that setting rather than repeat it.
 *
 * @module
 */

import type { ActiveHealthOptions } from "../backends/probes.ts";
import type { CountedFailure, HealthSettings } from "../backends/health.ts";
import type { StickySpec } from "./sticky.ts";

export type { ActiveHealthOptions, CountedFailure };

/** How the proxy behaves; the per-backend settings live with each backend. */
export interface BalancerOptions {
  /** Setting `timeout`: the per-try timeout. */
  readonly timeoutMs: number;
  /** Setting `bodyIdleTimeout`: the longest a body may stall either way; 0 is off. */
  readonly bodyIdleTimeoutMs: number;
  /** Setting `retryDowntime`: how long a failed backend is skipped. */
  readonly retryDowntimeMs: number;
  /** Setting `replayLimit`: largest request body buffered for replay. */
  readonly replayLimitBytes: number;
  /** Setting `maxBodySize`: largest request body accepted (413); 0 is any. */
  readonly maxBodyBytes: number;
  /** Setting `maxHeaderSize`: largest request head accepted (431); 0 is off. */
  readonly maxHeaderBytes: number;
  /** Setting `maxTargetSize`: longest request target accepted (414); 0 is off. */
  readonly maxTargetBytes: number;
  /** Setting `retryAfterSend`: `all` is true, `idempotent` false. */
  readonly retryNonIdempotent: boolean;
  /** Setting `trustedProxies`. */
  readonly trustedProxies: readonly string[];
  /** Setting `policy`, by name (see `policies/mod.ts`). */
  readonly policy: string;
  /** Setting `sticky`: what keeps a client on one backend (`sticky.ts`); unset is off. */
  readonly sticky?: StickySpec;
  /** Setting `stickySecret`: the key of sticky cookies; unset, the process's own. */
  readonly stickySecret?: string;
  /** Settings `passive.*`: what real traffic teaches about backends. */
  readonly passive: PassiveHealthOptions;
  /** Settings `active.*`: probes on their own schedule, off unless `path` is set. */
  readonly active: ActiveHealthOptions;
  /** Setting `panic`: what to do when every backend is ejected. */
  readonly panic: "fail-fast" | "least-recently-failed";
  /** Setting `upstreamHost`: which `Host` the backend gets. */
  readonly upstreamHost: "client" | "backend";
  /** Setting `rewriteLocation`. */
  readonly rewriteLocation: boolean;
  /** Setting `exposeBackend`: the `x-app-url` response header. */
  readonly exposeBackend: boolean;
  /** Setting `errorDetails`: tries listed in the bodies the balancer makes up. */
  readonly errorDetails: boolean;
  /** Setting `slowStart`: the ramp-up window; 0 is off. */
  readonly slowStartMs: number;
  /** Setting `maxInFlight`: requests forwarded at once (`admission.ts`); 0 is off. */
  readonly maxInFlight: number;
  /** Setting `health.onListener`: `/healthz` and `/readyz` answered on the balancer's port. */
  readonly healthOnListener: boolean;
  /** Setting `timeline`: each request's phases timed (`lib/timeline.ts`) for the access log. */
  readonly timeline: boolean;
  /** Settings `dns.*`: how backend names are resolved (`backends/discovery.ts`). */
  readonly dns: DnsOptions;
}

/** Settings `dns.*`. */
export interface DnsOptions {
  /** Setting `dns.refresh`: time between two resolutions of every backend name. */
  readonly refreshMs: number;
  /** Setting `dns.resolver`: `IP:PORT` of the DNS server to ask; unset, the system's. */
  readonly resolver?: string;
}

/** Settings `passive.*`. */
export interface PassiveHealthOptions {
  /** Setting `passive.failuresToEject`. */
  readonly failuresToEject: number;
  /** Setting `passive.countedFailures`. */
  readonly countedFailures: readonly CountedFailure[];
  /** Setting `passive.backoff`. */
  readonly backoff: "none" | "exponential";
  /** Setting `passive.maxEjection`, with `backoff: exponential` only. */
  readonly maxEjectionMs: number;
  /** Setting `passive.healthySpell`, with `backoff: exponential` only. */
  readonly healthySpellMs: number;
}

/**
 * The defaults of `config/settings.ts`, for the code below `config/` that cannot import it
 * (the balancer, tests and benchmarks that build a balancer without a configuration).
 * tests/config_test.ts checks that they are the table's.
 */
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
  sticky: undefined,
  stickySecret: undefined,
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
  maxInFlight: 64,
  healthOnListener: false,
  timeline: false,
  dns: { refreshMs: 10_000, resolver: undefined },
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
