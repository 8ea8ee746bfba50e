// Over 300 lines: one body state machine on one buffer; split, it costs an object per response.
/**
 * Reading a response body as its framing says (RFC 9112 §6-7): a fixed length, chunks, or
 * everything until the server closes. A {@linkcode BodySource} is the underlying source of
 * the response's `ReadableStream`: it reads only when the stream pulls (backpressure), hands
 * the body bytes on untouched, and tells the transport when the connection is free again.
 *
 * @module
 */

import { concatBytes } from "../../lib/bytes.ts";
import { bodyCutError, bodyIdleError, UpstreamError } from "../transport.ts";
import type { Deadline, Deadlines } from "../deadlines.ts";
import type { Http1Connection } from "./connection.ts";
import { type Framing, protocolError } from "./framing.ts";

/** Largest read straight into a fresh chunk (bypassing the connection's buffer). */
const DIRECT_READ_BYTES = 64 * 1024;
/** Chunk data this large (or more) is read straight into a fresh chunk, not via the buffer. */
const DIRECT_CHUNK_BYTES = 16 * 1024;
/** Hex digits of the largest chunk size accepted (2^52 - 1 bytes, exact in a number). */
const MAX_CHUNK_SIZE_DIGITS = 13;

const LENGTH = 0;
const CHUNKED = 1;
const UNTIL_CLOSE = 2;

// Where a chunked body is between reads.
const CHUNK_SIZE = 0;
const CHUNK_DATA = 1;
const CHUNK_DATA_END = 2;
const TRAILER = 3;

/** Called once when the body is over: `reusable` says the connection can be pooled. */
export type BodyEnd = (reusable: boolean) => void;

/** What one body is watched with; an `UpstreamRequest` is one. */
export interface BodyWatch {
  /** Longest wait for more body bytes, in milliseconds; unset: none. */
  readonly bodyIdleTimeoutMs?: number;
  /** Told, before the stream errors, why the body failed (not when it is cancelled). */
  readonly onBodyError?: (error: UpstreamError) => void;
}

/** What every body of one transport shares. */
export interface BodyLimits {
  /** Longest chunk-size line, and most trailer bytes, accepted. */
  readonly maxLineBytes: number;
  /** The transport's deadline queue, for idle timeouts. */
  readonly deadlines: Deadlines;
}

/** The body of one response, read from its connection on demand. */
export class BodySource implements UnderlyingDefaultSource<Uint8Array> {
  /** Whether the whole body has been read from the connection. */
  done = false;
  readonly #conn: Http1Connection;
  readonly #mode: number;
  readonly #keepAlive: boolean;
  readonly #limits: BodyLimits;
  readonly #onEnd: BodyEnd;
  readonly #idleMs: number | undefined;
  readonly #onError: ((error: UpstreamError) => void) | undefined;
  #ended = false;
  /** Set when the idle timeout closed the connection under a read. */
  #idle = false;
  /** Closes the connection when the idle timeout passes; made on the first wait. */
  #expire: (() => void) | undefined;
  /** Bytes still to come: of the whole body (length mode) or of the current chunk. */
  #remaining = 0;
  #chunkState = CHUNK_SIZE;
  #trailerBytes = 0;
  /** Bytes decoded before the stream existed, handed out by the first pull. */
  #first: Uint8Array | undefined;

  constructor(
    conn: Http1Connection,
    head: { readonly framing: Framing; readonly keepAlive: boolean },
    limits: BodyLimits,
    watch: BodyWatch,
    onEnd: BodyEnd,
  ) {
    const framing = head.framing;
    this.#conn = conn;
    this.#keepAlive = head.keepAlive;
    this.#limits = limits;
    // The two fields, not the request: it holds the request body, not needed any more.
    this.#idleMs = watch.bodyIdleTimeoutMs;
    this.#onError = watch.onBodyError;
    this.#onEnd = onEnd;
    switch (framing.kind) {
      case "none":
        this.#mode = LENGTH;
        this.done = true;
        break;
      case "length":
        this.#mode = LENGTH;
        this.#remaining = framing.length;
        this.done = framing.length === 0;
        break;
      case "chunked":
        this.#mode = CHUNKED;
        break;
      case "close":
        this.#mode = UNTIL_CLOSE;
        break;
    }
  }

