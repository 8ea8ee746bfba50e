/**
 * When to compact the V8 heap (`lib/heap_reduce.ts` says how): once the balancer has been
 * idle for `idleMs` (the admission gate emptied and nothing has come in since) and V8's heap
 * has grown by `growthBytes` since the last time (or since start). A burst grows the young
 * generation, which V8 never shrinks by itself; the compaction gives it back, and the C heap
 * is trimmed right after (`onReduced`).
 *
 * The compaction stops the event loop for 20-30 ms, so it never runs while requests are in
 * flight, and at most once per quiet period; a few requests (probes, a lone client) do not
 * grow the heap enough to pay for it. A request that arrives during one waits for it.
 *
 * @module
 */

import type { HeapReducer } from "../lib/heap_reduce.ts";
import type { Clock, Timers } from "../lib/time.ts";

/** What an {@linkcode IdleHeapReducer} needs. */
export interface IdleHeapReducerOptions {
  readonly reducer: HeapReducer;
  /** Monotonic time in ms. */
  readonly clock: Clock;
  /** Unref'd timers: the reducer never keeps the process alive. */
  readonly timers: Timers;
  /** Whether nothing is in flight and nobody waits, now. */
  readonly isIdle: () => boolean;
  /** How long the balancer must have been quiet, in ms. Default {@linkcode HEAP_REDUCE_DEFAULTS}. */
  readonly idleMs?: number;
  /** How much V8's heap must have grown since the last compaction, in bytes. */
  readonly growthBytes?: number;
  /** Told after each compaction (the C heap is trimmed then). */
  readonly onReduced?: () => void;
  /** Told once if a compaction throws; compaction is off from then on. */
  readonly onError?: (error: unknown) => void;
}

/**
 * Defaults of {@linkcode IdleHeapReducerOptions}, in one place. 1,000 connections grew the
 * heap by 5.6 MB; 200 requests one after another already grew it past 2 MiB, so any real
 * traffic followed by 2 s of quiet gets one compaction. 2 s is past a burst's tail.
 */
export const HEAP_REDUCE_DEFAULTS = { idleMs: 2_000, growthBytes: 2 * 1024 * 1024 } as const;

/** Compacts the V8 heap once the balancer has gone idle after growing it. */
export class IdleHeapReducer {
  readonly #options: IdleHeapReducerOptions;
  readonly #idleMs: number;
  readonly #growthBytes: number;
  #baselineBytes: number;
  #lastQuietMs = -Infinity;
  #timer: number | undefined;
  #off = false;
  /** Compactions run. */
  reductions = 0;

  constructor(options: IdleHeapReducerOptions) {
    this.#options = options;
    this.#idleMs = options.idleMs ?? HEAP_REDUCE_DEFAULTS.idleMs;
    this.#growthBytes = options.growthBytes ?? HEAP_REDUCE_DEFAULTS.growthBytes;
    this.#baselineBytes = options.reducer.committedBytes();
  }

  /** Nothing is in flight now: look again once `idleMs` has passed without traffic. */
  readonly quiet = (): void => {
    if (this.#off) return;
    this.#lastQuietMs = this.#options.clock();
    // One timer for the whole quiet period; a later pause only moves the check back.
    if (this.#timer === undefined) this.#arm(this.#idleMs);
  };

  /** Whether compactions still happen (false after {@linkcode close} or a failure). */
  get on(): boolean {
    return !this.#off;
  }

  /** Stops compacting and its timer. */
  close(): void {
    this.#off = true;
    if (this.#timer !== undefined) this.#options.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = this.#options.timers.setTimeout(() => {
      this.#timer = undefined;
      this.#check();
    }, ms);
  }

  #check(): void {
    if (this.#off) return;
    const quietForMs = this.#options.clock() - this.#lastQuietMs;
    if (quietForMs < this.#idleMs) return this.#arm(this.#idleMs - quietForMs);
    // A request in flight calls `quiet` again when it is done.
    if (!this.#options.isIdle()) return;
    const reducer = this.#options.reducer;
    if (reducer.committedBytes() < this.#baselineBytes + this.#growthBytes) return;
    try {
      reducer.reduce();
    } catch (error) {
      this.close();
      this.#options.onError?.(error);
      return;
    }
    this.reductions++;
    this.#baselineBytes = reducer.committedBytes();
    this.#options.onReduced?.();
  }
}
