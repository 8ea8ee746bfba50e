/**
 * The upstream transport built on `fetch`, the user's original design: one `fetch` per try.
 *
 * The per-try timeout covers the response head only: it aborts the `fetch` through a signal
 * of its own, which is left alone once the head is back. (`AbortSignal.timeout` handed to
 * `fetch` would also cut any body still being read when it fires, since the body is read
 * here in JavaScript, see below.)
 *
 * The response body is read in JavaScript rather than handed straight to `Deno.serve`: that
 * is the only place where a body the backend cuts, or leaves idle for `bodyIdleTimeoutMs`,
 * can be noticed and reported (`onBodyError`). Passed straight through, `Deno.serve` pipes
 * it natively and ends the client's response abnormally, but nothing in JavaScript ever
 * learns of it. Two ways, by cost:
 *
 * - A body with a declared length up to {@linkcode WHOLE_BODY_BYTES} is read whole before
 *   `send` resolves (one read, under one idle deadline), and handed on as bytes, which
 *   `Deno.serve` writes with the head. That costs nothing measurable (a small POST through
 *   the balancer: 3,185 req/s against 3,106 passing the body through, A/B in one process);
 *   the head waits for a body that small, as with nginx's response buffering. If it fails,
 *   the client gets the head and a body that errors at once, as if it had streamed.
 * - Any other body goes through a pull-based stream, one read per pull (backpressure kept)
 *   with an idle deadline per wait. That costs about a fifth of the throughput of small
 *   answers (2,392 req/s in the same A/B), so it is kept for bodies that need streaming.
 *
 * `Http1Transport` watches its own bodies natively, at no such cost.
 *
 * Warm connections: the per-try timeout aborts the whole `fetch`, including any resend that
 * Deno's client makes by itself, so a timeout on a warm connection is a timeout
 * (`tests/warm_connections_test.ts`). But Deno's client (hyper) does re-send a request on a
 * new connection, to the same backend, when a pooled connection is reset after the backend
 * read the request (measured: a node:http backend that reads a POST and resets the
 * connection receives it twice). Nothing here can stop that resend, so a request that must
 * not run twice (a method that is not idempotent, without an `Idempotency-Key`) never
 * travels on a pooled connection: it gets a connection of its own, which hyper never
 * re-sends on. Idempotent requests keep the pool; for them a same-backend resend after a
 * reset stays possible, which `Http1Transport` (the default for `http://`) never does. What
 * `fetch` also cannot do is tell a reused connection that closed before answering from any
 * other reset: that is counted against the backend, where `Http1Transport` reports a
 * `ReusedConnectionClosed` that is not.
 *
 * @module
 */

import {
  bodyCutError,
  bodyIdleError,
  requestBodyStalled,
  type Transport,
  type UpstreamError,
  type UpstreamRequest,
} from "./transport.ts";
import { endToEnd, hasField, IDEMPOTENCY_KEY, isIdempotentMethod } from "../lib/headers.ts";
import { type Deadline, Deadlines } from "./deadlines.ts";

/** Options for {@linkcode FetchTransport}. */
export interface FetchTransportOptions {
  /** Idle keep-alive connections kept per backend. Default 256. */
  readonly poolMaxIdlePerHost?: number;
  /** How long an idle pooled connection is kept, in milliseconds. Default 90000 (90 s). */
  readonly poolIdleTimeoutMs?: number;
}

/** `fetch` over a dedicated HTTP/1.1 client with a keep-alive pool. */
export class FetchTransport implements Transport {
  /** Keep-alive pool, for requests that may safely be sent twice. */
  readonly #client: Deno.HttpClient;
  /** No pool: a connection per request, for those that must reach a backend once at most. */
  readonly #unpooled: Deno.HttpClient;
  readonly #deadlines = new Deadlines();

