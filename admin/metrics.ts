// Over 300 lines: the per-request counters and the families rendered from them share one state.
/**
 * Prometheus metrics (text exposition format 0.0.4). Counting is cheap: one map lookup per
 * backend touched and a few increments of preallocated typed arrays per request, from the
 * balancer's per-request record and ejection hooks; no string is built on the request path.
 * The text is built only when scraped.
 *
 * Every per-backend series exists, at 0, from the first scrape, so `rate()` sees the first
 * error rather than a series appearing.
 *
 * - `roundabout_requests_total{backend,method,code}`: client requests by the
 *   backend whose answer the client got (`none` when no backend answered: 502/503/504 made
 *   by the balancer), the method (GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS or other)
 *   and the status class in `code` (1xx … 5xx: classes keep the series few).
 * - `roundabout_request_duration_seconds`: histogram of the time the client waited for the
 *   answer's status and headers, every try and retry included.
 * - `roundabout_backend_failures_total{backend,kind}`: failed tries by kind (connect,
 *   timeout, reset, 5xx), whether or not passive health held them against the backend.
 * - `roundabout_upstream_latency_seconds{backend}`: histogram of each try's time until the
 *   backend's status and headers arrived (or the try failed).
 * - `roundabout_retries_total`: tries beyond the first of each request.
 * - `roundabout_ejections_total{backend}`: times a failed try took a backend out.
 * - `roundabout_backend_state{backend,state}`: 1 for the backend's current state, else 0.
 * - `roundabout_backend_in_flight{backend}`: tries waiting on the backend now.
 * - `roundabout_websockets_open{backend}`: WebSocket connections open through the backend.
 * - `roundabout_probes_total{backend,result}`: active probes, `pass` or `fail`.
 * - `roundabout_overload_rejections_total`: requests answered 503 because a try timed out
 *   while the balancer itself lagged (see `balancer/outcomes.ts`); no backend was blamed.
 * - `roundabout_admission_rejected_total`: requests answered 503 after waiting the per-try
 *   timeout for a slot in the admission gate (`maxInFlight`, `balancer/admission.ts`).
 * - `roundabout_event_loop_lag_seconds`: the worst event-loop lag of the last few seconds.
 * - `roundabout_overloaded`: 1 while the balancer counts itself overloaded, else 0.
 * - `roundabout_overload_episodes_total`: times overload started.
 * - `roundabout_dns_failures_total`: backend name resolutions that failed (each kept its
 *   last good set); only when some backend is a DNS name.
 * - `roundabout_memory_trims_total{released}` and `roundabout_memory_trim_on`: freed memory
 *   handed back to the system (`balancer/memory_trim.ts`); only when `memoryTrim` is on and
 *   the process may call malloc_trim.
 * - `roundabout_memory_heap_compactions_total` and `roundabout_memory_heap_compaction_on`: the
 *   V8 heap compacted once the balancer went idle (`balancer/idle_heap_reducer.ts`); only
 *   when `memoryTrim` is on and the process runs with `--v8-flags=--expose-gc`.
 * - `roundabout_build_info{version}`, `roundabout_config_reloads_total{result}`,
 *   `roundabout_config_last_reload_success_timestamp_seconds` and the `process_*` metrics:
 *   see `exposition.ts`.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { RequestRecord } from "../balancer/balancer.ts";
import {
  buildInfoFamily,
  compactionFamilies,
  type CompactionFigures,
  family,
  inFlightFamily,
  lagFamilies,
  type LagFigures,
  probesFamily,
  processFamilies,
  reloadFamilies,
  type ReloadFigures,
  type SeriesLabels,
  seriesLabels,
  trimFamilies,
  type TrimFigures,
  websocketsFamily,
} from "./exposition.ts";
import {
  bucketOf,
  FAILURE_KINDS,
  failureIndex,
  Figures,
  LATENCY_BUCKETS_MS,
  LATENCY_BUCKETS_S,
  METHOD_CLASSES,
  methodIndex,
  NO_BACKEND,
  STATES,
  STATUS_CLASSES,
} from "./figures.ts";
import { RecentRequests } from "./recent.ts";

/** Counts what the balancer does and writes it in Prometheus' text format. */
export class Metrics {
  /** By pool, then by backend URL. */
  readonly #figures = new Map<string, Map<string, Figures>>();
  #retries = 0;
  #overloadRejections = 0;
  #admissionRejections = 0;
  /** The last requests with their tries, for the dashboard (`GET /recent`). */
  readonly recent: RecentRequests = new RecentRequests();
  /** Client-facing request durations, by latency bucket (not cumulative). */
  readonly #durations = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
  #durationSumMs = 0;

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
    const pool = this.#pool(record.pool ?? "default");
    const figures = this.#of(pool, record.backend ?? NO_BACKEND);
    figures.requests[methodIndex(record.method) * STATUS_CLASSES.length + statusIndex]++;
    this.#durations[bucketOf(record.durationMs)]++;
    this.#durationSumMs += record.durationMs;
    if (record.admissionRejected) this.#admissionRejections++;
    const tries = record.tries;
    if (tries.length > 1) this.#retries += tries.length - 1;
    for (let i = 0; i < tries.length; i++) {
      const t = tries[i];
      if (t.outcome === "overload") this.#overloadRejections++;
      const f = this.#of(pool, t.backend);
      f.latency[bucketOf(t.durationMs)]++;
      const failure = failureIndex(t.outcome);
      if (failure >= 0) f.failures[failure]++;
      f.latencySumMs += t.durationMs;
    }
    this.recent.push(record);
  };

  /** The ejection hook. */
  readonly onEject = (backend: Backend): void => {
    this.#of(this.#pool(backend.pool), backend.url).ejections++;
  };

  #pool(name: string): Map<string, Figures> {
    let pool = this.#figures.get(name);
    if (pool === undefined) this.#figures.set(name, pool = new Map());
    return pool;
  }

  #of(pool: Map<string, Figures>, backend: string): Figures {
    let figures = pool.get(backend);
    if (figures === undefined) {
      figures = new Figures();
      pool.set(backend, figures);
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
    lag?: LagFigures,
    dnsFailures?: number,
    reloads?: ReloadFigures,
    trims?: TrimFigures,
    compactions?: CompactionFigures,
  ): string {
    const labels = seriesLabels(backends);
    const series = this.#seriesFor(backends, labels);
    const out: string[] = [];
    requestsFamily(out, series);
    durationFamily(out, this.#durations, this.#durationSumMs);
    latencyFamily(out, series);
    failuresFamily(out, series);
    family(out, "roundabout_retries_total", "counter", "Tries beyond the first of each request.");
    out.push(`roundabout_retries_total ${this.#retries}`);
    ejectionsFamily(out, series);
    stateFamily(out, backends, nowMs, labels);
    inFlightFamily(out, backends, labels);
    websocketsFamily(out, backends, labels);
    probesFamily(out, backends, labels);
    family(
      out,
      "roundabout_overload_rejections_total",
      "counter",
      "Requests answered 503 because a try timed out while the balancer itself lagged " +
        "(no backend blamed).",
    );
    out.push(`roundabout_overload_rejections_total ${this.#overloadRejections}`);
    family(
      out,
      "roundabout_admission_rejected_total",
      "counter",
      "Requests answered 503 after waiting the per-try timeout for an admission slot " +
        "(maxInFlight).",
    );
    out.push(`roundabout_admission_rejected_total ${this.#admissionRejections}`);
    if (lag !== undefined) lagFamilies(out, lag);
    if (dnsFailures !== undefined) {
      family(
        out,
        "roundabout_dns_failures_total",
        "counter",
        "Backend name resolutions that failed; each kept its last good set.",
      );
      out.push(`roundabout_dns_failures_total ${dnsFailures}`);
    }
    buildInfoFamily(out);
    if (reloads !== undefined) reloadFamilies(out, reloads);
    if (trims !== undefined) trimFamilies(out, trims);
    if (compactions !== undefined) compactionFamilies(out, compactions);
    processFamilies(out);
    return out.join("\n") + "\n";
  }

  /**
   * Every series to expose, by backend URL: one per backend in `backends` (zero until it
   * is used), plus `none`; a removed backend's series goes once it is in neither list.
   */
  #seriesFor(backends: readonly Backend[], labels: SeriesLabels): [string, Figures, string][] {
    const wanted = new Map<string, Set<string>>();
    for (const b of backends) {
      let urls = wanted.get(b.pool);
      if (urls === undefined) wanted.set(b.pool, urls = new Set());
      urls.add(b.url);
    }
    for (const [name, pool] of this.#figures) {
      for (const url of pool.keys()) {
        if (url !== NO_BACKEND && !wanted.get(name)?.has(url)) pool.delete(url);
      }
    }
    for (const [name, urls] of wanted) for (const url of urls) this.#of(this.#pool(name), url);
    const series: [string, Figures, string][] = [];
    for (const [name, pool] of this.#figures) {
      for (const [url, f] of pool) series.push([labels(url, name), f, url]);
    }
    return series;
  }
}

