/**
 * Per-try and body idle deadlines without a timer (or an `AbortSignal`) per request.
 *
 * Every try of a balancer has the same timeout (and every body read the same idle timeout),
 * so deadlines arrive in the order they are set: a FIFO per duration, with one timer armed
 * for its oldest entry, is enough. Finished ones are only marked; the queue drops them when
 * their deadline comes, or compacts itself when they pile up. This is how Node keeps
 * timers of one duration in one list. Expiry runs at most `slackMs` late, so a busy queue
 * wakes up at most 1000/`slackMs` times a second whatever the request rate.
 *
 * @module
 */

import { backgroundTimers, type Clock, monotonicClock, type Timers } from "../lib/time.ts";

/** A deadline that can be cleared once the try it guards has finished. */
export interface Deadline {
  clear(): void;
}

class Entry implements Deadline {
  cleared = false;
  /** Dropped once cleared: a cleared entry may wait in its lane until its deadline, and must
   * not keep the finished try (its guard, its client's signal) alive that long. */
  onExpire: (() => void) | undefined;
  constructor(readonly lane: Lane, readonly atMs: number, onExpire: () => void) {
    this.onExpire = onExpire;
  }
  clear(): void {
    if (this.cleared) return;
    this.cleared = true;
    this.onExpire = undefined;
    this.lane.live--;
  }
}

/** Entries a lane may hold before it considers compacting. */
const COMPACT_FROM = 1024;

/** Deadlines of one duration, oldest first. */
class Lane {
  entries: Entry[] = [];
  head = 0;
  timer: number | undefined;
  /** Entries not cleared yet. */
  live = 0;

  push(entry: Entry): void {
    this.entries.push(entry);
    this.live++;
    // Cleared entries leave from the front as time passes; a long deadline still pending at
    // the front (a body idle for most of a minute) would hold back every cleared one behind
    // it. Compacting once they outnumber the live ones keeps memory proportional to the
    // live deadlines, at an amortised O(1) per entry.
    const queued = this.entries.length - this.head;
    if (queued > COMPACT_FROM && queued > 4 * this.live) {
      this.entries = this.entries.filter((e, i) => i >= this.head && !e.cleared);
      this.head = 0;
    }
  }

  /** Drops cleared entries at the front; returns the oldest live one. */
  oldest(): Entry | undefined {
    while (this.head < this.entries.length && this.entries[this.head].cleared) this.head++;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
    return this.entries[this.head];
  }
}

/** Schedules deadlines of any duration, sharing one timer per duration. */
export class Deadlines {
  readonly #lanes = new Map<number, Lane>();

  /**
   * @param slackMs how late a deadline may fire, in milliseconds. Default 10.
   * @param timers default {@linkcode backgroundTimers}: a pending deadline must not keep the
   * process alive on its own.
   * @param clock default {@linkcode monotonicClock}, which wall-clock steps cannot spoil.
   */
  constructor(
    readonly slackMs = 10,
    readonly timers: Timers = backgroundTimers,
    readonly clock: Clock = monotonicClock,
  ) {}

  /** Calls `onExpire` once `ms` milliseconds have passed, unless cleared first. */
  add(ms: number, onExpire: () => void): Deadline {
    let lane = this.#lanes.get(ms);
    if (lane === undefined) this.#lanes.set(ms, lane = new Lane());
    const entry = new Entry(lane, this.clock() + ms, onExpire);
    lane.push(entry);
    if (lane.timer === undefined) this.#arm(lane, ms);
    return entry;
  }

  /** Entries held, live or cleared but not dropped yet: memory in use, for tests. */
  get queued(): number {
    let count = 0;
    for (const lane of this.#lanes.values()) count += lane.entries.length - lane.head;
    return count;
  }

  /** Stops every timer; pending deadlines never fire. */
  close(): void {
    for (const lane of this.#lanes.values()) {
      if (lane.timer !== undefined) this.timers.clearTimeout(lane.timer);
    }
    this.#lanes.clear();
  }

  #arm(lane: Lane, ms: number): void {
    const entry = lane.oldest();
    if (entry === undefined) {
      lane.timer = undefined;
      return;
    }
    const wait = Math.max(entry.atMs - this.clock(), this.slackMs);
    lane.timer = this.timers.setTimeout(() => this.#expire(lane, ms), wait);
  }

  #expire(lane: Lane, ms: number): void {
    const now = this.clock();
    for (
      let entry = lane.oldest();
      entry !== undefined && entry.atMs <= now;
      entry = lane.oldest()
    ) {
      const expire = entry.onExpire!;
      entry.clear();
      expire();
    }
    this.#arm(lane, ms);
  }
}
