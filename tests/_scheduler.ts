/**
 * Fake timers for the probe scheduler, on a {@linkcode FakeClock}.
 *
 * @module
 */

import type { FakeClock } from "../lib/clock.ts";
import type { Scheduler } from "../backends/probes.ts";

/** Timers on a {@linkcode FakeClock}: `advance` fires what falls due, in order. */
export class FakeScheduler implements Scheduler {
  readonly #timers = new Map<number, { callback: () => void; atMs: number }>();
  #nextId = 1;
  constructor(readonly clock: FakeClock) {}

  setTimeout(callback: () => void, delayMs: number): number {
    const id = this.#nextId++;
    this.#timers.set(id, { callback, atMs: this.clock.nowMs + delayMs });
    return id;
  }

  clearTimeout(id: unknown): void {
    this.#timers.delete(id as number);
  }

  /** Timers still pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Moves time on by `ms`, running each timer that falls due at its own time. */
  async advance(ms: number): Promise<void> {
    const endMs = this.clock.nowMs + ms;
    for (;;) {
      let due: [number, { callback: () => void; atMs: number }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].atMs <= endMs && (!due || entry[1].atMs < due[1].atMs)) due = entry;
      }
      if (!due) break;
      this.#timers.delete(due[0]);
      this.clock.nowMs = Math.max(this.clock.nowMs, due[1].atMs);
      due[1].callback();
      await settle();
    }
    this.clock.nowMs = endMs;
  }
}

/** Lets promise reactions (a scripted probe's answer) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
