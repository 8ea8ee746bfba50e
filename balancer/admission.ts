/**
 * FIFO admission: at most `limit` requests are being forwarded at once; the others wait in
 * arrival order. Without it, at 1,000 connections on one worker some requests waited 1-2 s
 * while others were served in milliseconds (PLATFORM.md: the unfairness comes with awaiting
 * many upstream sockets at once); with a gate the crude floor proxy had no tail and more
 * req/s. The fast path (under the limit) allocates nothing.
 *
 * A request admitted `stuckMs` ago or longer gives its slot up (it is released): it is
 * waiting on a slow backend or a slow client, costs no CPU meanwhile, and must not hold the
 * gate shut for everyone else. Without that, one backend slower than the per-try timeout
 * filled every slot within milliseconds at 1,000 connections and the gate answered the other
 * backends' requests with 503s (bench/README.md, "A slow backend and the gate").
 *
 * A waiter is given up lazily, when a slot frees and it is at the head of the queue: one that
 * waited `maxWaitMs` or longer is rejected (`"timeout"`, answered 503), one whose client left
 * is dropped (`"client-gone"`). While requests wait, one timer (at most) looks for slots to
 * release, so a gate whose every slot is stuck opens without waiting for a leave.
 *
 * @module
 */

import { backgroundTimers, type Clock, type Timers } from "../lib/time.ts";

/** Why a waiting request was not admitted. */
export type AdmissionRefusal = "timeout" | "client-gone";

/** The error a waiter's promise rejects with. */
export class NotAdmitted extends Error {
  constructor(readonly reason: AdmissionRefusal, readonly waitedMs: number) {
    super(`not admitted (${reason}) after waiting ${Math.round(waitedMs)}ms`);
    this.name = "NotAdmitted";
  }
}

/**
 * One admission, kept by the request (the balancer's `Exchange` is one): the gate stamps it
 * when it admits and clears `holdsSlot` when the slot is given back or released.
 */
export interface Slot {
  /** When it was admitted (set by the gate). */
  admittedMs: number;
  /** Whether it still counts against the limit (set by the gate). */
  holdsSlot: boolean;
}

/** What a gate needs besides its limit. */
export interface GateOptions {
  /** Longest wait for a slot, in ms; older waiters are rejected. */
  readonly maxWaitMs: number;
  readonly clock: Clock;
  /** For the one timer that releases stuck slots while requests wait. */
  readonly timers: Timers;
  /** How long an admitted request holds its slot at most, in ms. */
  readonly stuckMs: number;
  /** Called when the last request in flight leaves and none waits (`memory_trim.ts`). */
  readonly onEmpty?: () => void;
}

interface Waiter {
  readonly slot: Slot;
  readonly sinceMs: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: () => void;
  readonly reject: (error: NotAdmitted) => void;
}

/** The gate: `enter(slot)` before forwarding, `leave(slot)` once after each admission. */
export class AdmissionGate {
  readonly limit: number;
  readonly #options: GateOptions;
  #inFlight = 0;
  /** Waiters in arrival order; `#head` is the next one (shifting an array is O(n)). */
  #queue: Waiter[] = [];
  #head = 0;
  /** Admitted slots in admission order, `#admittedHead` the oldest that may still count. */
  #admitted: (Slot | undefined)[] = [];
  #admittedHead = 0;
  #timer: number | undefined;
  /** Waiters rejected because they waited too long. */
  rejected = 0;
  /** Slots released because their request held them `stuckMs` or longer. */
  released = 0;

  constructor(limit: number, options: GateOptions) {
    if (!(Number.isInteger(limit) && limit > 0)) {
      throw new RangeError(`Cannot make an admission gate: limit must be ≥ 1, got ${limit}`);
    }
    this.limit = limit;
    this.#options = options;
  }

  /** Requests admitted that still hold a slot. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Whether nothing is in flight and nobody waits. */
  get idle(): boolean {
    return this.#inFlight === 0 && this.waiting === 0;
  }

  /** Requests waiting (some may have been given up and not yet dropped). */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Admits `slot` at once (`undefined`: no promise on the fast path; `nowMs` is when the
   * request arrived, so no clock is read) or queues it: the promise resolves once admitted
   * and rejects with {@linkcode NotAdmitted}. Either way, when admitted the caller must call
   * {@linkcode leave} once.
   */
  enter(slot: Slot, nowMs: number, signal?: AbortSignal): Promise<void> | undefined {
    if (this.#inFlight < this.limit && this.waiting === 0) {
      this.#admit(slot, nowMs);
      return undefined;
    }
    const promise = new Promise<void>((resolve, reject) => {
      this.#queue.push({ slot, sinceMs: nowMs, signal, resolve, reject });
    });
    // Stuck slots may be releasable now; if not, a timer looks again.
    this.#drain(this.#options.clock());
    return promise;
  }

