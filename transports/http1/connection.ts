/**
 * One keep-alive TCP (or TLS) connection to a backend, with the read buffer its responses are parsed
 * from and the write buffer a request head (plus a small body) is assembled in.
 *
 * @module
 */

import type { Timeline } from "../../lib/timeline.ts";
import type { Http1Socket } from "./socket.ts";

/** Initial size of a connection's read buffer; it grows only for response heads that need it. */
const READ_BUFFER_BYTES = 16 * 1024;
/** Size of the buffer a request head and a small body are joined in for a single write. */
const WRITE_BUFFER_BYTES = 8 * 1024;
/** Compact the read buffer before a read once less than this is free at its end. */
const MIN_READ_ROOM = 2048;

/** A TCP connection and its buffers. Used by one exchange at a time. */
export class Http1Connection {
  readonly socket: Http1Socket;
  /** Bytes read from the socket; `buffer[start, end)` is not consumed yet. */
  buffer: Uint8Array<ArrayBuffer> = new Uint8Array(READ_BUFFER_BYTES);
  start = 0;
  end = 0;
  readonly writeBuffer: Uint8Array<ArrayBuffer> = new Uint8Array(WRITE_BUFFER_BYTES);
  /** Bytes of the current request handed to the socket so far. */
  written = 0;
  /** Whether this connection came out of the pool (it served an earlier request). */
  reused = false;
  /** Whether it sits in the pool; a read that completes meanwhile means it is unusable. */
  idle = false;
  /** When it was put into the pool, in milliseconds since the epoch. */
  idleSinceMs = 0;
  closed = false;
  /**
   * Why we closed it while an exchange was using it (the per-try deadline, the client
   * leaving, a request body that stalled or broke), or `undefined`. A read or write that
   * fails after such a close fails because of it, not because of the backend: the failure
   * is reported as this reason, never as a connection the backend closed.
   */
  closeReason: unknown;
  /** The timeline of the exchange using it, while its head is read (`timeline` setting). */
  timeline: Timeline | undefined = undefined;
  /** A read started while idle, to be consumed by the next {@linkcode fill}. */
  #pending: Promise<number | null> | undefined;

  constructor(socket: Http1Socket) {
    this.socket = socket;
  }

  /** Unconsumed bytes in the read buffer. */
  get buffered(): number {
    return this.end - this.start;
  }

  /**
   * Reads more bytes into the buffer behind what is there (growing it when it is full).
   * Resolves with the number of bytes read, or `null` when the peer closed the connection.
   */
  async fill(): Promise<number | null> {
    let read = this.#pending;
    if (read === undefined) {
      this.#makeRoom();
      read = this.socket.read(this.buffer.subarray(this.end));
    } else {
      this.#pending = undefined;
    }
    const count = await read;
    if (count !== null) this.end += count;
    return count;
  }

  /**
   * Starts reading while the connection is idle in the pool. A server that closes an idle
   * keep-alive connection is noticed at once (the read ends), so the connection is closed
   * and never handed out; a server that stays quiet leaves the read pending, and the next
   * exchange takes it over as its first read of the response.
   */
  watchWhileIdle(): void {
    // An idle pool must not keep the process running (fetch's pool does not either).
    this.socket.unref();
    this.#makeRoom();
    const read = this.socket.read(this.buffer.subarray(this.end));
    this.#pending = read;
    const ended = () => {
      // Anything arriving unasked (EOF, an error, stray bytes) makes the connection unusable.
      if (this.idle) this.close();
    };
    read.then(ended, ended);
  }

  /** Takes the connection out of idleness: its reads keep the process running again. */
  wake(): void {
    this.idle = false;
    this.reused = true;
    this.socket.ref();
  }

  /** Writes all of `bytes`, counting them in {@linkcode written}. */
  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.byteLength) {
      const count = await this.socket.write(offset === 0 ? bytes : bytes.subarray(offset));
      offset += count;
      this.written += count;
    }
  }

  /**
   * Closes the socket, which also interrupts a pending read or write. Idempotent. `reason`
   * says why an exchange in progress was interrupted (see {@linkcode closeReason}); leave it
   * out when the exchange is already over or has already failed on its own.
   */
  close(reason?: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    try {
      this.socket.close();
    } catch {
      // Already closed by the runtime; nothing left to release.
    }
  }

  #makeRoom(): void {
    if (this.start === this.end) {
      this.start = this.end = 0;
      return;
    }
    const room = this.buffer.byteLength - this.end;
    if (room >= MIN_READ_ROOM) return;
    if (this.start > 0) {
      this.buffer.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    if (this.buffer.byteLength - this.end < MIN_READ_ROOM) {
      // Callers bound what they keep unconsumed (maxHeaderBytes), so this stays bounded.
      const grown = new Uint8Array(this.buffer.byteLength * 2);
      grown.set(this.buffer.subarray(0, this.end));
      this.buffer = grown;
    }
  }
}
