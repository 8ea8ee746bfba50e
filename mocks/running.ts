/**
 * What a started mock looks like to its caller, and the pieces every mock server shares:
 * arrival counting and an idempotent close.
 *
 * @module
 */

import type { MockMode, ModeSetting, ModeSwitch } from "./_mode.ts";
import type { MockKind, ResolvedMockOptions } from "./options.ts";

/** A mock app that is listening. */
export interface RunningMock {
  /** Which app this is. */
  readonly kind: MockKind;
  /** Base URL to send requests to, such as `"http://127.0.0.1:8080"`. */
  readonly url: string;
  /** The port actually bound (useful when 0 was asked for). */
  readonly port: number;
  /**
   * Requests that arrived, counted as soon as a request's headers are received, before any
   * failure or delay: a request the mock then fails, delays or ignores still counts.
   */
  readonly arrivals: number;
  /** Arrivals by method, such as `{ POST: 3, GET: 1 }`; a snapshot, not a live view. */
  readonly arrivalsByMethod: Readonly<Record<string, number>>;
  /**
   * How many requests with request id `id` arrived (the query parameter `id`, or the header
   * `x-request-id`; the fault mocks that speak raw TCP read only the query parameter),
   * counted like {@linkcode arrivals}: what a test needs to assert "received exactly once".
   */
  received(id: string): number;
  /** Every request id seen and its count; a snapshot. */
  readonly receivedIds: Readonly<Record<string, number>>;
  /** The mode in force (see `setMode`). */
  readonly mode: ModeSetting;
  /**
   * Changes what the mock does from the next request on, keeping its connections open:
   * `as-started` (its kind's behaviour), `normal`, `slow` (waits `delayMs`, default the
   * `delayMs` option) or `failing` (500). `POST /_mock/mode` does the same over HTTP.
   *
   * @throws {RangeError} for an unknown mode or a bad delay.
   * @throws {TypeError} for the fault mocks that speak raw TCP (reset, garbage, slow-body,
   *   blackhole): they have one behaviour only.
   */
  setMode(mode: MockMode, options?: { delayMs?: number }): ModeSetting;
  /**
   * Stops listening, ends in-flight work (delays, trickles, held connections) and resolves
   * once every listener, connection and timer is released. Calling it again returns the
   * same promise.
   */
  close(): Promise<void>;
}

/** One mock app: how to start it, and the paragraph `mock --help` prints about it. */
export interface MockApp {
  /** What the app does and which options apply. */
  readonly help: string;
  /** Starts listening; throws if the address cannot be bound. */
  start(options: ResolvedMockOptions): RunningMock;
}

/** Counts requests as they arrive. One per running mock, never shared. */
export class Arrivals {
  #total = 0;
  readonly #byMethod: Record<string, number> = {};
  readonly #byId = new Map<string, number>();

  /** Records one request whose headers were received, with its request id if it has one. */
  record(method: string, id?: string): void {
    this.#total++;
    this.#byMethod[method] = (this.#byMethod[method] ?? 0) + 1;
    if (id !== undefined) this.#byId.set(id, (this.#byId.get(id) ?? 0) + 1);
  }

  /** Requests recorded with request id `id`. */
  received(id: string): number {
    return this.#byId.get(id) ?? 0;
  }

  /** A frozen copy of the counts by request id. */
  get receivedIds(): Readonly<Record<string, number>> {
    return Object.freeze(Object.fromEntries(this.#byId));
  }

  /** All requests recorded so far. */
  get total(): number {
    return this.#total;
  }

  /** A frozen copy of the counts by method. */
  get byMethod(): Readonly<Record<string, number>> {
    return Object.freeze({ ...this.#byMethod });
  }
}

/**
 * The URL clients should use for a server bound to `hostname`. A wildcard address is not a
 * destination, so it becomes the loopback address of the same family; IPv6 needs brackets.
 */
export function listenUrl(hostname: string, port: number): string {
  if (hostname === "0.0.0.0") return `http://127.0.0.1:${port}`;
  if (hostname === "::") return `http://[::1]:${port}`;
  return hostname.includes(":") ? `http://[${hostname}]:${port}` : `http://${hostname}:${port}`;
}

/** The parts a server hands to {@linkcode runningMock}. */
export interface RunningMockParts {
  readonly kind: MockKind;
  readonly url: string;
  readonly port: number;
  readonly arrivals: Arrivals;
  /** The mode switch of an HTTP mock; the raw TCP mocks have none. */
  readonly modes?: ModeSwitch;
  /** Releases everything; called at most once. */
  readonly close: () => Promise<void>;
}

/** Wraps a server's parts into a {@linkcode RunningMock} whose `close()` runs only once. */
export function runningMock(parts: RunningMockParts): RunningMock {
  let closed: Promise<void> | undefined;
  return {
    kind: parts.kind,
    url: parts.url,
    port: parts.port,
    get arrivals() {
      return parts.arrivals.total;
    },
    get arrivalsByMethod() {
      return parts.arrivals.byMethod;
    },
    received: (id) => parts.arrivals.received(id),
    get receivedIds() {
      return parts.arrivals.receivedIds;
    },
    get mode() {
      return parts.modes?.setting ?? { mode: "as-started", delayMs: 0 };
    },
    setMode(mode, options = {}) {
      if (parts.modes === undefined) {
        throw new TypeError(`The ${parts.kind} mock speaks raw TCP and has no other mode`);
      }
      return parts.modes.set(mode, options.delayMs ?? parts.modes.defaultDelayMs);
    },
    close: () => closed ??= parts.close(),
  };
}