  /**
   * Decodes the body bytes that arrived with the head. When that completes the body
   * ({@linkcode done}), the caller answers with the bytes directly, then calls
   * {@linkcode finish}: they may be a view of the connection's buffer, which suits
   * `new Response(bytes)` (it copies them, as the Fetch standard says). Otherwise they are
   * kept for the stream's first pull. Throws a protocol error.
   */
  begin(): Uint8Array | undefined {
    const bytes = this.done ? undefined : this.#decodeBuffered();
    if (!this.done && bytes !== undefined) this.#first = this.#owned(bytes);
    return bytes;
  }

  /** Releases the connection of a body that {@linkcode begin} read whole. */
  finish(): void {
    this.#end(true);
  }

  async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    let deadline: Deadline | undefined;
    try {
      let bytes = this.#first;
      this.#first = undefined;
      if (bytes === undefined) bytes = this.#decodeBuffered();
      if (bytes === undefined && !this.done) {
        // One deadline per wait for the socket, not a timer: cleared as soon as bytes come.
        const idleMs = this.#idleMs;
        if (idleMs !== undefined) {
          deadline = this.#limits.deadlines.add(idleMs, this.#expire ??= () => this.#goneIdle());
        }
        do bytes = await this.#readMore(); while (bytes === undefined && !this.done);
        // A read the timeout interrupted may look like the end of a body read until close.
        if (this.#idle) throw bodyIdleError(idleMs!);
      }
      if (bytes !== undefined) controller.enqueue(this.#owned(bytes));
      if (this.done) {
        controller.close();
        this.#end(true);
      }
    } catch (error) {
      if (this.#ended) return; // cancelled meanwhile: the stream is already settled
      const failure = this.#idle
        ? bodyIdleError(this.#idleMs!)
        : error instanceof UpstreamError
        ? error
        : bodyCutError(error);
      this.#onError?.(failure);
      controller.error(failure);
      this.#end(false);
    } finally {
      deadline?.clear();
    }
  }

  /** The consumer gave up: the rest of the body is unread, so the connection is closed. */
  cancel(): void {
    this.#end(false);
  }

  /** The idle timeout passed during a read: closing the connection ends that read. */
  #goneIdle(): void {
    this.#idle = true;
    this.#conn.close();
  }

  #end(complete: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    // Stray bytes after the body would be read as the next response: never reuse then.
    this.#onEnd(complete && this.#keepAlive && this.#conn.buffered === 0);
  }

  /** Reads from the socket; resolves with body bytes, or undefined if none were decoded. */
  async #readMore(): Promise<Uint8Array | undefined> {
    const conn = this.#conn;
    const direct = this.#directReadSize();
    let count: number | null;
    if (direct > 0) {
      const chunk = new Uint8Array(direct);
      try {
        count = await conn.socket.read(chunk);
      } catch (error) {
        throw bodyCutError(error);
      }
      if (count === null) return this.#endOfStream();
      if (this.#mode !== UNTIL_CLOSE) this.#consumed(count);
      // Keep a big chunk only when it is mostly filled; copy small reads out of it.
      return count * 2 < direct ? chunk.slice(0, count) : chunk.subarray(0, count);
    }
    try {
      count = await conn.fill();
    } catch (error) {
      throw bodyCutError(error);
    }
    if (count === null) return this.#endOfStream();
    return this.#decodeBuffered();
  }

  /** How much to read straight into a new chunk; 0 to read into the connection's buffer. */
  #directReadSize(): number {
    if (this.#conn.buffered > 0) return 0;
    if (this.#mode === LENGTH) return Math.min(this.#remaining, DIRECT_READ_BYTES);
    if (this.#mode === UNTIL_CLOSE) return DIRECT_READ_BYTES;
    if (this.#chunkState === CHUNK_DATA && this.#remaining >= DIRECT_CHUNK_BYTES) {
      return Math.min(this.#remaining, DIRECT_READ_BYTES);
    }
    return 0;
  }

  #consumed(count: number): void {
    this.#remaining -= count;
    if (this.#remaining > 0) return;
    if (this.#mode === LENGTH) this.done = true;
    else this.#chunkState = CHUNK_DATA_END;
  }

  #endOfStream(): undefined {
    // Only a body delimited by the close itself ends cleanly here; anything else is cut.
    if (this.#mode !== UNTIL_CLOSE) throw bodyCutError();
    this.done = true;
    return undefined;
  }

  /** Bytes the consumer may keep: a copy when they are a view of the reused buffer. */
  #owned(bytes: Uint8Array): Uint8Array {
    return bytes.buffer === this.#conn.buffer.buffer ? bytes.slice() : bytes;
  }

  /** Body bytes decoded from the connection's buffer: a view of it, or a joined copy. */
  #decodeBuffered(): Uint8Array | undefined {
    const conn = this.#conn;
    if (conn.buffered === 0) return undefined;
    if (this.#mode === CHUNKED) return this.#decodeChunks();
    const take = this.#mode === LENGTH ? Math.min(conn.buffered, this.#remaining) : conn.buffered;
    const bytes = conn.buffer.subarray(conn.start, conn.start + take);
    conn.start += take;
    if (this.#mode === LENGTH) this.#consumed(take);
    return bytes;
  }

  /** Decodes as many chunks as are buffered; their data comes back joined in one copy. */
  #decodeChunks(): Uint8Array | undefined {
    const conn = this.#conn;
    const buffer = conn.buffer;
    const pieces: Uint8Array[] = [];
    let size = 0;
    while (!this.done && conn.start < conn.end) {
      const start = conn.start;
      if (this.#chunkState === CHUNK_DATA) {
        const take = Math.min(conn.end - start, this.#remaining);
        pieces.push(buffer.subarray(start, start + take));
        size += take;
        conn.start += take;
        this.#consumed(take);
      } else if (this.#chunkState === CHUNK_DATA_END) {
        // Chunk data ends with CRLF (a lone LF is tolerated).
        if (buffer[start] === 10) {
          conn.start += 1;
        } else if (buffer[start] !== 13) {
          throw protocolError("chunk data longer than its size");
        } else if (start + 1 === conn.end) {
          break;
        } else if (buffer[start + 1] !== 10) {
          throw protocolError("chunk data longer than its size");
        } else {
          conn.start += 2;
        }
        this.#chunkState = CHUNK_SIZE;
      } else if (!this.#decodeLine(buffer, start, conn.end)) {
        break;
      }
    }
    if (pieces.length === 0) return undefined;
    return concatBytes(pieces, size);
  }

  /** Decodes a chunk-size line or a trailer line; false when the line is not complete yet. */
  #decodeLine(buffer: Uint8Array, start: number, end: number): boolean {
    const lf = buffer.indexOf(10, start);
    if (lf === -1 || lf >= end) {
      if (end - start > this.#limits.maxLineBytes) throw protocolError("chunk line too long");
      return false;
    }
    const lineEnd = lf > start && buffer[lf - 1] === 13 ? lf - 1 : lf;
    this.#conn.start = lf + 1;
    if (this.#chunkState === CHUNK_SIZE) {
      const size = parseChunkSize(buffer, start, lineEnd);
      if (size === 0) {
        this.#chunkState = TRAILER;
      } else {
        this.#chunkState = CHUNK_DATA;
        this.#remaining = size;
      }
    } else if (lineEnd === start) {
      this.done = true; // the empty line after the last chunk and any trailer fields
    } else {
      // Trailer fields are dropped: the head has already been forwarded (RFC 9112 §7.1.2).
      this.#trailerBytes += lf + 1 - start;
      if (this.#trailerBytes > this.#limits.maxLineBytes) {
        throw protocolError("trailer too large");
      }
    }
    return true;
  }
}

/**
 * `chunk-size [ BWS ";" chunk-ext ]`: hex digits, then optional extensions, which are
 * skipped (RFC 9112 §7.1.1).
 */
function parseChunkSize(buffer: Uint8Array, start: number, end: number): number {
  let size = 0;
  let i = start;
  for (; i < end; i++) {
    const digit = hexValue(buffer[i]);
    if (digit === -1) break;
    size = size * 16 + digit;
  }
  const digits = i - start;
  if (digits === 0 || digits > MAX_CHUNK_SIZE_DIGITS) throw protocolError("invalid chunk size");
  if (i < end) {
    const next = buffer[i];
    if (next !== 59 && next !== 32 && next !== 9) throw protocolError("invalid chunk size");
  }
  return size;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 32;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}
