/**
 * Request ids: the client's `x-request-id` when it is a sane token, else one made here from
 * a per-balancer random prefix and a counter: about 30 ns an id against 70 ns for
 * `crypto.randomUUID()` (bench/request_id_bench.ts; both small beside a request), and the
 * random prefix keeps ids from different processes, workers and reloads apart.
 *
 * @module
 */

/** What an id from a client may be: 1-128 visible characters safe in a header and a log. */
const SANE = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

/** Whether `value`, from a client, may be kept as the request id. */
export function isSaneRequestId(value: string): boolean {
  return SANE.test(value);
}

/** Makes request ids: `<8 hex digits>-<counter in base 36>`. */
export class RequestIds {
  readonly #prefix: string;
  #count = 0;

  /** @param random 32 random bits; default from `crypto.getRandomValues` */
  constructor(random: number = crypto.getRandomValues(new Uint32Array(1))[0]) {
    this.#prefix = `${(random >>> 0).toString(16).padStart(8, "0")}-`;
  }

  /** The next id. */
  next(): string {
    return this.#prefix + (++this.#count).toString(36);
  }

  /** `given` (the client's `x-request-id`) when it is sane, else a new id. */
  of(given: string | null): string {
    return given !== null && SANE.test(given) ? given : this.next();
  }
}
