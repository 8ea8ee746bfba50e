/**
 * Watching the bodies of a `fetch` try: the response body read in JavaScript, so that a body
 * the backend cuts or leaves idle is noticed and reported (`onBodyError`), and a stream
 * request body watched as fetch takes it.
 *
 * Handed straight to `Deno.serve`, a response body is piped natively: a cut ends the
 * client's response abnormally, but nothing in JavaScript ever learns of it. Two ways to
 * read it, by cost:
 *
 * - A body with a declared length up to {@linkcode WHOLE_BODY_BYTES} is read whole before
 *   `send` resolves (one read, under one idle deadline) and handed on as bytes, which
 *   `Deno.serve` writes with the head; the head waits for a body that small, as with nginx's
 *   response buffering. If it fails, the client gets the head and a body that errors at
 *   once, as if it had streamed.
 * - Any other body goes through a pull-based stream, one read per pull (backpressure kept)
 *   with an idle deadline per wait: it costs more per answer, so it is kept for bodies that
 *   need streaming. bench/README.md, "The fetch transport's body watch", has the figures.
 *
 * @module
 */

import {
  bodyCutError,
  bodyIdleError,
  requestBodyStalled,
  type UpstreamError,
  type UpstreamRequest,
} from "./transport.ts";
import type { Deadline, Deadlines } from "./deadlines.ts";

/** Largest declared body read whole before the head is handed on (see the module doc). */
export const WHOLE_BODY_BYTES = 64 * 1024;

/** The fetch a body belongs to, as the watches here act on it. */
export interface WatchedFetch {
  /** Whether the response head is back. */
  readonly headBack: boolean;
  /** Starts the per-try timeout: a stream request body has all been taken. */
  startTimeout(): void;
  /** Aborts the fetch: its head, or a body being read whole, rejects with `reason`. */
  abort(reason?: unknown): void;
}

/**
 * A stream request body as fetch takes it, one client read per pull (backpressure kept).
 * A pull means fetch has taken the piece before; a piece left untaken for `idleMs` means the
 * backend stopped reading, and the fetch is aborted with that. The end of the body starts the
 * per-try timeout: a slow upload is the client's pace, not the backend's (as nginx's
 * proxy_read_timeout).
 */
export function watchUpload(
  body: ReadableStream<Uint8Array>,
  fetch: WatchedFetch,
  idleMs: number | undefined,
  deadlines: Deadlines,
): ReadableStream<Uint8Array> {
  return new ReadableStream(new UploadWatch(body, fetch, idleMs, deadlines), {
    highWaterMark: 0,
  });
}

/**
 * The response body to hand on: as fetch gave it when nothing watches it, read whole when it
 * is small, else a watched stream.
 */
export async function watchResponseBody(
  response: Response,
  request: UpstreamRequest,
  fetch: WatchedFetch,
  deadlines: Deadlines,
): Promise<Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null> {
  const body = response.body;
  if (body === null || (request.bodyIdleTimeoutMs === undefined && !request.onBodyError)) {
    return body;
  }
  const length = response.headers.get("content-length");
  return length !== null && Number(length) <= WHOLE_BODY_BYTES
    ? await readWhole(response, request, fetch, deadlines)
    : new ReadableStream(new WatchedBody(body, request, deadlines));
}

/**
 * The whole of a small body, or, when the backend cuts it or leaves it idle, a stream that
 * errors at once (after `onBodyError`), so the client sees the same as for a streamed body:
 * the head, then an abnormal end.
 */
async function readWhole(
  response: Response,
  request: UpstreamRequest,
  fetch: WatchedFetch,
  deadlines: Deadlines,
): Promise<Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>> {
  const idleMs = request.bodyIdleTimeoutMs;
  let idled = false;
  // Aborting the fetch cuts a body that JavaScript is reading.
  const deadline = idleMs === undefined ? undefined : deadlines.add(idleMs, () => {
    idled = true;
    fetch.abort();
  });
  try {
    return await response.bytes();
  } catch (error) {
    const failure = idled ? bodyIdleError(idleMs!) : bodyCutError(error);
    // A client that left is not the backend's fault.
    if (!request.signal.aborted) request.onBodyError?.(failure);
    return new ReadableStream({ start: (controller) => controller.error(failure) });
  } finally {
    deadline?.clear();
  }
}

class UploadWatch implements UnderlyingDefaultSource<Uint8Array> {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #fetch: WatchedFetch;
  readonly #idleMs: number | undefined;
  readonly #deadlines: Deadlines;
  #untaken: Deadline | undefined;
  #onStall: (() => void) | undefined;

  constructor(
    body: ReadableStream<Uint8Array>,
    fetch: WatchedFetch,
    idleMs: number | undefined,
    deadlines: Deadlines,
  ) {
    this.#reader = body.getReader();
    this.#fetch = fetch;
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
      this.#fetch.startTimeout();
      return;
    }
    controller.enqueue(value);
    const idleMs = this.#idleMs;
    if (idleMs !== undefined) {
      this.#untaken = this.#deadlines.add(idleMs, this.#onStall ??= () => this.#stall(idleMs));
    }
  }

  cancel(reason: unknown): Promise<void> {
    this.#untaken?.clear();
    return this.#reader.cancel(reason);
  }

  /** An answer that came before the upload was taken ends the upload, not the exchange. */
  #stall(idleMs: number): void {
    if (!this.#fetch.headBack) this.#fetch.abort(requestBodyStalled(idleMs));
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
  readonly #clientSignal: AbortSignal;
  readonly #deadlines: Deadlines;
  #idle = false;
  #cancelled = false;

  constructor(body: ReadableStream<Uint8Array>, watch: UpstreamRequest, deadlines: Deadlines) {
    this.#reader = body.getReader();
    // These fields, not the request: it holds the request body, not needed any more.
    this.#idleMs = watch.bodyIdleTimeoutMs;
    this.#onError = watch.onBodyError;
    this.#clientSignal = watch.signal;
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
      // The client left: its signal aborted the fetch, which cut this body. Not the backend.
      if (this.#clientSignal.aborted) return controller.error(error);
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
