/**
 * Fake time for tests: a clock that moves only when the test advances it, with timers that
 * fire, in order, as it passes them. Production code takes a `Clock` and `Timers`
 * (lib/time.ts); tests pass this one as both.
 *
 * @module
 */

import type { Clock, Timers } from "../lib/time.ts";

interface PendingTimer {
  readonly callback: () => void;
  readonly atMs: number;
}

/** A clock that moves only when told, and timers on it. */
export class FakeClock implements Timers {
  readonly #timers = new Map<number, PendingTimer>();
  #nextId = 1;
  /** Timers set so far, fired or not. */
  armed = 0;

  constructor(public nowMs = 1_700_000_000_000) {}

  /** The clock function to inject. */
  readonly now: Clock = () => this.nowMs;

  setTimeout(callback: () => void, delayMs: number): number {
    this.armed++;
    const id = this.#nextId++;
    this.#timers.set(id, { callback, atMs: this.nowMs + delayMs });
    return id;
  }

  clearTimeout(id: number): void {
    this.#timers.delete(id);
  }

  /** Timers still pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time on by `ms`, running each timer that falls due at its own time. */
  advance(ms: number): void {
    const endMs = this.nowMs + ms;
    for (let due = this.#takeDue(endMs); due; due = this.#takeDue(endMs)) due.callback();
    this.nowMs = endMs;
  }

  /**
   * Like {@linkcode FakeClock.advance}, but lets promise reactions run after each timer, so
   * work a timer starts (a probe and its scripted answer) finishes before the next one fires.
   */
  async advanceSettling(ms: number): Promise<void> {
    const endMs = this.nowMs + ms;
    for (let due = this.#takeDue(endMs); due; due = this.#takeDue(endMs)) {
      due.callback();
      await settle();
    }
    this.nowMs = endMs;
  }

  /** Removes the earliest timer due by `endMs` and moves the clock to its time. */
  #takeDue(endMs: number): PendingTimer | undefined {
    let dueId: number | undefined;
    let due: PendingTimer | undefined;
    for (const [id, timer] of this.#timers) {
      if (timer.atMs <= endMs && (!due || timer.atMs < due.atMs)) [dueId, due] = [id, timer];
    }
    if (!due) return undefined;
    this.#timers.delete(dueId!);
    this.nowMs = Math.max(this.nowMs, due.atMs);
    return due;
  }
}

/** Lets pending promise reactions run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
