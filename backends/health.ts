// Over 300 lines: one state machine; its transitions and the explanations they record belong together.
/**
 * What the balancer believes about one backend, as a small state machine driven by outcomes
 * (tries, probes, operators) and an injected time. It never reads a clock or starts a timer:
 * "ejected until" and "slow start until" are stored and compared when read, and a transition
 * that happened by the passing of time is written into the history, with the time it
 * happened, the next time anyone looks (like std's `async/unstable_circuit_breaker.ts`).
 *
 * States:
 * - `healthy`: in rotation at full weight.
 * - `failed`: out of rotation, because real traffic failed (`source: "request"`, until a
 *   time) or probes failed (`source: "probe"`, until probes pass again).
 * - `recovering`: back in rotation, its weight growing during the slow start window.
 * - `draining`: an operator stopped new requests; those in flight finish.
 * - `disabled`: an operator took it out until it is enabled.
 *
 * How passive (traffic) and active (probe) evidence combine, chosen to match what HAProxy
 * and Envoy users expect:
 * - `failuresToEject` consecutive counted failures eject for `retryDowntimeMs`, every time by
 *   default (`backoff: none`). With `backoff: exponential` the length doubles with each
 *   ejection that follows another without a healthy spell, up to `maxEjectionMs` (Envoy's
 *   outlier detection). The ejection ends by time, no probe needed.
 * - `fall` consecutive failing probes take a backend out with no end time; only `rise`
 *   consecutive passing probes bring it back, even when a passive ejection has expired
 *   meanwhile (HAProxy's check state). Until the first probe result a backend is believed up,
 *   and a first probe that fails takes it out at once (HAProxy's default `init-state up`),
 *   so a backend that is down at start-up is out after one probe round, not `fall` rounds.
 * - A passively ejected backend whose probes then pass `rise` times in a row returns before
 *   its ejection time (Envoy's `successful_active_health_check_uneject_host`, on by
 *   default): the probe is fresher evidence that it answers again. Its back-off (if
 *   exponential) is not forgiven, so if real traffic keeps failing the next ejection is longer.
 * - An operator's `drain`/`disable` overrides both; `enable` lifts the operator's hold and
 *   any passive ejection (the operator vouches for it) but not a failing probe verdict:
 *   HAProxy too returns a server leaving maintenance to the state its checks say.
 *
 * @module
 */

import type { FailureKind } from "../transports/transport.ts";

/** Where a belief came from, so that it can be explained. */
export interface Cause {
  /** `request`: real traffic; `probe`: an active health check; `admin`: an operator. */
  readonly source: "request" | "probe" | "admin";
  /** What happened, e.g. `no response within 2s` or `status 500`. */
  readonly detail: string;
  /** When it happened, milliseconds since the epoch. */
  readonly atMs: number;
}

/** The states a user can read. */
export type HealthState = "healthy" | "failed" | "recovering" | "draining" | "disabled";

/** One change of state, with why it happened. */
export interface Transition {
  readonly from: HealthState;
  readonly to: HealthState;
  readonly cause: Cause;
  /** For a passive ejection: when it ends, milliseconds since the epoch. */
  readonly untilMs?: number;
}

/** A failed try as passive health sees it: a transport failure kind, or a 5xx answer. */
export type TryFailure = Exclude<FailureKind, "client-gone"> | "5xx";

/** Kinds of failed try that passive health counts against a backend. */
export type CountedFailure = "connect" | "timeout" | "reset" | "5xx";

