/**
 * The balancer's own overload, measured as event-loop lag: how late one shared timer fires.
 *
 * A saturated process answers late because work queues in its own event loop, not because its
 * backends are slow. Without this, a per-try timeout that expired while the loop was stuck is
 * indistinguishable from a slow backend, passive health ejects healthy backends, and once all
 * are out every request gets a 503: an overload turns into an outage (measured with 1,000
 * connections on one core). `outcomes.ts` reads {@linkcode LagMonitor.lagMs} to tell the two
 * apart; see `OVERLOAD_LAG_FRACTION` there for the rule.
 *
 * One timer for the whole process, re-armed every `intervalMs`: a tick that runs `d` ms after
 * it was due saw `d` ms of lag. The timer is unref'd (it never keeps the process alive) and
 * stopped with the balancer. Time comes from the injected clock, so tests drive the monitor
 * with a fake clock and call {@linkcode LagMonitor.tick} themselves.
 *
 * @module
 */

import { backgroundTimers, type Clock, type Timers } from "../lib/time.ts";

/** Options of {@linkcode LagMonitor}. */
export interface LagMonitorOptions {
  /** Time between two ticks, in milliseconds. Default 100. */
  readonly intervalMs?: number;
  /**
   * How long a lag is remembered, in milliseconds: {@linkcode LagMonitor.lagMs} is the worst
   * lag seen over the last one to two windows, so a lag stays visible for at least this
   * long. Default 5000: longer than the default per-try timeout (2 s) and its expiry's
   * own lateness, so a try that timed out is judged on the whole of its life.
   */
  readonly windowMs?: number;
  /**
   * Lag at or above which the process counts as overloaded, in milliseconds (for the
   * event log and the metrics; the rule for timeouts is `OVERLOAD_LAG_FRACTION` of the
   * per-try timeout, the same 100 ms with the default 2 s). Default 100.
   */
  readonly thresholdMs?: number;
  /**
   * Called when overload starts (`true`, with the lag that started it) and when it ends
   * (`false`): it ends once a whole window has passed with no lag over half the threshold,
   * so a flapping loop logs at most one start and one end per window.
   */
  readonly onChange?: (overloaded: boolean, lagMs: number) => void;
  /**
   * Default {@linkcode backgroundTimers}: measuring lag must never keep the process alive on
   * its own. Tests pass timers that never fire and call {@linkcode LagMonitor.tick}.
   */
  readonly timers?: Timers;
}

/** Defaults of {@linkcode LagMonitorOptions}, in one place. */
export const LAG_DEFAULTS = { intervalMs: 100, windowMs: 5_000, thresholdMs: 100 } as const;

/** Event-loop lag of this process, from one shared timer. */
export class LagMonitor {
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly thresholdMs: number;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #onChange?: (overloaded: boolean, lagMs: number) => void;
  #timer: number | undefined;
  #running = false;
  /** When the next tick is due. */
  #dueMs: number;
  /** Worst lag in the current window and the one before it. */
  #windowStartMs: number;
  #currentMaxMs = 0;
  #previousMaxMs = 0;
  #overloaded = false;
  /** Last time a lag over half the threshold was seen. */
  #lastHighMs = -Infinity;
  #episodes = 0;

  constructor(clock: Clock, options: LagMonitorOptions = {}) {
    this.#clock = clock;
    this.intervalMs = options.intervalMs ?? LAG_DEFAULTS.intervalMs;
    this.windowMs = options.windowMs ?? LAG_DEFAULTS.windowMs;
    this.thresholdMs = options.thresholdMs ?? LAG_DEFAULTS.thresholdMs;
    this.#onChange = options.onChange;
    this.#timers = options.timers ?? backgroundTimers;
    const nowMs = clock();
    this.#dueMs = nowMs + this.intervalMs;
    this.#windowStartMs = nowMs;
  }

  /** Starts the shared timer (once). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#dueMs = this.#clock() + this.intervalMs;
    this.#arm();
  }

  /** Stops the timer; `lagMs` keeps answering from what was measured. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Overload episodes so far (times overload started). */
  get episodes(): number {
    return this.#episodes;
  }

  /** Whether the process is overloaded now (lag over the threshold, not yet calm again). */
  get overloaded(): boolean {
    return this.#overloaded;
  }

  /**
   * The worst lag over the recent past (the last one to two windows), in milliseconds,
   * including the lag building up right now: a tick that is overdue counts as lag already,
   * so a timeout that expires in the same turn as the stall ends is seen as such.
   */
  lagMs(nowMs: number = this.#clock()): number {
    this.#roll(nowMs);
    const pending = this.#running ? Math.max(0, nowMs - this.#dueMs) : 0;
    return Math.max(this.#currentMaxMs, this.#previousMaxMs, pending);
  }

  /** One tick of the timer: records how late it ran and re-arms. Tests call it directly. */
  tick(): void {
    const nowMs = this.#clock();
    this.record(Math.max(0, nowMs - this.#dueMs), nowMs);
    this.#dueMs = nowMs + this.intervalMs;
    if (this.#running) this.#arm();
  }

  /** Records a lag of `lagMs` seen at `nowMs` and updates the overload state. */
  record(lagMs: number, nowMs: number): void {
    this.#roll(nowMs);
    if (lagMs > this.#currentMaxMs) this.#currentMaxMs = lagMs;
    if (lagMs >= this.thresholdMs / 2) this.#lastHighMs = nowMs;
    if (!this.#overloaded && lagMs >= this.thresholdMs) {
      this.#overloaded = true;
      this.#episodes++;
      this.#onChange?.(true, lagMs);
    } else if (this.#overloaded && nowMs - this.#lastHighMs >= this.windowMs) {
      this.#overloaded = false;
      this.#onChange?.(false, lagMs);
    }
  }

  #roll(nowMs: number): void {
    const elapsed = nowMs - this.#windowStartMs;
    if (elapsed < this.windowMs) return;
    // One window on: the current becomes the previous. Two or more: both are old.
    this.#previousMaxMs = elapsed < 2 * this.windowMs ? this.#currentMaxMs : 0;
    this.#currentMaxMs = 0;
    this.#windowStartMs = nowMs - (elapsed % this.windowMs);
  }

  #arm(): void {
    this.#timer = this.#timers.setTimeout(() => this.tick(), this.intervalMs);
  }
}
