/**
 * The last few finished requests, every try included, for the dashboard: a fixed ring the
 * metrics hook writes one reference into per request (the record is made anyway), read only
 * when `GET /recent` asks.
 *
 * @module
 */

import type { RequestRecord } from "../balancer/balancer.ts";

/** How many requests the ring keeps by default. */
export const RECENT_REQUESTS = 50;

/** A bounded ring of the most recent request records. */
export class RecentRequests {
  readonly #ring: (RequestRecord | undefined)[];
  #next = 0;

  constructor(readonly size = RECENT_REQUESTS) {
    this.#ring = new Array(size);
  }

  /** Keeps `record`, forgetting the oldest once full. */
  push(record: RequestRecord): void {
    this.#ring[this.#next] = record;
    this.#next = (this.#next + 1) % this.size;
  }

  /** The records kept, newest first. */
  list(): RequestRecord[] {
    const out: RequestRecord[] = [];
    for (let i = 1; i <= this.size; i++) {
      const record = this.#ring[(this.#next - i + this.size) % this.size];
      if (record === undefined) break;
      out.push(record);
    }
    return out;
  }
}
