/**
 * What a started mock looks like to its caller, and the pieces every mock server shares:
 * arrival counting and an idempotent close.
 *
 * @module
 */

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

  /** Records one request whose headers were received. */
  record(method: string): void {
    this.#total++;
    this.#byMethod[method] = (this.#byMethod[method] ?? 0) + 1;
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
    close: () => closed ??= parts.close(),
  };
}
