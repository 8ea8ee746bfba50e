/**
 * Prometheus metrics (text exposition format 0.0.4). Counting is cheap: one map lookup per
 * backend touched and a few increments of preallocated typed arrays per request, from the
 * balancer's per-request record and ejection hooks; no string is built on the request path.
 * The text is built only when scraped.
 *
 * - `roundabout_requests_total{backend,method_class,status_class}`: client requests by the
 *   backend whose answer the client got (`none` when no backend answered: 502/503/504 made
 *   by the balancer), the method (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS or other)
 *   and the status class (1xx … 5xx).
 * - `roundabout_upstream_latency_seconds{backend}`: histogram of each try's time until the
 *   backend's status and headers arrived (or the try failed).
 * - `roundabout_retries_total`: tries beyond the first of each request.
 * - `roundabout_ejections_total{backend}`: times a failed try took a backend out.
 * - `roundabout_backend_state{backend,state}`: 1 for the backend's current state, else 0.
 * - `roundabout_backend_in_flight{backend}`: tries waiting on the backend now.
 * - `roundabout_overload_rejections_total`: requests answered 503 because a try timed out
 *   while the balancer itself lagged (see `balancer/outcomes.ts`); no backend was blamed.
 * - `roundabout_event_loop_lag_seconds`: the worst event-loop lag of the last few seconds.
 * - `roundabout_overloaded`: 1 while the balancer counts itself overloaded, else 0.
 * - `roundabout_overload_episodes_total`: times overload started.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { RequestRecord } from "../balancer/balancer.ts";
import type { HealthState } from "../backends/health.ts";
import type { LagMonitor } from "../balancer/overload.ts";

/** The `method_class` label values; anything else is `other`. */
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
const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
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
const LATENCY_BUCKETS_MS = LATENCY_BUCKETS_S.map((s) => s * 1000);
/** Every health state; the record type makes a missing one a type error. */
const STATES = Object.keys(
  {
    healthy: true,
    failed: true,
    recovering: true,
    draining: true,
    disabled: true,
  } satisfies Record<HealthState, true>,
) as HealthState[];

/** The label for requests no backend answered. */
export const NO_BACKEND = "none";