export type { LagFigures };

/** `roundabout_requests_total`: every label combination, from 0. */
function requestsFamily(out: string[], series: [string, Figures, string][]): void {
  family(
    out,
    "roundabout_requests_total",
    "counter",
    "Client requests by the backend that answered (none: answered by the balancer), method " +
      "and status class (code=2xx…).",
  );
  for (const [labels, f] of series) {
    for (let m = 0; m < METHOD_CLASSES.length; m++) {
      for (let s = 0; s < STATUS_CLASSES.length; s++) {
        const value = f.requests[m * STATUS_CLASSES.length + s];
        out.push(
          `roundabout_requests_total{${labels},method="${METHOD_CLASSES[m]}",code="${
            STATUS_CLASSES[s]
          }"} ${value}`,
        );
      }
    }
  }
}

/** `roundabout_upstream_latency_seconds`: cumulative buckets, as the text format wants. */
function latencyFamily(out: string[], series: [string, Figures, string][]): void {
  family(
    out,
    "roundabout_upstream_latency_seconds",
    "histogram",
    "Time from sending a try to its backend's status and headers (or its failure).",
  );
  for (const [labels, f, url] of series) {
    if (url === NO_BACKEND) continue;
    let cumulative = 0;
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
      cumulative += f.latency[i];
      out.push(
        `roundabout_upstream_latency_seconds_bucket{${labels},le="${
          LATENCY_BUCKETS_S[i]
        }"} ${cumulative}`,
      );
    }
    cumulative += f.latency[LATENCY_BUCKETS_S.length];
    out.push(
      `roundabout_upstream_latency_seconds_bucket{${labels},le="+Inf"} ${cumulative}`,
      `roundabout_upstream_latency_seconds_sum{${labels}} ${f.latencySumMs / 1000}`,
      `roundabout_upstream_latency_seconds_count{${labels}} ${cumulative}`,
    );
  }
}

