/**
 * {@linkcode Http1Socket} over `node:net` (transport `http1-net`): a write that the kernel
 * takes at once is made synchronously, and reads arrive from the runtime's own read loop as
 * events instead of one async op per read. Measured, that made this client no cheaper per
 * request than over `Deno.connect` (bench/README.md, "Upstream sockets"), so it is not the
 * default. Received bytes wait in a short queue until read; the socket is paused
 * while that queue holds more than {@linkcode MAX_QUEUED_BYTES}, so a slow consumer still
 * holds the backend back.
 *
 * @module
 */

import net from "node:net";
import type { Http1Socket } from "./socket.ts";

/** Received bytes kept unread before the socket stops reading (backpressure). */
const MAX_QUEUED_BYTES = 64 * 1024;

interface PendingRead {
  readonly into: Uint8Array;
  readonly resolve: (count: number | null) => void;
  readonly reject: (error: unknown) => void;
}

interface PendingWrite {
  readonly count: number;
  readonly resolve: (count: number) => void;
  readonly reject: (error: unknown) => void;
}

/** A connected `net.Socket` as an {@linkcode Http1Socket}. */
export class NetSocket implements Http1Socket {
  readonly #socket: net.Socket;
  /** Received and not read yet; `#queue[0]` starts at `#queueOffset`. */
  #queue: Uint8Array[] = [];
  #queueOffset = 0;
  #queuedBytes = 0;
  #paused = false;
  /** The peer closed its side: reads end with `null` once the queue is empty. */
  #ended = false;
  /** The connection broke or was closed by us: reads and writes reject with it. */
  #failure: unknown;
  #reader: PendingRead | undefined;
  #writer: PendingWrite | undefined;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => this.#received(chunk));
    socket.on("end", () => {
      this.#ended = true;
      this.#settleReader();
    });
    socket.on("error", (error: unknown) => this.#fail(error));
    socket.on("close", () => this.#fail(new Deno.errors.BadResource("connection closed")));
    socket.on("drain", () => {
      const writer = this.#writer;
      this.#writer = undefined;
      writer?.resolve(writer.count);
    });
  }

  read(into: Uint8Array): Promise<number | null> {
    if (this.#queuedBytes > 0) return Promise.resolve(this.#take(into));
    // After the peer's end, the close that follows only confirms it: reads keep ending.
    if (this.#ended) return Promise.resolve(null);
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
    return new Promise((resolve, reject) => {
      this.#reader = { into, resolve, reject };
    });
  }

  write(bytes: Uint8Array): Promise<number> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const socket = this.#socket;
    // Nothing is taken by a socket that can no longer send: the caller may count on that.
    if (!socket.writable) return Promise.reject(new Deno.errors.BrokenPipe("connection closed"));
    const count = bytes.byteLength;
    if (socket.write(bytes)) return Promise.resolve(count);
    // Taken, but over the socket's high-water mark: the next write waits until it drains.
    return new Promise((resolve, reject) => {
      this.#writer = { count, resolve, reject };
    });
  }

  close(): void {
    this.#fail(new Deno.errors.BadResource("connection closed"));
    this.#socket.destroy();
  }

  ref(): void {
    this.#socket.ref();
  }

  unref(): void {
    this.#socket.unref();
  }

  #received(chunk: Uint8Array): void {
    const reader = this.#reader;
    if (reader !== undefined && this.#queuedBytes === 0) {
      this.#reader = undefined;
      const count = Math.min(chunk.byteLength, reader.into.byteLength);
      reader.into.set(count === chunk.byteLength ? chunk : chunk.subarray(0, count));
      if (count < chunk.byteLength) this.#enqueue(chunk.subarray(count));
      reader.resolve(count);
      return;
    }
    this.#enqueue(chunk);
  }

  #enqueue(chunk: Uint8Array): void {
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.byteLength;
    if (this.#queuedBytes > MAX_QUEUED_BYTES && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  /** Moves queued bytes into `into`. */
  #take(into: Uint8Array): number {
    let count = 0;
    while (count < into.byteLength && this.#queue.length > 0) {
      const head = this.#queue[0];
      const available = head.byteLength - this.#queueOffset;
      const take = Math.min(available, into.byteLength - count);
      into.set(head.subarray(this.#queueOffset, this.#queueOffset + take), count);
      count += take;
      if (take === available) {
        this.#queue.shift();
        this.#queueOffset = 0;
      } else {
        this.#queueOffset += take;
      }
    }
    this.#queuedBytes -= count;
    return count;
  }

  /** The peer ended: a pending read (the queue is empty then) ends with `null`. */
  #settleReader(): void {
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.resolve(null);
  }

  #fail(error: unknown): void {
    this.#failure ??= error;
    // A read is pending only while the queue is empty and the peer has not ended.
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.reject(this.#failure);
    const writer = this.#writer;
    this.#writer = undefined;
    writer?.reject(this.#failure);
  }
}

/**
 * Opens a TCP connection with `node:net`, Nagle off. Rejects with the platform's error (its
 * `code` says why: `ECONNREFUSED`, `ENOTFOUND`, …); `signal` aborts the attempt.
 */
export function openNetSocket(
  hostname: string,
  port: number,
  signal: AbortSignal,
): Promise<NetSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port, noDelay: true });
    const abort = () => {
      socket.destroy();
      reject(signal.reason);
    };
    const failed = (error: unknown) => {
      signal.removeEventListener("abort", abort);
      socket.destroy();
      reject(error);
    };
    signal.addEventListener("abort", abort, { once: true });
    socket.once("error", failed);
    socket.once("connect", () => {
      signal.removeEventListener("abort", abort);
      socket.off("error", failed);
      resolve(new NetSocket(socket));
    });
  });
}
