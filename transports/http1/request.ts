/**
 * Writing an HTTP/1.1 request: the head, then the body framed by `content-length` (bytes) or
 * `transfer-encoding: chunked` (a stream, written as it is read, one chunk at a time).
 *
 * @module
 */

import { concatBytes } from "../../lib/bytes.ts";
import type { FieldList } from "../../lib/headers.ts";
import type { Http1Connection } from "./connection.ts";

/** Request bodies larger than this are written apart from the head instead of copied to it. */
const JOIN_BODY_BYTES = 64 * 1024;
/** Stream chunks up to this size are copied into one write with their chunk framing. */
const JOIN_CHUNK_BYTES = 16 * 1024;
/** Methods whose requests carry content: without a body they say `content-length: 0`. */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);
const CRLF = new Uint8Array([13, 10]);
const LAST_CHUNK = new Uint8Array([48, 13, 10, 13, 10]); // "0\r\n\r\n"

const encoder = new TextEncoder();

/** Percent-encoded path and query: visible ASCII only, so nothing can end the request line. */
const SAFE_PATH = /^[\x21-\x7e]*$/;
/** A method is a token (RFC 9110 §5.6.2). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Whether `path` can stand in a request line: nothing in it can end the line early. */
export function isSafePath(path: string): boolean {
  return SAFE_PATH.test(path);
}

/**
 * Throws a `TypeError` when `method` or `path` could break the request line (a space, a
 * line break): they would let a client smuggle a second request to the backend.
 */
export function checkRequestLine(method: string, path: string): void {
  if (!TOKEN.test(method)) {
    throw new TypeError(`Cannot send a request with method "${method.slice(0, 32)}"`);
  }
  if (path[0] !== "/" || !SAFE_PATH.test(path)) {
    throw new TypeError(`Cannot send a request to path "${path.slice(0, 100)}": unencoded path`);
  }
}

/** What a request write needs; the stream body's reader is exposed so an abort can cancel it. */
export interface RequestToWrite {
  readonly method: string;
  /** Path and query, already percent-encoded. */
  readonly path: string;
  /** Value of the `host` header. */
  readonly host: string;
  readonly headers: FieldList;
  readonly body: Uint8Array | ReadableStream<Uint8Array> | null;
}

/** Reading the request's body stream failed: the client's upload broke, not the backend. */
export class BodySourceError extends Error {
  constructor(cause: unknown) {
    super("reading the request body failed", { cause });
    this.name = "BodySourceError";
  }
}

/**
 * Holds the reader of a stream body while it is written, so an abort can cancel it, and is
 * told how writing goes.
 */
export interface BodyReaderSlot {
  reader?: ReadableStreamDefaultReader<Uint8Array>;
  /**
   * Told before each write of stream body bytes (`true`) and after it (`false`), so that a
   * backend that stops taking them can be given up on.
   */
  writing?(active: boolean): void;
  /** Told once the whole request, body included, has been written. */
  written?(): void;
  /**
   * Set when the rest of the body is not wanted (the backend answered early, or failed):
   * the write stops instead of ending the body as if it were complete.
   */
  readonly abandoned?: boolean;
}

/** The write stopped because the exchange gave up on the rest of the body. */
export class WriteAbandoned extends Error {
  constructor() {
    super("request write abandoned");
    this.name = "WriteAbandoned";
  }
}

/** Writes `request` to `conn`. Rejects with {@linkcode BodySourceError} if the body stream fails. */
export async function writeRequest(
  conn: Http1Connection,
  request: RequestToWrite,
  slot: BodyReaderSlot,
): Promise<void> {
  const body = request.body;
  const text = headText(request);
  const buffer = conn.writeBuffer;
  const { read, written } = encoder.encodeInto(text, buffer);
  let head: Uint8Array;
  if (read === text.length && written === read) {
    // All ASCII and it fits: send a small body in the same write.
    if (body instanceof Uint8Array && written + body.byteLength <= buffer.byteLength) {
      buffer.set(body, written);
      return conn.write(buffer.subarray(0, written + body.byteLength));
    }
    head = buffer.subarray(0, written);
  } else {
    head = encodeLatin1(text);
  }
  if (body instanceof Uint8Array) {
    if (body.byteLength <= JOIN_BODY_BYTES) return conn.write(concatBytes([head, body]));
    await conn.write(head);
    return conn.write(body);
  }
  await conn.write(head);
  if (body !== null) await writeChunked(conn, body, slot);
}

/** The request line and header block, ending with the empty line. */
function headText(request: RequestToWrite): string {
  let text = `${request.method} ${request.path} HTTP/1.1\r\nhost: ${request.host}\r\n`;
  for (const [name, value] of request.headers) {
    // Framing and connection management are this client's to decide.
    if (
      name === "host" || name === "content-length" || name === "transfer-encoding" ||
      name === "connection"
    ) continue;
    text += `${name}: ${value}\r\n`;
  }
  const body = request.body;
  if (body === null) {
    return BODY_METHODS.has(request.method) ? `${text}content-length: 0\r\n\r\n` : `${text}\r\n`;
  }
  if (body instanceof Uint8Array) return `${text}content-length: ${body.byteLength}\r\n\r\n`;
  return `${text}transfer-encoding: chunked\r\n\r\n`;
}

async function writeChunked(
  conn: Http1Connection,
  body: ReadableStream<Uint8Array>,
  slot: BodyReaderSlot,
): Promise<void> {
  const reader = body.getReader();
  slot.reader = reader;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw new BodySourceError(error);
      }
      // A cancelled reader says `done`: ending the chunked body here would tell the backend
      // that a cut upload is complete.
      if (slot.abandoned) throw new WriteAbandoned();
      if (chunk.done) break;
      const bytes = chunk.value;
      // A zero-size chunk would end the body early (RFC 9112 §7.1).
      if (bytes.byteLength === 0) continue;
      const size = encoder.encode(`${bytes.byteLength.toString(16)}\r\n`);
      slot.writing?.(true);
      if (bytes.byteLength <= JOIN_CHUNK_BYTES) {
        await conn.write(concatBytes([size, bytes, CRLF]));
      } else {
        await conn.write(size);
        await conn.write(bytes);
        await conn.write(CRLF);
      }
      slot.writing?.(false);
    }
    slot.writing?.(true);
    await conn.write(LAST_CHUNK);
    slot.writing?.(false);
  } catch (error) {
    reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    slot.reader = undefined;
  }
}

/**
 * Header values are byte strings (one character per byte, as `Headers` keeps them); UTF-8
 * would turn a byte such as 0xE9 into two. Only reached when the head is not plain ASCII.
 */
function encodeLatin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}