  constructor(options: FetchTransportOptions = {}) {
    this.#client = Deno.createHttpClient({
      http1: true,
      http2: false,
      // A `host` header of ours (the client's Host, `upstreamHost: client`) is sent as it is.
      allowHost: true,
      poolMaxIdlePerHost: options.poolMaxIdlePerHost ?? 256,
      poolIdleTimeout: options.poolIdleTimeoutMs ?? 90_000,
    });
    this.#unpooled = Deno.createHttpClient({
      http1: true,
      http2: false,
      allowHost: true,
      poolMaxIdlePerHost: 0,
    });
  }

  async send(request: UpstreamRequest): Promise<Response> {
    const clientSignal = request.signal;
    clientSignal.throwIfAborted();
    // fetch decompresses gzip/br unless accept-encoding is exactly "identity", yet keeps the
    // compressed content-encoding and content-length: the client would get corrupt bytes.
    // Asking for identity makes fetch pass the backend's bytes through untouched, whatever
    // it sends (PLATFORM.md, "gzip trap").
    const headers = new Headers(request.headers);
    headers.set("accept-encoding", "identity");
    // Sent as given only because the client is made with `allowHost`; else fetch replaces it.
    if (request.host !== undefined) headers.set("host", request.host);
    const attempt = new Attempt(clientSignal, request.timeoutMs, this.#deadlines);
    // Until the head (and a whole small body) is back; a streamed body that the client
    // leaves is cancelled by Deno.serve instead.
    clientSignal.addEventListener("abort", attempt, { once: true });
    try {
      let upload = request.body;
      if (upload instanceof ReadableStream) {
        // A stream body takes as long as its client takes to send it: the per-try timeout
        // starts once fetch has taken all of it (as nginx's proxy_read_timeout), and the
        // idle timeout bounds how long the backend may leave a piece of it untaken.
        const idleMs = request.bodyIdleTimeoutMs;
        const watch = new UploadWatch(upload, attempt, idleMs, this.#deadlines);
        upload = new ReadableStream(watch, { highWaterMark: 0 });
      } else {
        attempt.startTimeout();
      }
      let response: Response;
      try {
        response = await fetch(request.baseUrl + request.path, {
          method: request.method,
          headers,
          body: upload,
          signal: attempt.signal,
          redirect: "manual",
          client: mayRepeat(request) ? this.#client : this.#unpooled,
        });
      } finally {
        attempt.headBack();
      }
      let body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null = response.body;
      if (body !== null && (request.bodyIdleTimeoutMs !== undefined || request.onBodyError)) {
        const length = response.headers.get("content-length");
        body = length !== null && Number(length) <= WHOLE_BODY_BYTES
          ? await this.#readWhole(response, request, attempt)
          : new ReadableStream(new WatchedBody(body, request, this.#deadlines));
      }
      // fetch's response headers are immutable; the Transport contract wants them mutable
      // and end-to-end only: one copy does both.
      return new Response(body, {
        status: response.status,
        statusText: response.statusText,
        headers: endToEnd(response.headers),
      });
    } finally {
      clientSignal.removeEventListener("abort", attempt);
    }
  }

  close(): void {
    this.#client.close();
    this.#unpooled.close();
    this.#deadlines.close();
  }

  /**
   * The whole of a small body, or, when the backend cuts it or leaves it idle, a stream
   * that errors at once (after `onBodyError`), so the client sees the same as for a
   * streamed body: the head, then an abnormal end.
   */
  async #readWhole(
    response: Response,
    request: UpstreamRequest,
    attempt: Attempt,
  ): Promise<Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>> {
    const idleMs = request.bodyIdleTimeoutMs;
    const deadline = idleMs === undefined
      ? undefined
      : this.#deadlines.add(idleMs, () => attempt.idle());
    try {
      // Aborting the fetch's signal cuts a body that JavaScript is reading.
      return await response.bytes();
    } catch (error) {
      const failure = attempt.idled ? bodyIdleError(idleMs!) : bodyCutError(error);
      // A client that left is not the backend's fault.
      if (!request.signal.aborted) request.onBodyError?.(failure);
      return new ReadableStream({ start: (controller) => controller.error(failure) });
    } finally {
      deadline?.clear();
    }
  }
}

/** Largest declared body read whole before the head is handed on (see the module doc). */
export const WHOLE_BODY_BYTES = 64 * 1024;

/**
 * What aborts a `fetch` (its head, or a small body read whole): the client leaving, the
 * per-try timeout, the body idle timeout, or a backend that stopped taking a stream body.
 */
class Attempt implements EventListenerObject {
  readonly #controller = new AbortController();
  readonly signal = this.#controller.signal;
  /** Whether the body idle timeout aborted it. */
  idled = false;
  readonly #clientSignal: AbortSignal;
  readonly #timeoutMs: number | undefined;
  readonly #deadlines: Deadlines;
  #timeout: Deadline | undefined;
  #headBack = false;

  constructor(clientSignal: AbortSignal, timeoutMs: number | undefined, deadlines: Deadlines) {
    this.#clientSignal = clientSignal;
    this.#timeoutMs = timeoutMs;
    this.#deadlines = deadlines;
  }

  /** Starts the per-try timeout, once, unless the head is already back. */
  startTimeout(): void {
    if (this.#timeoutMs === undefined || this.#timeout !== undefined || this.#headBack) return;
    this.#timeout = this.#deadlines.add(this.#timeoutMs, () => this.#expire());
  }

  /** The head is back (or fetch failed): the per-try timeout and upload watch are over. */
  headBack(): void {
    this.#headBack = true;
    this.#timeout?.clear();
  }

  /** The client left: fetch rejects with its reason, as with the client's own signal. */
  handleEvent(): void {
    this.#controller.abort(this.#clientSignal.reason);
  }

  /** The body idle timeout passed while a small body was read whole. */
  idle(): void {
    this.idled = true;
    this.#controller.abort();
  }

  /** The backend took none of a stream body for `idleMs`: fetch rejects with that. */
  stall(idleMs: number): void {
    if (!this.#headBack) this.#controller.abort(requestBodyStalled(idleMs));
  }

  /** The per-try timeout passed: fetch rejects as `AbortSignal.timeout` would make it. */
  #expire(): void {
    this.#controller.abort(
      new DOMException(`no response within ${this.#timeoutMs}ms`, "TimeoutError"),
    );
  }
}

/**
 * A stream request body as fetch takes it, one client read per pull (backpressure kept).
 * A pull means fetch has taken the piece before; a piece left untaken for the idle timeout
 * means the backend stopped reading. The end of the body starts the per-try timeout.
 */
class UploadWatch implements UnderlyingDefaultSource<Uint8Array> {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #attempt: Attempt;
  readonly #idleMs: number | undefined;
  readonly #deadlines: Deadlines;
  #untaken: Deadline | undefined;
  #onStall: (() => void) | undefined;

  constructor(
    body: ReadableStream<Uint8Array>,
    attempt: Attempt,
    idleMs: number | undefined,
    deadlines: Deadlines,
  ) {
    this.#reader = body.getReader();
    this.#attempt = attempt;
    this.#idleMs = idleMs;
    this.#deadlines = deadlines;
  }

  async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    this.#untaken?.clear();
    this.#untaken = undefined;
    // A read that fails (the client's upload broke, or the proxy refused it) errors this
    // stream, and so the fetch.
    const { done, value } = await this.#reader.read();
    if (done) {
      controller.close();
      this.#attempt.startTimeout();
      return;
    }
    controller.enqueue(value);
    const idleMs = this.#idleMs;
    if (idleMs !== undefined) {
      this.#untaken = this.#deadlines.add(
        idleMs,
        this.#onStall ??= () => this.#attempt.stall(idleMs),
      );
    }
  }

  cancel(reason: unknown): Promise<void> {
    this.#untaken?.clear();
    return this.#reader.cancel(reason);
  }
}

