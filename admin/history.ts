/**
 * Per-backend figures over the last minutes, for the dashboard's charts: once a second the
 * sampler reads the counters the request path keeps anyway (each backend's tries, counted
 * failures, in-flight tries and recent latency percentiles), stores the differences in a
 * fixed ring (15 minutes), and notes when a reload replaced the backends. Every pool's
 * backends are sampled, each series named by pool and id. Nothing is added to the request
 * path; the cost is one small object per backend per second.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { HealthState } from "../backends/health.ts";
import type { Clock, Timers } from "../lib/time.ts";
import { DEFAULT_POOL } from "../config/settings.ts";

/** How often a sample is taken, in milliseconds. */
export const SAMPLE_INTERVAL_MS = 1_000;
/** How many samples are kept: 15 minutes at one a second. */
export const HISTORY_SAMPLES = 900;

/**
 * Which series a backend's figures belong to: its id and, for a named pool, the pool (absent
 * for the default pool, as in `GET /status`). The same URL in two pools is two series.
 */
export interface SeriesName {
  readonly id: string;
  readonly pool?: string;
}

/** One backend's figures over one interval. */
export interface BackendSample extends SeriesName {
  readonly state: HealthState;
  /** Tries sent to it during the interval. */
  readonly tries: number;
  /** Of those, failures counted against it. */
  readonly failures: number;
  readonly inFlight: number;
  /** Percentiles of its last 256 response times, in milliseconds; `null` before any. */
  readonly p50: number | null;
  readonly p99: number | null;
}

/** Every backend at one moment. */
export interface Sample {
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly backends: readonly BackendSample[];
}

/** A change of the backends in force, as the sampler saw it (within one interval). */
export interface ReloadEvent {
  readonly at: number;
  readonly added: readonly SeriesName[];
  readonly removed: readonly SeriesName[];
}

/** The ring of samples and the reloads seen. */
export class History {
  readonly #samples: (Sample | undefined)[] = new Array(HISTORY_SAMPLES);
  #next = 0;
  /**
   * Each backend's counts at the last sample, by the backend itself: the same URL in two pools
   * is two backends with their own counts, and a backend a reload moves keeps its counters.
   */
  readonly #last = new WeakMap<Backend, { tries: number; failures: number }>();
  #series: ReadonlyMap<string, SeriesName> | undefined;
  readonly reloads: ReloadEvent[] = [];

  /** Takes one sample of `backends` at `nowMs`. */
  sample(backends: readonly Backend[], nowMs: number): void {
    this.#noteReload(backends, nowMs);
    const figures = backends.map((backend) => this.#figures(backend, nowMs));
    this.#samples[this.#next] = { at: nowMs, backends: figures };
    this.#next = (this.#next + 1) % HISTORY_SAMPLES;
  }

  /** The samples kept, oldest first. */
  samples(): Sample[] {
    const out: Sample[] = [];
    for (let i = 0; i < HISTORY_SAMPLES; i++) {
      const sample = this.#samples[(this.#next + i) % HISTORY_SAMPLES];
      if (sample !== undefined) out.push(sample);
    }
    return out;
  }

  #figures(backend: Backend, nowMs: number): BackendSample {
    const now = { tries: backend.requests, failures: backend.failures };
    // A backend seen for the first time starts from its counts now: its past is not this second's.
    const before = this.#last.get(backend) ?? now;
    this.#last.set(backend, now);
    const latency = backend.latency.summary(nowMs);
    return {
      ...seriesName(backend),
      state: backend.health.state(nowMs),
      tries: Math.max(0, now.tries - before.tries),
      failures: Math.max(0, now.failures - before.failures),
      inFlight: backend.inFlight,
      p50: latency.p50,
      p99: latency.p99,
    };
  }

  /** Records a reload when the set of backends (by pool and id) differs from the last sample's. */
  #noteReload(backends: readonly Backend[], nowMs: number): void {
    const series = new Map(backends.map((b) => [seriesKey(b), seriesName(b)]));
    const before = this.#series;
    this.#series = series;
    if (before === undefined) return;
    const added = [...series].filter(([key]) => !before.has(key)).map(([, name]) => name);
    const removed = [...before].filter(([key]) => !series.has(key)).map(([, name]) => name);
    if (added.length === 0 && removed.length === 0) return;
    this.reloads.push({ at: nowMs, added, removed });
    if (this.reloads.length > 50) this.reloads.shift();
  }
}

function seriesName(backend: Backend): SeriesName {
  return backend.pool === DEFAULT_POOL
    ? { id: backend.id }
    : { id: backend.id, pool: backend.pool };
}

/** One string per series: pool names (`POOL_NAME` in `config/settings.ts`) and ids hold no space. */
function seriesKey(backend: Backend): string {
  return `${backend.pool} ${backend.id}`;
}

/** Samples `backends()` every second on `timers` until stopped. */
export function startSampling(
  history: History,
  backends: () => readonly Backend[],
  clock: Clock,
  timers: Timers,
): { stop(): void } {
  let id: number | undefined;
  const tick = () => {
    history.sample(backends(), clock());
    id = timers.setTimeout(tick, SAMPLE_INTERVAL_MS);
  };
  tick();
  return {
    stop() {
      if (id !== undefined) timers.clearTimeout(id);
      id = undefined;
    },
  };
}
