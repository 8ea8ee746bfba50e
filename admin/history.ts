/**
 * Per-backend figures over the last minutes, for the dashboard's charts: once a second the
 * sampler reads the counters the request path keeps anyway (each backend's tries, counted
 * failures, in-flight tries and recent latency percentiles), stores the differences in a
 * fixed ring (15 minutes), and notes when a reload replaced the backends. Nothing is added
 * to the request path; the cost is one small object per backend per second.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { HealthState } from "../backends/health.ts";
import type { Clock, Timers } from "../lib/time.ts";

/** How often a sample is taken, in milliseconds. */
export const SAMPLE_INTERVAL_MS = 1_000;
/** How many samples are kept: 15 minutes at one a second. */
export const HISTORY_SAMPLES = 900;

/** One backend's figures over one interval. */
export interface BackendSample {
  readonly id: string;
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
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/** The ring of samples and the reloads seen. */
export class History {
  readonly #samples: (Sample | undefined)[] = new Array(HISTORY_SAMPLES);
  #next = 0;
  readonly #last = new Map<string, { tries: number; failures: number }>();
  #ids: ReadonlySet<string> | undefined;
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
    const before = this.#last.get(backend.url) ?? now;
    this.#last.set(backend.url, now);
    const latency = backend.latency.summary(nowMs);
    return {
      id: backend.id,
      state: backend.health.state(nowMs),
      tries: Math.max(0, now.tries - before.tries),
      failures: Math.max(0, now.failures - before.failures),
      inFlight: backend.inFlight,
      p50: latency.p50,
      p99: latency.p99,
    };
  }

  /** Records a reload when the set of backends differs from the last sample's. */
  #noteReload(backends: readonly Backend[], nowMs: number): void {
    const ids = new Set(backends.map((b) => b.id));
    const before = this.#ids;
    this.#ids = ids;
    if (before === undefined) return;
    const added = [...ids].filter((id) => !before.has(id));
    const removed = [...before].filter((id) => !ids.has(id));
    if (added.length === 0 && removed.length === 0) return;
    this.reloads.push({ at: nowMs, added, removed });
    if (this.reloads.length > 50) this.reloads.shift();
    for (const url of this.#last.keys()) {
      if (!backends.some((b) => b.url === url)) this.#last.delete(url);
    }
  }
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
