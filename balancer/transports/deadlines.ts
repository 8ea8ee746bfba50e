/**
 * Per-try deadlines without a timer (or an `AbortSignal`) per request.
 *
 * Every try of a balancer has the same timeout, so deadlines arrive in the order they are set:
 * a FIFO per duration, with one timer armed for its oldest entry, is enough. Finished tries
 * are only marked; the queue drops them when their deadline comes. This is how Node keeps
 * timers of one duration in one list. Expiry runs at most `slackMs` late, so a busy queue
 * wakes up at most 1000/`slackMs` times a second whatever the request rate.
 *
 * @module
 */

/** A deadline that can be cleared once the try it guards has finished. */
export interface Deadline {
  clear(): void;
}

/** What the queue needs from the platform; tests pass a fake. */
export interface TimerHost {
  now(): number;
  setTimer(callback: () => void, ms: number): number;
  clearTimer(id: number): void;
}

const REAL_TIMERS: TimerHost = {
  now: () => performance.now(),
  setTimer(callback, ms) {
    const id = setTimeout(callback, ms) as unknown as number;
    // A pending deadline must not keep the process alive on its own.
    Deno.unrefTimer(id);
    return id;
  },
  clearTimer: (id) => clearTimeout(id),
};

class Entry implements Deadline {
  cleared = false;
  constructor(readonly atMs: number, readonly onExpire: () => void) {}
  clear(): void {
    this.cleared = true;
  }
}

/** Deadlines of one duration, oldest first. */
class Lane {
  readonly entries: Entry[] = [];
  head = 0;
  timer: number | undefined;

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

  constructor(readonly slackMs = 10, readonly timers: TimerHost = REAL_TIMERS) {}

  /** Calls `onExpire` once `ms` milliseconds have passed, unless cleared first. */
  add(ms: number, onExpire: () => void): Deadline {
    let lane = this.#lanes.get(ms);
    if (lane === undefined) this.#lanes.set(ms, lane = new Lane());
    const entry = new Entry(this.timers.now() + ms, onExpire);
    lane.entries.push(entry);
    if (lane.timer === undefined) this.#arm(lane, ms);
    return entry;
  }

  /** Stops every timer; pending deadlines never fire. */
  close(): void {
    for (const lane of this.#lanes.values()) {
      if (lane.timer !== undefined) this.timers.clearTimer(lane.timer);
    }
    this.#lanes.clear();
  }

  #arm(lane: Lane, ms: number): void {
    const entry = lane.oldest();
    if (entry === undefined) {
      lane.timer = undefined;
      return;
    }
    const wait = Math.max(entry.atMs - this.timers.now(), this.slackMs);
    lane.timer = this.timers.setTimer(() => this.#expire(lane, ms), wait);
  }

  #expire(lane: Lane, ms: number): void {
    const now = this.timers.now();
    for (let entry = lane.oldest(); entry !== undefined && entry.atMs <= now; entry = lane.oldest()) {
      entry.cleared = true;
      entry.onExpire();
    }
    this.#arm(lane, ms);
  }
}