function methodIndex(method: string): number {
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
class Figures {
  /** By method class × status class. */
  readonly requests = new Float64Array(METHOD_CLASSES.length * STATUS_CLASSES.length);
  /** Tries per latency bucket (not cumulative; the last slot is beyond the largest bound). */
  readonly latency = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
  latencySumMs = 0;
  ejections = 0;
}

/** Counts what the balancer does and writes it in Prometheus' text format. */
export class Metrics {
  readonly #figures = new Map<string, Figures>();
  #retries = 0;
  #overloadRejections = 0;

  /** The per-request hook: cheap, allocation-free for known backends. */
  readonly onRequest = (record: RequestRecord): void => {
    const status = record.status;
    const statusIndex = status < 200
      ? 0
      : status < 300
      ? 1
      : status < 400
      ? 2
      : status < 500
      ? 3
      : 4;
    const figures = this.#of(record.backend ?? NO_BACKEND);
    figures.requests[methodIndex(record.method) * STATUS_CLASSES.length + statusIndex]++;
    const tries = record.tries;
    if (tries.length > 1) this.#retries += tries.length - 1;
    for (let i = 0; i < tries.length; i++) {
      const t = tries[i];
      if (t.outcome === "overload") this.#overloadRejections++;
      const f = this.#of(t.backend);
      let bucket = 0;
      while (bucket < LATENCY_BUCKETS_MS.length && t.durationMs > LATENCY_BUCKETS_MS[bucket]) {
        bucket++;
      }
      f.latency[bucket]++;
      f.latencySumMs += t.durationMs;
    }
  };

  /** The ejection hook. */
  readonly onEject = (backend: Backend): void => {
    this.#of(backend.url).ejections++;
  };

  #of(backend: string): Figures {
    let figures = this.#figures.get(backend);
    if (figures === undefined) {
      figures = new Figures();
      this.#figures.set(backend, figures);
    }
    return figures;
  }

  /**
   * The exposition text for `backends` (those configured and those still draining) at
   * `nowMs`, with the event-loop figures of `lag` when given. Figures of backends that are
   * in neither are dropped.
   */
  render(
    backends: readonly Backend[],
    nowMs: number,
    lag?: Pick<LagMonitor, "lagMs" | "overloaded" | "episodes">,
  ): string {
    const urls = new Set(backends.map((b) => b.url));
    for (const url of this.#figures.keys()) {
      if (url !== NO_BACKEND && !urls.has(url)) this.#figures.delete(url);
    }
    for (const url of urls) this.#of(url);
    const out: string[] = [];
    const entries = [...this.#figures.entries()];

    out.push(
      "# HELP roundabout_requests_total Client requests by the backend that answered " +
        "(none: answered by the balancer), method and status class.",
      "# TYPE roundabout_requests_total counter",
    );
    for (const [url, f] of entries) {
      for (let m = 0; m < METHOD_CLASSES.length; m++) {
        for (let s = 0; s < STATUS_CLASSES.length; s++) {
          const value = f.requests[m * STATUS_CLASSES.length + s];
          if (value === 0) continue;
          out.push(
            `roundabout_requests_total{backend="${label(url)}",method_class="${
              METHOD_CLASSES[m]
            }",status_class="${STATUS_CLASSES[s]}"} ${value}`,
          );
        }
      }
    }

    out.push(
      "# HELP roundabout_upstream_latency_seconds Time from sending a try to its backend's " +
        "status and headers (or its failure).",
      "# TYPE roundabout_upstream_latency_seconds histogram",
    );
    for (const [url, f] of entries) {
      if (url === NO_BACKEND) continue;
      const b = label(url);
      let cumulative = 0;
      for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
        cumulative += f.latency[i];
        out.push(
          `roundabout_upstream_latency_seconds_bucket{backend="${b}",le="${
            LATENCY_BUCKETS_S[i]
          }"} ${cumulative}`,
        );
      }
      cumulative += f.latency[LATENCY_BUCKETS_S.length];
      out.push(
        `roundabout_upstream_latency_seconds_bucket{backend="${b}",le="+Inf"} ${cumulative}`,
        `roundabout_upstream_latency_seconds_sum{backend="${b}"} ${f.latencySumMs / 1000}`,
        `roundabout_upstream_latency_seconds_count{backend="${b}"} ${cumulative}`,
      );
    }

    out.push(
      "# HELP roundabout_retries_total Tries beyond the first of each request.",
      "# TYPE roundabout_retries_total counter",
      `roundabout_retries_total ${this.#retries}`,
      "# HELP roundabout_ejections_total Times a failed try took a backend out of rotation.",
      "# TYPE roundabout_ejections_total counter",
    );
    for (const [url, f] of entries) {
      if (url !== NO_BACKEND) {
        out.push(`roundabout_ejections_total{backend="${label(url)}"} ${f.ejections}`);
      }
    }

    out.push(
      "# HELP roundabout_backend_state The backend's health state (1 for the current one).",
      "# TYPE roundabout_backend_state gauge",
    );
    for (const backend of backends) {
      const current = backend.health.state(nowMs);
      for (const state of STATES) {
        out.push(
          `roundabout_backend_state{backend="${label(backend.url)}",state="${state}"} ${
            state === current ? 1 : 0
          }`,
        );
      }
    }

    out.push(
      "# HELP roundabout_backend_in_flight Tries waiting on the backend now.",
      "# TYPE roundabout_backend_in_flight gauge",
    );
    for (const backend of backends) {
      out.push(`roundabout_backend_in_flight{backend="${label(backend.url)}"} ${backend.inFlight}`);
    }

    out.push(
      "# HELP roundabout_overload_rejections_total Requests answered 503 because a try timed " +
        "out while the balancer itself lagged (no backend blamed).",
      "# TYPE roundabout_overload_rejections_total counter",
      `roundabout_overload_rejections_total ${this.#overloadRejections}`,
    );
    if (lag !== undefined) {
      out.push(
        "# HELP roundabout_event_loop_lag_seconds Worst event-loop lag of the last few seconds.",
        "# TYPE roundabout_event_loop_lag_seconds gauge",
        `roundabout_event_loop_lag_seconds ${lag.lagMs() / 1000}`,
        "# HELP roundabout_overloaded 1 while the balancer counts itself overloaded.",
        "# TYPE roundabout_overloaded gauge",
        `roundabout_overloaded ${lag.overloaded ? 1 : 0}`,
        "# HELP roundabout_overload_episodes_total Times the balancer became overloaded.",
        "# TYPE roundabout_overload_episodes_total counter",
        `roundabout_overload_episodes_total ${lag.episodes}`,
      );
    }
    return out.join("\n") + "\n";
  }
}

/** A label value escaped as the text format requires (backslash, quote, newline). */
function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