/** What {@linkcode Health} needs from the balancer's options, resolved once. */
export interface HealthSettings {
  /** Every ejection's length, or with exponential back-off the first one's, in milliseconds. */
  readonly retryDowntimeMs: number;
  /** Whether repeated ejections double in length (`backoff: exponential`). */
  readonly exponential: boolean;
  /** Consecutive counted failures that eject. */
  readonly failuresToEject: number;
  /** Which failures count towards ejection. */
  readonly countedFailures: ReadonlySet<CountedFailure>;
  /** Longest ejection, in milliseconds (exponential back-off only). */
  readonly maxEjectionMs: number;
  /** Time without a counted failure after which past ejections are forgiven, in ms
   * (exponential back-off only). */
  readonly healthySpellMs: number;
  /** Slow start window, in milliseconds; 0 is off. */
  readonly slowStartMs: number;
  /** Consecutive passing probes that bring a backend back. */
  readonly rise: number;
  /** Consecutive failing probes that take a backend out. */
  readonly fall: number;
  /** Time between probes, in milliseconds, to estimate when a backend may be back. */
  readonly probeIntervalMs: number;
}

/** Share of its weight a backend gets at the very start of its slow start window. */
export const SLOW_START_FLOOR = 0.1;

/** How many transitions {@linkcode Health.history} keeps. */
export const HISTORY_SIZE = 10;

/** One backend's health. */
export class Health {
  #settings: HealthSettings;
  /** The last state written into the history (time may have moved it on since). */
  #recorded: HealthState = "healthy";
  #cause: Cause | undefined;
  readonly #history: Transition[] = [];

  #admin: "draining" | "disabled" | undefined;
  #probeDown = false;
  #probed = false;
  #probePasses = 0;
  #probeFails = 0;
  #ejectedUntilMs = 0;
  #consecutiveFailures = 0;
  #consecutiveEjections = 0;
  #ejections = 0;
  #lastFailureMs = -Infinity;
  /** When the backend last came back into rotation: where slow start counts from. */
  #returnedAtMs = -Infinity;
  /** `available(now)` is `now >= #outUntilMs`: one comparison per pick. */
  #outUntilMs = 0;

  constructor(settings: HealthSettings) {
    this.#settings = settings;
  }

  /**
   * New settings for a backend kept across a reload. Its state stays as it is (a current
   * ejection keeps its end time); thresholds, lengths and slow start apply from now on.
   */
  reconfigure(settings: HealthSettings): void {
    this.#settings = settings;
  }

  /** Whether a policy may choose the backend at `nowMs`. */
  available(nowMs: number): boolean {
    return nowMs >= this.#outUntilMs;
  }

  /**
   * The share of its weight the backend should get at `nowMs`: 1, or during slow start a
   * factor growing linearly from {@linkcode SLOW_START_FLOOR} to 1 over the window.
   */
  weightFactor(nowMs: number): number {
    const windowMs = this.#settings.slowStartMs;
    if (windowMs === 0) return 1;
    const sinceMs = nowMs - this.#returnedAtMs;
    if (sinceMs >= windowMs) return 1;
    if (sinceMs <= 0) return SLOW_START_FLOOR;
    return SLOW_START_FLOOR + (1 - SLOW_START_FLOOR) * (sinceMs / windowMs);
  }

  /** The state at `nowMs`. */
  state(nowMs: number): HealthState {
    this.#settle(nowMs);
    return this.#recorded;
  }

  /** Why the backend is in its state at `nowMs` (`undefined` if nothing ever happened). */
  causeAt(nowMs: number): Cause | undefined {
    this.#settle(nowMs);
    return this.#cause;
  }

  /** The cause of the last recorded transition, if any. */
  get cause(): Cause | undefined {
    return this.#cause;
  }

  /** The last {@linkcode HISTORY_SIZE} transitions up to `nowMs`, oldest first. */
  history(nowMs: number): readonly Transition[] {
    this.#settle(nowMs);
    return this.#history;
  }

  /** Until when a passive ejection lasts (0 when never ejected); may be in the past. */
  get ejectedUntilMs(): number {
    return this.#ejectedUntilMs;
  }

  /** Ejections so far (passive ones; probe verdicts are not counted). */
  get ejections(): number {
    return this.#ejections;
  }

  /** When the last counted failure (try or probe) happened; -Infinity if never. */
  get lastFailureMs(): number {
    return this.#lastFailureMs;
  }

