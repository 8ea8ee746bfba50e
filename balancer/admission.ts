/**
 * FIFO admission: at most `limit` requests are being forwarded at once; the others wait in
 * arrival order. Without it, at 1,000 connections on one worker some requests waited 1-2 s
 * while others were served in milliseconds (PLATFORM.md: the unfairness comes with awaiting
 * many upstream sockets at once); with a gate the crude floor proxy had no tail and more
 * req/s. The fast path (under the limit) allocates nothing.
 *
 * A waiter is given up lazily, when a slot frees and it is at the head of the queue: one that
 * waited `maxWaitMs` or longer is rejected (`"timeout"`, answered 503), one whose client left
 * is dropped (`"client-gone"`). No timer per waiter: a slot frees at the latest when an
 * in-flight request's tries time out.
 *
 * @module
 */

import type { Clock } from "../lib/time.ts";

/** Why a waiting request was not admitted. */
export type AdmissionRefusal = "timeout" | "client-gone";

/** The error a waiter's promise rejects with. */
export class NotAdmitted extends Error {
  constructor(readonly reason: AdmissionRefusal, readonly waitedMs: number) {
    super(`not admitted (${reason}) after waiting ${Math.round(waitedMs)}ms`);
    this.name = "NotAdmitted";
  }
}

interface Waiter {
  readonly sinceMs: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: () => void;
  readonly reject: (error: NotAdmitted) => void;
}

/** The gate: `enter()` before forwarding, `leave()` exactly once after each admission. */
export class AdmissionGate {
  readonly limit: number;
  readonly #maxWaitMs: number;
  readonly #clock: Clock;
  #inFlight = 0;
  /** Waiters in arrival order; `#head` is the next one (shifting an array is O(n)). */
  #queue: Waiter[] = [];
  #head = 0;
  /** Waiters rejected because they waited too long. */
  rejected = 0;

  constructor(limit: number, maxWaitMs: number, clock: Clock) {
    if (!(Number.isInteger(limit) && limit > 0)) {
      throw new RangeError(`Cannot make an admission gate: limit must be ≥ 1, got ${limit}`);
    }
    this.limit = limit;
    this.#maxWaitMs = maxWaitMs;
    this.#clock = clock;
  }

  /** Requests admitted and not yet left. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Requests waiting (some may have been given up and not yet dropped). */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Admits at once (`undefined`: no promise on the fast path) or queues: the promise
   * resolves once admitted and rejects with {@linkcode NotAdmitted}. Either way, when
   * admitted the caller must call {@linkcode leave} once.
   */
  enter(signal?: AbortSignal): Promise<void> | undefined {
    if (this.#inFlight < this.limit && this.waiting === 0) {
      this.#inFlight++;
      return undefined;
    }
    const sinceMs = this.#clock();
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ sinceMs, signal, resolve, reject });
    });
  }

  /** An admitted request is done: its slot goes to the oldest waiter still worth serving. */
  leave(): void {
    this.#inFlight--;
    const nowMs = this.#clock();
    while (this.#inFlight < this.limit && this.waiting > 0) {
      const waiter = this.#queue[this.#head++];
      const waitedMs = nowMs - waiter.sinceMs;
      if (waiter.signal?.aborted) {
        waiter.reject(new NotAdmitted("client-gone", waitedMs));
      } else if (waitedMs >= this.#maxWaitMs) {
        this.rejected++;
        waiter.reject(new NotAdmitted("timeout", waitedMs));
      } else {
        this.#inFlight++;
        waiter.resolve();
      }
    }
    // Compact once the consumed prefix dominates, so the array does not grow forever.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
