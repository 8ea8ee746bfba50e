/**
 * What the balancer believes about one backend, as a small state machine driven by outcomes
 * and an injected time. It never reads a clock or starts a timer: "ejected until" is stored
 * and compared lazily when a policy asks {@linkcode Health.available}.
 *
 * @module
 */

/** Where a belief came from, so that it can be explained. */
export interface Cause {
  /** `request`: real traffic; `probe`: an active health check; `admin`: an operator. */
  readonly source: "request" | "probe" | "admin";
  /** What happened, e.g. `timeout after 2000ms` or `status 500`. */
  readonly detail: string;
  /** When it happened, milliseconds since the epoch. */
  readonly atMs: number;
}

/** The states a user can read. */
export type HealthState = "healthy" | "failed";

/** Passive health settings. */
export interface PassiveHealthOptions {
  /** How long a failed backend is skipped, in milliseconds (the retry downtime). */
  readonly ejectMs: number;
}

/** One backend's health. */
export class Health {
  #ejectedUntilMs = 0;
  #cause: Cause | undefined;

  constructor(readonly options: PassiveHealthOptions) {}

  /** Whether traffic may go to the backend at `nowMs`. */
  available(nowMs: number): boolean {
    return nowMs >= this.#ejectedUntilMs;
  }

  /** Until when the backend is skipped (0 when it never failed). */
  get ejectedUntilMs(): number {
    return this.#ejectedUntilMs;
  }

  /** The state at `nowMs`. */
  state(nowMs: number): HealthState {
    return this.available(nowMs) ? "healthy" : "failed";
  }

  /** The last transition's cause, if any. */
  get cause(): Cause | undefined {
    return this.#cause;
  }

  /** A try failed: skip the backend for the retry downtime. */
  recordFailure(cause: Cause): void {
    this.#ejectedUntilMs = cause.atMs + this.options.ejectMs;
    this.#cause = cause;
  }

  /** A try succeeded. */
  recordSuccess(_nowMs: number): void {}
}