/**
 * A response body read from `fetch` on demand (backpressure is kept: one read per pull),
 * with an idle deadline per wait and the failure reported before the stream errors.
 */
class WatchedBody implements UnderlyingDefaultSource<Uint8Array> {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #idleMs: number | undefined;
  readonly #onError: ((error: UpstreamError) => void) | undefined;
  readonly #deadlines: Deadlines;
  #idle = false;
  #cancelled = false;

  constructor(body: ReadableStream<Uint8Array>, watch: UpstreamRequest, deadlines: Deadlines) {
    this.#reader = body.getReader();
    // The two fields, not the request: it holds the request body, not needed any more.
    this.#idleMs = watch.bodyIdleTimeoutMs;
    this.#onError = watch.onBodyError;
    this.#deadlines = deadlines;
  }

  async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    const idleMs = this.#idleMs;
    let deadline: Deadline | undefined;
    if (idleMs !== undefined) deadline = this.#deadlines.add(idleMs, this.#goneIdle);
    try {
      const { done, value } = await this.#reader.read();
      // Cancelling the reader ends a pending read as if the body were over.
      if (this.#idle) throw bodyIdleError(idleMs!);
      if (done) controller.close();
      else controller.enqueue(value);
    } catch (error) {
      if (this.#cancelled) return;
      const failure: UpstreamError = this.#idle ? bodyIdleError(idleMs!) : bodyCutError(error);
      this.#onError?.(failure);
      controller.error(failure);
    } finally {
      deadline?.clear();
    }
  }

  /** The client left: let go of the backend's body (fetch closes its connection). */
  cancel(reason: unknown): Promise<void> {
    this.#cancelled = true;
    return this.#reader.cancel(reason);
  }

  readonly #goneIdle = (): void => {
    this.#idle = true;
    this.#reader.cancel().catch(() => {});
  };
}

/** Whether a request may travel on a pooled connection, where hyper may send it twice. */
function mayRepeat(request: UpstreamRequest): boolean {
  return isIdempotentMethod(request.method) || hasField(request.headers, IDEMPOTENCY_KEY);
}