  /** Whether an operator holds the backend out (draining or disabled). */
  get heldByAdmin(): boolean {
    return this.#admin !== undefined;
  }

  /**
   * The soonest time the backend may be available again, for `Retry-After`: the end of its
   * ejection, or after the probes still needed to rise; Infinity while an operator holds it.
   */
  expectedBackMs(nowMs: number): number {
    if (this.#admin !== undefined) return Infinity;
    if (this.#probeDown) {
      const probes = Math.max(1, this.#settings.rise - this.#probePasses);
      return Math.max(nowMs + probes * this.#settings.probeIntervalMs, this.#ejectedUntilMs);
    }
    return Math.max(nowMs, this.#ejectedUntilMs);
  }

  /** Whether a failure of this kind counts towards ejection (`countedFailures`). */
  counts(kind: TryFailure): boolean {
    return this.#settings.countedFailures.has(kind === "protocol" ? "reset" : kind);
  }

  /** A try got an answer below 500. */
  recordSuccess(nowMs: number): void {
    if (this.#recorded !== "healthy") this.#settle(nowMs);
    this.#consecutiveFailures = 0;
  }

  /**
   * A try failed. Counts it if its kind is one of `countedFailures`, and ejects the backend
   * when that makes `failuresToEject` in a row. A backend already out is not ejected again
   * (requests sent before it went out may still fail; that must not multiply its back-off).
   *
   * @returns whether this failure ejected the backend.
   */
  recordFailure(cause: Cause, kind: TryFailure = "5xx"): boolean {
    const nowMs = cause.atMs;
    this.#settle(nowMs);
    if (!this.counts(kind)) return false;
    const spellStartMs = Math.max(this.#lastFailureMs, this.#returnedAtMs);
    if (nowMs - spellStartMs >= this.#settings.healthySpellMs) this.#consecutiveEjections = 0;
    this.#lastFailureMs = nowMs;
    if (!this.available(nowMs)) return false;
    if (++this.#consecutiveFailures < this.#settings.failuresToEject) return false;
    const failures = this.#consecutiveFailures;
    this.#consecutiveFailures = 0;
    this.#consecutiveEjections++;
    this.#ejections++;
    const { retryDowntimeMs, maxEjectionMs, exponential } = this.#settings;
    const lengthMs = exponential
      ? Math.min(maxEjectionMs, retryDowntimeMs * 2 ** (this.#consecutiveEjections - 1))
      : retryDowntimeMs;
    this.#ejectedUntilMs = nowMs + lengthMs;
    this.#returnedAtMs = this.#ejectedUntilMs;
    this.#probePasses = 0;
    const detail = failures > 1
      ? `${failures} failures in a row, last: ${cause.detail}`
      : cause.detail;
    this.#update(nowMs, { ...cause, detail }, this.#ejectedUntilMs);
    return true;
  }

  /** An active probe finished; `pass` says whether its status was in the expected range. */
  recordProbe(pass: boolean, cause: Cause): void {
    const nowMs = cause.atMs;
    this.#settle(nowMs);
    const first = !this.#probed;
    this.#probed = true;
    if (!pass) {
      this.#probePasses = 0;
      this.#probeFails++;
      this.#lastFailureMs = nowMs;
      if (!this.#probeDown && (first || this.#probeFails >= this.#settings.fall)) {
        this.#probeDown = true;
        const detail = this.#probeFails > 1
          ? `${this.#probeFails} failing probes in a row, last: ${cause.detail}`
          : cause.detail;
        this.#update(nowMs, { ...cause, detail });
      }
      return;
    }
    this.#probeFails = 0;
    this.#probePasses++;
    if (this.#probePasses < this.#settings.rise) return;
    const ejected = nowMs < this.#ejectedUntilMs;
    if (!this.#probeDown && !ejected) return;
    this.#probeDown = false;
    if (ejected) this.#ejectedUntilMs = nowMs;
    this.#returnedAtMs = nowMs;
    const detail = `${this.#probePasses} passing probes in a row, last: ${cause.detail}`;
    this.#update(nowMs, { ...cause, detail });
  }

  /** An operator stops new requests to the backend; those in flight finish. */
  drain(cause: Cause): void {
    this.#settle(cause.atMs);
    this.#admin = "draining";
    this.#update(cause.atMs, cause);
  }

  /** An operator takes the backend out until {@linkcode enable}. */
  disable(cause: Cause): void {
    this.#settle(cause.atMs);
    this.#admin = "disabled";
    this.#update(cause.atMs, cause);
  }

  /**
   * An operator returns the backend: lifts a drain or disable and any passive ejection, and
   * starts its slow start. A failing probe verdict stays until probes pass.
   */
  enable(cause: Cause): void {
    const nowMs = cause.atMs;
    this.#settle(nowMs);
    const wasOut = !this.available(nowMs);
    this.#admin = undefined;
    this.#consecutiveFailures = 0;
    if (this.#ejectedUntilMs > nowMs) this.#ejectedUntilMs = nowMs;
    if (wasOut && !this.#probeDown) this.#returnedAtMs = nowMs;
    const detail = this.#probeDown ? `${cause.detail}; probes still failing` : cause.detail;
    this.#update(nowMs, { ...cause, detail });
  }

  /**
   * A backend that joined a running pool (a new address from DNS): with `awaitProbes` it is
   * out until `rise` probes pass, and its slow start (if any) begins then; otherwise its slow
   * start begins now. Backends of the initial set never call this: they start in rotation.
   */
  join(cause: Cause, awaitProbes: boolean): void {
    const nowMs = cause.atMs;
    this.#probed = true;
    this.#probeDown = awaitProbes;
    this.#returnedAtMs = nowMs;
    const detail = awaitProbes
      ? `${cause.detail}; out until ${this.#settings.rise} probes pass`
      : cause.detail;
    this.#update(nowMs, { ...cause, source: awaitProbes ? "probe" : cause.source, detail });
  }

  /** Recomputes `#outUntilMs` and records the state a change led to. */
  #update(nowMs: number, cause: Cause, untilMs?: number): void {
    this.#outUntilMs = this.#admin !== undefined || this.#probeDown
      ? Infinity
      : this.#ejectedUntilMs;
    const to = this.#current(nowMs);
    // A new reason to stay out is worth recording even when the state stays `failed`.
    if (to !== this.#recorded || to === "failed") this.#record(to, cause, untilMs);
  }

  /** The state from the stored facts, ignoring the history. */
  #current(nowMs: number): HealthState {
    if (this.#admin !== undefined) return this.#admin;
    if (this.#probeDown || nowMs < this.#ejectedUntilMs) return "failed";
    if (nowMs < this.#returnedAtMs + this.#settings.slowStartMs) return "recovering";
    return "healthy";
  }

  /** Writes the transitions that happened by the passing of time, at the time they did. */
  #settle(nowMs: number): void {
    if (this.#recorded === "failed" && this.#admin === undefined && !this.#probeDown) {
      const endMs = this.#ejectedUntilMs;
      if (nowMs < endMs) return;
      const to = endMs < this.#returnedAtMs + this.#settings.slowStartMs ? "recovering" : "healthy";
      this.#record(to, { source: "request", detail: "ejection time over", atMs: endMs });
    }
    if (this.#recorded === "recovering" && this.#admin === undefined) {
      const endMs = this.#returnedAtMs + this.#settings.slowStartMs;
      if (nowMs < endMs) return;
      const source = this.#cause?.source ?? "request";
      this.#record("healthy", { source, detail: "slow start over", atMs: endMs });
    }
  }

  #record(to: HealthState, cause: Cause, untilMs?: number): void {
    const transition: Transition = untilMs === undefined
      ? { from: this.#recorded, to, cause }
      : { from: this.#recorded, to, cause, untilMs };
    if (this.#history.length === HISTORY_SIZE) this.#history.shift();
    this.#history.push(transition);
    this.#recorded = to;
    this.#cause = cause;
  }
}
