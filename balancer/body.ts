/**
 * Request bodies: buffered when small enough to replay on another backend, streamed when not,
 * and held to the size limit either way.
 *
 * Memory: a buffered body takes at most the replay limit, for as long as its request lasts,
 * so buffered bodies take at most the replay limit times the requests in flight. A larger
 * body streams: it is read from the client only as fast as the backend takes it (each read
 * is one pull of the stream the transport writes from), so a backend that stops reading
 * stops the client's upload after a few socket buffers.
 *
 * @module
 */

import { concatBytes } from "../lib/bytes.ts";

/** A request body ready to send: bytes can be sent any number of times, a stream once. */
export type PreparedBody = Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null;

/**
 * Why a body was refused while it was read: too large (413), its client idle (408), or
 * unreadable (400: malformed chunked coding, or a connection that ended before the declared
 * length; Deno.serve reports both as a `BadResource` error). `answerBodyRefusal` in
 * `refusals.ts` says what the client is told.
 */
export type BodyRefusal = "too-large" | "idle" | "unreadable";

/** The limits a body is prepared with; `BalancerOptions` has them. */
export interface BodyLimits {
  /** Bodies up to this many bytes are buffered. */
  readonly replayLimitBytes: number;
  /** Bodies over this many bytes are refused; 0: no limit. */
  readonly maxBodyBytes: number;
  /** A streamed body whose client sends nothing for this long is refused; 0: no limit. */
  readonly bodyIdleTimeoutMs: number;
}

/**
 * Reads the body of `request` into memory if it is at most `replayLimitBytes`; otherwise
 * returns a stream that yields the bytes already read followed by the rest, unbuffered.
 * `length` is its `content-length` header, already held to the size limit by the refusals.
 * A body without a declared length that passes the size limit while it is buffered is
 * refused (`too-large`); while it streams, see {@linkcode StreamedBody}.
 */
export async function prepareBody(
  request: Request,
  length: string | null,
  limits: BodyLimits,
): Promise<PreparedBody | BodyRefusal> {
  try {
    return await prepare(request, length, limits);
  } catch {
    // Only the client's bytes are read here, so any error is the client's body.
    return "unreadable";
  }
}

async function prepare(
  request: Request,
  length: string | null,
  limits: BodyLimits,
): Promise<PreparedBody | BodyRefusal> {
  // Before `request.body`: that getter makes a ReadableStream, which `bytes()` alone does
  // not need (measured ~10 µs a request, a quarter of what Deno.serve costs per request).
  if (length !== null && Number(length) <= limits.replayLimitBytes) return await request.bytes();
  const body = request.body;
  if (body === null) return null;
  if (length !== null) {
    // Deno.serve holds the client to its length; only its pace needs watching.
    return new StreamedBody(new GuardedSource(body.getReader(), [], 0, Infinity, limits));
  }
  return await readUpTo(body, limits);
}

async function readUpTo(
  body: ReadableStream<Uint8Array>,
  limits: BodyLimits,
): Promise<PreparedBody | BodyRefusal> {
  const maxBytes = limits.maxBodyBytes > 0 ? limits.maxBodyBytes : Infinity;
  const reader = body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  while (size <= limits.replayLimitBytes) {
    const { done, value } = await reader.read();
    if (done) return concatBytes(chunks, size);
    size += value.byteLength;
    if (size > maxBytes) {
      // Stop reading: the rest of the upload is not wanted.
      reader.cancel().catch(() => {});
      return "too-large";
    }
    chunks.push(value as Uint8Array<ArrayBuffer>);
  }
  // Over the replay limit: hand on what was read, then the rest as it comes.
  return new StreamedBody(new GuardedSource(reader, chunks, size, maxBytes, limits));
}

/**
 * A body streamed past the replay limit, read from the client one piece per pull (so only
 * as fast as the backend takes it), counted against the size limit and timed while the
 * client is being waited for. Once it passes the limit, or its client sends nothing for
 * the idle timeout, or its client's bytes cannot be read, it stops reading from the client
 * and errors, which makes the transport abandon the try; {@linkcode refusal} tells the proxy
 * why, so that it answers 413, 408 or 400 instead of blaming the backend.
 */
export class StreamedBody extends ReadableStream<Uint8Array> {
  readonly #source: GuardedSource;

  constructor(source: GuardedSource) {
    super(source);
    this.#source = source;
  }

  /** Why the body was refused, if it was. */
  get refusal(): BodyRefusal | undefined {
    return this.#source.refusal;
  }
}

/** The underlying source of a {@linkcode StreamedBody}. */
class GuardedSource implements UnderlyingDefaultSource<Uint8Array> {
  refusal: BodyRefusal | undefined;
  readonly #idleMs: number;

  constructor(
    readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    readonly read: Uint8Array[],
    public size: number,
    readonly maxBytes: number,
    limits: BodyLimits,
  ) {
    this.#idleMs = limits.bodyIdleTimeoutMs;
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    for (const chunk of this.read) controller.enqueue(chunk);
    this.read.length = 0;
  }

  async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    // A timer only while the client is waited for, which is only as often as the backend
    // takes a piece: a streamed upload is large, its pieces are many kilobytes.
    const idleMs = this.#idleMs;
    const timer = idleMs > 0 ? setTimeout(() => this.#refuse("idle"), idleMs) : undefined;
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await this.reader.read();
    } catch (error) {
      // The client's body broke (Deno.serve says BadResource): its fault, not the backend's.
      this.refusal ??= "unreadable";
      controller.error(error);
      return;
    } finally {
      clearTimeout(timer);
    }
    // Cancelling the reader ends a pending read as if the body were complete.
    if (this.refusal === "idle") {
      controller.error(new RangeError(`request body idle for ${idleMs}ms`));
      return;
    }
    if (result.done) {
      controller.close();
      return;
    }
    this.size += result.value.byteLength;
    if (this.size > this.maxBytes) {
      this.#refuse("too-large");
      controller.error(new RangeError(`request body larger than ${this.maxBytes} bytes`));
      return;
    }
    controller.enqueue(result.value);
  }

  cancel(reason: unknown): Promise<void> {
    return this.reader.cancel(reason);
  }

  /** Stops reading from the client: the rest of its upload is not wanted. */
  #refuse(refusal: BodyRefusal): void {
    this.refusal = refusal;
    this.reader.cancel().catch(() => {});
  }
}
