/**
 * What the metrics count for each backend, and the label values that index it: the layout
 * shared by the per-request hooks and the scrape in `metrics.ts`.
 *
 * @module
 */

import type { HealthState } from "../backends/health.ts";

/** The `method` label values; anything else is `other`. */
export const METHOD_CLASSES = [
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "other",
] as const;
/** The `code` label values (status classes), indexed by `status / 100 - 1`. */
export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
/** Upper bounds of the latency histogram's buckets, in seconds. */
export const LATENCY_BUCKETS_S: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];
/** The same bounds in milliseconds, as tries are timed. */
export const LATENCY_BUCKETS_MS = LATENCY_BUCKETS_S.map((s) => s * 1000);
/** Every health state; the record type makes a missing one a type error. */
export const STATES = Object.keys(
  {
    healthy: true,
    failed: true,
    recovering: true,
    draining: true,
    disabled: true,
  } satisfies Record<HealthState, true>,
) as HealthState[];

/** The `kind` label values of `roundabout_backend_failures_total`. */
export const FAILURE_KINDS = ["connect", "timeout", "reset", "5xx"] as const;

/**
 * The `FAILURE_KINDS` index of a try's outcome, or -1 for one that is not the backend's
 * failure (`ok`, `client-gone`, `overload`). A protocol error is a broken exchange: `reset`,
 * as passive health counts it.
 */
export function failureIndex(outcome: string): number {
  switch (outcome) {
    case "connect":
      return 0;
    case "timeout":
      return 1;
    case "reset":
    case "protocol":
      return 2;
    case "status":
      return 3;
    default:
      return -1;
  }
}

/** The bucket of `ms` in a histogram over `LATENCY_BUCKETS_MS` (the last: beyond them all). */
export function bucketOf(ms: number): number {
  let bucket = 0;
  while (bucket < LATENCY_BUCKETS_MS.length && ms > LATENCY_BUCKETS_MS[bucket]) bucket++;
  return bucket;
}

/** The label for requests no backend answered. */
export const NO_BACKEND = "none";

/** The `METHOD_CLASSES` index of `method`. */
export function methodIndex(method: string): number {
  switch (method) {
    case "GET":
      return 0;
    case "HEAD":
      return 1;
    case "POST":
      return 2;
    case "PUT":
      return 3;
    case "DELETE":
      return 4;
    case "PATCH":
      return 5;
    case "OPTIONS":
      return 6;
    default:
      return 7;
  }
}

/** One backend's counters, allocated once. */
export class Figures {
  /** By method class × status class. */
  readonly requests = new Float64Array(METHOD_CLASSES.length * STATUS_CLASSES.length);
  /** Tries per latency bucket (not cumulative; the last slot is beyond the largest bound). */
  readonly latency = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
  latencySumMs = 0;
  ejections = 0;
  /** Failed tries by `FAILURE_KINDS` index. */
  readonly failures = new Float64Array(FAILURE_KINDS.length);
}