  /** An admitted request is done: its slot (unless released) goes to the oldest waiter. */
  leave(slot: Slot): void {
    if (slot.holdsSlot) {
      slot.holdsSlot = false;
      if (--this.#inFlight === 0 && this.waiting === 0) this.#options.onEmpty?.();
    }
    // Forget the slots given back at the front now: holding on to finished requests would
    // keep them alive past the young generation, and the garbage collector would pay for it.
    const admitted = this.#admitted;
    while (this.#admittedHead < admitted.length && !admitted[this.#admittedHead]!.holdsSlot) {
      admitted[this.#admittedHead++] = undefined;
    }
    if (this.#admittedHead === admitted.length) {
      admitted.length = 0;
      this.#admittedHead = 0;
    }
    if (this.waiting > 0 || admitted.length - this.#admittedHead > this.limit * 4) {
      this.#drain(this.#options.clock());
    }
  }

  /** Stops the timer; waiters are left as they are. */
  close(): void {
    if (this.#timer !== undefined) this.#options.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #admit(slot: Slot, nowMs: number): void {
    slot.admittedMs = nowMs;
    slot.holdsSlot = true;
    this.#inFlight++;
    this.#admitted.push(slot);
  }

  /** Releases stuck slots, admits or gives up waiters, and keeps the timer as needed. */
  #drain(nowMs: number): void {
    this.#releaseStuck(nowMs);
    const maxWaitMs = this.#options.maxWaitMs;
    while (this.#inFlight < this.limit && this.waiting > 0) {
      const waiter = this.#queue[this.#head++];
      const waitedMs = nowMs - waiter.sinceMs;
      if (waiter.signal?.aborted) {
        waiter.reject(new NotAdmitted("client-gone", waitedMs));
      } else if (waitedMs >= maxWaitMs) {
        this.rejected++;
        waiter.reject(new NotAdmitted("timeout", waitedMs));
      } else {
        this.#admit(waiter.slot, nowMs);
        waiter.resolve();
      }
    }
    // Compact once the consumed prefix dominates, so the arrays do not grow forever.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#admittedHead > 1024 && this.#admittedHead * 2 > this.#admitted.length) {
      this.#admitted = this.#admitted.slice(this.#admittedHead);
      this.#admittedHead = 0;
    }
    this.#arm(nowMs);
  }

  /** Drops slots given back from the front of the admission order; releases stuck ones. */
  #releaseStuck(nowMs: number): void {
    const admitted = this.#admitted;
    const oldestKeptMs = nowMs - this.#options.stuckMs;
    while (this.#admittedHead < admitted.length) {
      const slot = admitted[this.#admittedHead]!;
      if (slot.holdsSlot) {
        if (slot.admittedMs > oldestKeptMs) break;
        slot.holdsSlot = false;
        this.#inFlight--;
        this.released++;
      }
      admitted[this.#admittedHead++] = undefined;
    }
  }

  /** While requests wait, a timer for when the oldest slot would become stuck. */
  #arm(nowMs: number): void {
    const timers = this.#options.timers;
    if (this.waiting === 0) {
      this.close();
      return;
    }
    if (this.#timer !== undefined) return;
    const oldest = this.#admitted[this.#admittedHead];
    const atMs = oldest === undefined
      ? nowMs + this.#options.stuckMs
      : oldest.admittedMs + this.#options.stuckMs;
    this.#timer = timers.setTimeout(() => {
      this.#timer = undefined;
      this.#drain(this.#options.clock());
    }, Math.max(1, atMs - nowMs));
  }
}

/**
 * The gate of a configuration (`maxInFlight` slots, waiters given up after the per-try
 * timeout), on the platform's unref'd timers unless told otherwise.
 */
export function admissionGateFor(
  options: { readonly maxInFlight: number; readonly timeoutMs: number },
  clock: Clock,
  timers: Timers = backgroundTimers,
  onEmpty?: () => void,
): AdmissionGate {
  return new AdmissionGate(options.maxInFlight, {
    maxWaitMs: options.timeoutMs,
    clock,
    timers,
    stuckMs: stuckMsOf(options.timeoutMs),
    onEmpty,
  });
}

/**
 * How long an admitted request holds its admission slot at most: an eighth of the per-try
 * timeout, within 50 ms .. 1 s (250 ms with a 2 s timeout). Far above the time a request
 * spends in flight when its backend is healthy, even at 1,000 connections on one core (tens
 * of ms), far below a backend slower than the timeout.
 */
export function stuckMsOf(timeoutMs: number): number {
  return Math.min(1_000, Math.max(50, timeoutMs / 8));
}