/** `roundabout_request_duration_seconds`: one histogram over every client request. */
function durationFamily(out: string[], counts: Float64Array, sumMs: number): void {
  family(
    out,
    "roundabout_request_duration_seconds",
    "histogram",
    "Time the client waited for the answer's status and headers, retries included.",
  );
  let cumulative = 0;
  for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
    cumulative += counts[i];
    out.push(
      `roundabout_request_duration_seconds_bucket{le="${LATENCY_BUCKETS_S[i]}"} ${cumulative}`,
    );
  }
  cumulative += counts[LATENCY_BUCKETS_S.length];
  out.push(
    `roundabout_request_duration_seconds_bucket{le="+Inf"} ${cumulative}`,
    `roundabout_request_duration_seconds_sum ${sumMs / 1000}`,
    `roundabout_request_duration_seconds_count ${cumulative}`,
  );
}

/** `roundabout_backend_failures_total`: every kind for every backend, from 0. */
function failuresFamily(out: string[], series: [string, Figures, string][]): void {
  family(
    out,
    "roundabout_backend_failures_total",
    "counter",
    "Failed tries by kind (connect, timeout, reset, 5xx), excused or not.",
  );
  for (const [labels, f, url] of series) {
    if (url === NO_BACKEND) continue;
    for (let k = 0; k < FAILURE_KINDS.length; k++) {
      out.push(
        `roundabout_backend_failures_total{${labels},kind="${FAILURE_KINDS[k]}"} ${f.failures[k]}`,
      );
    }
  }
}

/** `roundabout_ejections_total`, per backend. */
function ejectionsFamily(out: string[], series: [string, Figures, string][]): void {
  family(
    out,
    "roundabout_ejections_total",
    "counter",
    "Times a failed try took a backend out of rotation.",
  );
  for (const [labels, f, url] of series) {
    if (url !== NO_BACKEND) {
      out.push(`roundabout_ejections_total{${labels}} ${f.ejections}`);
    }
  }
}

/** `roundabout_backend_state`: one series per state, 1 for the current one. */
function stateFamily(
  out: string[],
  backends: readonly Backend[],
  nowMs: number,
  labels: SeriesLabels,
): void {
  family(
    out,
    "roundabout_backend_state",
    "gauge",
    "The backend's health state (1 for the current one).",
  );
  for (const backend of backends) {
    const current = backend.health.state(nowMs);
    for (const state of STATES) {
      out.push(
        `roundabout_backend_state{${labels(backend.url, backend.pool)},state="${state}"} ${
          state === current ? 1 : 0
        }`,
      );
    }
  }
}
