/**
 * The guard of one exchange: the per-try timeout, the client leaving and a backend that
 * stops taking the request body each interrupt it, by closing whatever is in progress.
 *
 * @module
 */

import type { Timeline } from "../../lib/timeline.ts";
import { requestBodyStalled, type UpstreamRequest } from "../transport.ts";
import type { Deadline, Deadlines } from "../deadlines.ts";
import type { Http1Connection } from "./connection.ts";
import type { BodyReaderSlot } from "./request.ts";

/**
 * What an abort or the per-try timeout interrupts: a connection being made, the connection
 * in use, and a request body being read.
 */
export class ExchangeGuard implements BodyReaderSlot, EventListenerObject {
  conn?: Http1Connection;
  reader?: ReadableStreamDefaultReader<Uint8Array>;
  connecting?: AbortController;
  /**
   * What interrupted the exchange, once something did: the client's abort reason, a
   * `TimeoutError`, or a stalled request body. Nothing may continue after it.
   */
  interruption: unknown;
  readonly #deadlines: Deadlines;
  readonly #signal: AbortSignal;
  readonly #timeoutMs: number | undefined;
  readonly #idleMs: number | undefined;
  #timeout: Deadline | undefined;
  #write: Deadline | undefined;
  #onStall: (() => void) | undefined;
  #finished = false;

  // One shared deadline queue rather than AbortSignal.timeout + AbortSignal.any per request:
  // those cost a timer, two signals and a DOMException on every request.
  constructor(deadlines: Deadlines, request: UpstreamRequest, signal: AbortSignal) {
    this.#deadlines = deadlines;
    this.#signal = signal;
    this.#timeoutMs = request.timeoutMs;
    this.#idleMs = request.bodyIdleTimeoutMs;
  }

  /** Starts the per-try timeout, once. */
  startTimeout(): void {
    if (this.#timeoutMs === undefined || this.#timeout !== undefined || this.#finished) return;
    this.#timeout = this.#deadlines.add(this.#timeoutMs, () => this.expire());
  }

  /** The whole request is written: the backend's time to answer starts now. */
  written(): void {
    this.startTimeout();
  }

  /** Bounds each write of stream body bytes by the idle timeout. */
  writing(active: boolean): void {
    if (this.#idleMs === undefined || this.#finished) return;
    this.#write?.clear();
    this.#write = active
      ? this.#deadlines.add(this.#idleMs, this.#onStall ??= () => this.stall())
      : undefined;
  }

  /** The exchange is over (head back, or failed): no timer may fire any more. */
  finish(): void {
    this.#finished = true;
    this.#timeout?.clear();
    this.#write?.clear();
  }

  /**
   * Makes `conn` the connection in use, unless the exchange was interrupted meanwhile: then
   * it is closed at once with the interruption as its reason.
   */
  use(conn: Http1Connection): void {
    if (this.interruption !== undefined) conn.close(this.interruption);
    this.conn = conn;
  }

  /** The response head is back: the connection is no longer the exchange's to interrupt. */
  headArrived(): void {
    this.conn = undefined;
  }

  /** The response body has been read to its end, or given up. */
  bodyEnded(): void {}

  /** The backend stopped taking the request body. */
  stall(): void {
    this.interrupt(requestBodyStalled(this.#idleMs!));
  }

  /** The client left (the request signal's listener). */
  handleEvent(): void {
    this.interrupt(this.#signal.reason ?? new DOMException("aborted", "AbortError"));
  }

  /** The per-try timeout passed. */
  expire(): void {
    this.interrupt(new DOMException(`no response within ${this.#timeoutMs}ms`, "TimeoutError"));
  }

  /**
   * Stops everything in progress, once: the connection is closed with `reason` as its
   * reason, so that no failure that follows can be taken for the backend's doing.
   */
  interrupt(reason: unknown): void {
    if (this.interruption !== undefined || this.#finished) return;
    this.interruption = reason;
    this.connecting?.abort();
    this.conn?.close(reason);
    this.reader?.cancel().catch(() => {});
  }
}

/**
 * The guard of an exchange whose phases are timed (the `timeline` setting): it marks them on
 * the request's {@linkcode Timeline} at the points the plain guard is told of anyway, so an
 * exchange without a timeline does no extra work.
 */
export class TimedExchangeGuard extends ExchangeGuard {
  readonly #timeline: Timeline;

  constructor(deadlines: Deadlines, request: UpstreamRequest, signal: AbortSignal) {
    super(deadlines, request, signal);
    this.#timeline = request.timeline!;
    this.#timeline.startTry();
  }

  override use(conn: Http1Connection): void {
    this.#timeline.mark("connected");
    // `readHead` marks the first byte on it (see `Http1Connection.timeline`).
    conn.timeline = this.#timeline;
    super.use(conn);
  }

  override written(): void {
    this.#timeline.mark("written");
    super.written();
  }

  override headArrived(): void {
    this.#timeline.mark("head");
    if (this.conn !== undefined) this.conn.timeline = undefined;
    super.headArrived();
  }

  override bodyEnded(): void {
    this.#timeline.mark("bodyRead");
  }
}
