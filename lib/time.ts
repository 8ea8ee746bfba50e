/**
 * Time as Roundabout sees it: a {@linkcode Clock} to read and {@linkcode Timers} to wait on.
 * Everything time-based (ejection, back-off, slow start, probes, the lag monitor, the
 * deadline queue) takes both from its caller, so tests drive a fake instead of sleeping.
 *
 * @module
 */

/** The current time in milliseconds. */
export type Clock = () => number;

/** Wall-clock time, milliseconds since the Unix epoch, like `Date.now()`. */
export const systemClock: Clock = Date.now;

/**
 * Monotonic time, like `performance.now()`: for measuring durations the wall clock could
 * spoil (an NTP step backwards would otherwise look like time running back).
 */
export const monotonicClock: Clock = () => performance.now();

/** One-shot timers. */
export interface Timers {
  /** Calls `callback` once after `delayMs`; returns an id for `clearTimeout`. */
  setTimeout(callback: () => void, delayMs: number): number;
  /** Cancels a timer that has not fired yet; an unknown or spent id is ignored. */
  clearTimeout(id: number): void;
}

/** The platform's timers. A pending one keeps the process alive. */
export const systemTimers: Timers = {
  setTimeout: (callback, delayMs) => timerId(setTimeout(callback, delayMs)),
  clearTimeout: (id) => clearTimeout(id),
};

/**
 * The platform's timers, unref'd: a pending one never keeps the process alive on its own.
 * For bookkeeping that only matters while something else (a server) runs.
 */
export const backgroundTimers: Timers = {
  setTimeout(callback, delayMs) {
    const id = timerId(setTimeout(callback, delayMs));
    Deno.unrefTimer(id);
    return id;
  },
  clearTimeout: (id) => clearTimeout(id),
};

/** Deno's timer ids are numbers; the Node types in scope (from npm packages) say `Timeout`. */
function timerId(id: ReturnType<typeof setTimeout>): number {
  return id as unknown as number;
}
