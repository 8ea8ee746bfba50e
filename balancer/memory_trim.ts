/**
 * When to hand freed memory back to the system (`lib/malloc_trim.ts` says how). A trim right
 * after a burst returns what the burst left behind: the V8 compiler threads' finished work
 * and the buffers of connections that closed. Trimming on every request would give back
 * pages that the next one faults in again, so it happens:
 *
 * - when nothing is in flight (the admission gate just emptied), at most once per `minGapMs`;
 *   a pause that comes sooner is served by one trim as soon as the gap has passed;
 * - otherwise every `everyMs`, so a balancer that is never idle (or runs without the gate)
 *   gives memory back too.
 *
 * A trim costs about 10 µs with nothing to give back and 0.2 ms with 9 MiB, on a helper
 * thread. One that fails (no glibc after all) turns trimming off and is reported once.
 *
 * @module
 */

import type { TrimMemory } from "../lib/malloc_trim.ts";
import type { Clock, Timers } from "../lib/time.ts";

/** What a {@linkcode MemoryTrimmer} needs. */
export interface MemoryTrimmerOptions {
  readonly trim: TrimMemory;
  /** Monotonic time in ms. */
  readonly clock: Clock;
  /** Unref'd timers: trimming never keeps the process alive. */
  readonly timers: Timers;
  /** Shortest time between two trims, in ms. Default {@linkcode TRIM_DEFAULTS}. */
  readonly minGapMs?: number;
  /** Longest time between two trims while the balancer runs, in ms. */
  readonly everyMs?: number;
  /** Told once if a trim fails; trimming is off from then on. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Defaults of {@linkcode MemoryTrimmerOptions}, in one place.
 *
 * `minGapMs`: a burst's leftovers stay resident for up to a second before the trailing trim.
 * 200 ms took the 1,000-connection bench's peak from 89 to 80 MiB, but under steady load the
 * gate empties often enough to trim five times a second, each trim handing back pages the
 * next requests fault in again; the bench could not clear that of a cost (bench/README.md,
 * "The trim's gap"), and nobody watching memory needs it back sooner than in a second.
 */
export const TRIM_DEFAULTS = { minGapMs: 1_000, everyMs: 10_000 } as const;

/** Trims when the balancer goes quiet, and now and then regardless. */
export class MemoryTrimmer {
  readonly #options: MemoryTrimmerOptions;
  readonly #minGapMs: number;
  readonly #everyMs: number;
  #lastMs = -Infinity;
  #busy = false;
  #off = false;
  #timer: number | undefined;
  #timerAtMs = Infinity;
  /** Trims started. */
  trims = 0;
  /** Trims after which the system had memory back. */
  released = 0;

  constructor(options: MemoryTrimmerOptions) {
    this.#options = options;
    this.#minGapMs = options.minGapMs ?? TRIM_DEFAULTS.minGapMs;
    this.#everyMs = options.everyMs ?? TRIM_DEFAULTS.everyMs;
  }

  /** Starts the every-`everyMs` trims. */
  start(): void {
    if (!this.#off) this.#schedule(this.#options.clock() + this.#everyMs);
  }

  /** Nothing is in flight now: trim, or trim once `minGapMs` has passed since the last. */
  readonly quiet = (): void => {
    if (this.#off) return;
    const nowMs = this.#options.clock();
    const dueMs = this.#lastMs + this.#minGapMs;
    if (nowMs >= dueMs && !this.#busy) this.#run(nowMs);
    else this.#schedule(Math.max(dueMs, nowMs));
  };

  /** Whether trims still happen (false after {@linkcode close} or a failed trim). */
  get on(): boolean {
    return !this.#off;
  }

  /** Stops trimming and its timer. */
  close(): void {
    this.#off = true;
    this.#clearTimer();
  }

  #run(nowMs: number): void {
    this.#lastMs = nowMs;
    this.#busy = true;
    this.trims++;
    // Promise.try: a trim that throws at once is a failed trim too, never the caller's
    // (the caller is a request leaving the admission gate).
    Promise.try(this.#options.trim).then(
      (released) => {
        if (released) this.released++;
      },
      (error) => {
        if (this.#off) return;
        this.close();
        this.#options.onError?.(error);
      },
    ).finally(() => this.#busy = false);
    this.#clearTimer();
    this.#schedule(nowMs + this.#everyMs);
  }

  /** One timer at most, for the earliest trim due. */
  #schedule(atMs: number): void {
    if (this.#off || atMs >= this.#timerAtMs) return;
    this.#clearTimer();
    this.#timerAtMs = atMs;
    this.#timer = this.#options.timers.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAtMs = Infinity;
      const nowMs = this.#options.clock();
      if (this.#busy) this.#schedule(nowMs + this.#minGapMs);
      else this.#run(nowMs);
    }, Math.max(0, atMs - this.#options.clock()));
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#options.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAtMs = Infinity;
  }
}
