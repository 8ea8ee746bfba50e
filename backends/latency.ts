/**
 * Response times of one backend: a peak-sensitive moving average that latency-aware policies
 * read on every pick, and a small ring of recent samples for percentiles, computed only when
 * someone asks (the status document).
 *
 * @module
 */

/** Decay time constant of the moving average, in milliseconds (Finagle's and Linkerd's 10 s). */
export const DECAY_MS = 10_000;

/** How many recent samples the percentiles are computed from. */
export const RING_SIZE = 256;

/** Recent response-time percentiles, in milliseconds; `null` before the first sample. */
export interface LatencySummary {
  /** The peak-sensitive moving average at the time asked. */
  readonly ewma: number | null;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  /** How many samples the percentiles come from (at most {@linkcode RING_SIZE}). */
  readonly samples: number;
}

/**
 * Peak EWMA as in Finagle's `PeakEwma` and Linkerd's balancer: a sample above the current
 * value replaces it at once (a backend that turns slow is believed slow immediately); a
 * lower one pulls it down with weight `1 − e^(−Δt/τ)`, Δt being the time since the
 * previous sample; and between samples the value decays towards 0 with the same `e^(−Δt/τ)`
 * when read, so a backend that was slow long ago is tried again. Recording and reading
 * allocate nothing.
 */
export class Latency {
  #cost = 0;
  #stampMs = 0;
  #known = false;
  readonly #ring = new Float64Array(RING_SIZE);
  #count = 0;

  /** Whether any sample was recorded: an unknown backend has no cost of its own yet. */
  get known(): boolean {
    return this.#known;
  }

  /**
   * Records one try. `observedMs` is the time it took, for the percentiles; `costMs` is what
   * the moving average learns, normally the same but a penalty for a failed try, so a
   * backend that fails fast does not look fast. `observedMs` may be `undefined` to leave the
   * percentiles alone (no response was received).
   */
  record(nowMs: number, costMs: number, observedMs?: number): void {
    if (observedMs !== undefined) this.#ring[this.#count++ % RING_SIZE] = observedMs;
    if (!this.#known) {
      this.#known = true;
      this.#cost = costMs;
    } else if (costMs > this.#cost) {
      this.#cost = costMs;
    } else {
      const w = decay(nowMs - this.#stampMs);
      this.#cost = this.#cost * w + costMs * (1 - w);
    }
    this.#stampMs = nowMs;
  }

  /** The moving average at `nowMs`, decayed since the last sample; 0 when unknown. */
  ewma(nowMs: number): number {
    return this.#cost === 0 ? 0 : this.#cost * decay(nowMs - this.#stampMs);
  }

  /** The figures for a status document. Sorts a copy of the ring: call it only on demand. */
  summary(nowMs: number): LatencySummary {
    const n = Math.min(this.#count, RING_SIZE);
    const sorted = this.#ring.slice(0, n).sort();
    // Nearest rank: the smallest sample with at least q of them at or below it.
    const at = (q: number) => n === 0 ? null : round(sorted[Math.max(0, Math.ceil(q * n) - 1)]);
    return {
      ewma: this.#known ? round(this.ewma(nowMs)) : null,
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      samples: n,
    };
  }
}

/**
 * `e^(−elapsedMs/τ)`, the weight the past keeps after `elapsedMs`. Read on every pick of
 * `peak-ewma`, so the usual case (samples milliseconds apart) skips `Math.exp`, which costs
 * tens of nanoseconds: below Δt/τ = 0.02 the cubic Taylor polynomial is exact to 1e-8.
 */
function decay(elapsedMs: number): number {
  if (elapsedMs <= 0) return 1;
  const x = elapsedMs / DECAY_MS;
  if (x < 0.02) return 1 - x * (1 - x * (0.5 - x / 6));
  return x > 40 ? 0 : Math.exp(-x);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
