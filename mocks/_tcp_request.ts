/**
 * Just enough HTTP/1.1 request parsing for the fault mocks: find the end of the head, read
 * the method and target, and drain a `content-length` body so that closing the socket
 * afterwards sends a clean FIN rather than a reset caused by unread data.
 *
 * @module
 */

import { concatBytes } from "../lib/bytes.ts";

/** The part of a request the fault mocks need. */
export interface RequestHead {
  readonly method: string;
  /** The request target as sent, such as `/path?query`. */
  readonly target: string;
}

/** Anything with `Deno.Conn`'s read. */
export type Reader = Pick<Deno.Conn, "read">;

/** A head larger than this (64 KiB) is not a request the mock will wait for. */
export const MAX_HEAD_BYTES = 64 * 1024;

const CHUNK_BYTES = 16 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const decoder = new TextDecoder();

/**
 * Reads one request head and drains its `content-length` body. A chunked body is not
 * drained: the fault mocks close the connection after one exchange anyway.
 *
 * @returns the head, or `null` if the connection ended first or did not send HTTP.
 */
export async function readRequest(conn: Reader): Promise<RequestHead | null> {
  const chunk = new Uint8Array(CHUNK_BYTES);
  let buffered = new Uint8Array(0);
  let end = -1;
  while (end < 0) {
    if (buffered.length > MAX_HEAD_BYTES) return null;
    const count = await conn.read(chunk);
    if (count === null) return null;
    const scanFrom = Math.max(0, buffered.length - 3);
    buffered = concatBytes([buffered, chunk.subarray(0, count)]);
    end = headEnd(buffered, scanFrom);
  }
  const parsed = parseHead(decoder.decode(buffered.subarray(0, end)));
  if (parsed === null) return null;
  await discard(conn, parsed.contentLength - (buffered.length - end));
  return { method: parsed.method, target: parsed.target };
}

/** Reads and drops up to `limit` bytes, stopping early at end of stream or on any error. */
export async function discard(conn: Reader, limit = Infinity): Promise<void> {
  const chunk = new Uint8Array(CHUNK_BYTES);
  let left = limit;
  try {
    while (left > 0) {
      const count = await conn.read(chunk);
      if (count === null) return;
      left -= count;
    }
  } catch {
    // A reset or a closed socket simply ends the stream for a mock.
  }
}

/** Index just past the first CRLFCRLF at or after `from`, or -1. */
function headEnd(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i + 4;
    }
  }
  return -1;
}

function parseHead(
  head: string,
): { method: string; target: string; contentLength: number } | null {
  const [requestLine, ...fields] = head.split("\r\n");
  const [method, target, version] = requestLine.split(" ");
  if (!TOKEN.test(method ?? "") || !target || !version?.startsWith("HTTP/1.")) return null;
  let contentLength = 0;
  for (const field of fields) {
    const colon = field.indexOf(":");
    if (colon < 0 || field.slice(0, colon).trim().toLowerCase() !== "content-length") continue;
    contentLength = Number(field.slice(colon + 1).trim());
    if (!Number.isSafeInteger(contentLength) || contentLength < 0) return null;
  }
  return { method, target, contentLength };
}
