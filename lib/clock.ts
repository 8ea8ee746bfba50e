/**
 * Time as the balancer sees it. Everything time-based (ejection, back-off, probes, slow start)
 * reads a {@linkcode Clock} that is passed in, so tests advance a fake one instead of sleeping.
 *
 * @module
 */

/** Milliseconds since the Unix epoch, like `Date.now()`. */
export type Clock = () => number;

/** The real clock. */
export const systemClock: Clock = Date.now;

/** A clock that only moves when a test says so. */
export class FakeClock {
  constructor(public nowMs = 1_700_000_000_000) {}
  /** The clock function to inject. */
  readonly now: Clock = () => this.nowMs;
  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.nowMs += ms;
  }
}
