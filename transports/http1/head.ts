/**
 * Reading an HTTP/1.x response head (RFC 9112 §2-6): status line, header fields, and from
 * them how the body is framed and whether the connection can carry another request.
 *
 * @module
 */

import { HOP_BY_HOP_LENGTHS, isHopByHop } from "../../lib/headers.ts";
import { UpstreamError } from "../transport.ts";
import type { Http1Connection } from "./connection.ts";
import {
  type Framing,
  framingOf,
  keepsAlive,
  NO_BODY,
  protocolError,
  removeContentLength,
} from "./framing.ts";

/** A final (non-1xx) response head. */
export interface ResponseHead {
  readonly status: number;
  readonly statusText: string;
  /**
   * End-to-end header fields in arrival order, names as sent: hop-by-hop fields, and those
   * the Connection header names, are left out here, where the names are read anyway (the
   * transport's contract). A list rather than `Headers`: the
   * `Response` constructor validates and copies its init either way, so building a
   * `Headers` first would do that work twice.
   */
  readonly headers: [string, string][];
  readonly framing: Framing;
  /** Whether the connection may be reused once the body has been read to its end. */
  keepAlive: boolean;
}

/** The connection ended (closed or reset) before a single byte of the response arrived. */
export class NoResponseError extends UpstreamError {
  constructor(cause?: unknown) {
    super("reset", "connection closed before any response arrived", { cause });
  }
}

const HTTP_SLASH = [72, 84, 84, 80, 47]; // "HTTP/"

const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Reads the response head from `conn`, skipping 1xx interim responses (100 Continue, 103
 * Early Hints). Leaves `conn.start` at the first body byte. Rejects with an
 * {@linkcode UpstreamError}: `protocol` for anything that is not HTTP/1.x or exceeds
 * `maxHeaderBytes`, `reset` when the connection ends first ({@linkcode NoResponseError} if
 * nothing at all arrived).
 */
export async function readHead(
  conn: Http1Connection,
  maxHeaderBytes: number,
  headRequest: boolean,
): Promise<ResponseHead> {
  let received = false;
  for (;;) {
    const end = await findHeadEnd(conn, maxHeaderBytes, received);
    received = true;
    const text = decodeBytes(conn.buffer, conn.start, end);
    conn.start = end;
    const status = statusOf(text);
    if (status >= 200) return parseHead(text, status, headRequest);
    // 101 Switching Protocols would change the protocol, but no upgrade was asked for.
    if (status === 101) throw protocolError("unexpected 101 Switching Protocols");
  }
}

/** Reads until the buffer holds a whole head; resolves with the offset just past it. */
async function findHeadEnd(
  conn: Http1Connection,
  maxHeaderBytes: number,
  received: boolean,
): Promise<number> {
  let scanFrom = conn.start;
  let checked = false;
  for (;;) {
    const buffer = conn.buffer;
    const end = conn.end;
    if (!checked && end - conn.start >= HTTP_SLASH.length) {
      checkStartsHttp(buffer, conn.start, end);
      checked = true;
    }
    // Look for an empty line: LF followed by LF or CRLF (a lone LF is accepted as a line
    // end, RFC 9112 §2.2).
    for (;;) {
      const lf = buffer.indexOf(10, scanFrom);
      if (lf === -1 || lf >= end) {
        scanFrom = end;
        break;
      }
      const next = lf + 1;
      let headEnd = -1;
      if (next < end && buffer[next] === 10) headEnd = next + 1;
      else if (next + 1 < end && buffer[next] === 13 && buffer[next + 1] === 10) headEnd = next + 2;
      if (headEnd !== -1) {
        if (headEnd - conn.start > maxHeaderBytes) throw headTooLarge(maxHeaderBytes);
        return headEnd;
      }
      if (next >= end || (next + 1 >= end && buffer[next] === 13)) {
        scanFrom = lf; // the empty line may be completed by the next read
        break;
      }
      scanFrom = next;
    }
    if (end - conn.start > maxHeaderBytes) throw headTooLarge(maxHeaderBytes);
    const offset = conn.start;
    let count: number | null;
    try {
      count = await conn.fill();
    } catch (error) {
      if (!received && conn.end === conn.start) throw new NoResponseError(error);
      throw new UpstreamError("reset", "connection broke while reading the response head", {
        cause: error,
      });
    }
    // With the timeline off, this check is all it costs here.
    if (conn.timeline !== undefined) conn.timeline.markOnce("firstByte");
    if (count === null) {
      if (!received && conn.end === conn.start) throw new NoResponseError();
      if (!checked) checkStartsHttp(conn.buffer, conn.start, conn.end);
      throw new UpstreamError("reset", "connection closed in the middle of the response head");
    }
    // fill() may have moved the unconsumed bytes to the front of the buffer.
    scanFrom += conn.start - offset;
  }
}

function checkStartsHttp(buffer: Uint8Array, start: number, end: number): void {
  for (let i = 0; i < HTTP_SLASH.length && start + i < end; i++) {
    if (buffer[start + i] !== HTTP_SLASH[i]) {
      throw protocolError("not an HTTP/1.x response");
    }
  }
}

/** Bytes as a byte string (one character per byte), the form `Headers` keeps values in. */
function decodeBytes(buffer: Uint8Array, start: number, end: number): string {
  const bytes = buffer.subarray(start, end);
  // Fast path for plain ASCII: UTF-8 then gives one character per byte. Other bytes either
  // combine (fewer characters) or become U+FFFD, so this test lets only ASCII through.
  const ascii = utf8Decoder.decode(bytes);
  if (ascii.length === bytes.byteLength && !ascii.includes("\uFFFD")) return ascii;
  let text = "";
  for (let i = 0; i < bytes.byteLength; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return text;
}

/** The status code of `HTTP/1.x NNN reason`. */
function statusOf(text: string): number {
  // "HTTP/1." was partly checked on the bytes; the minor version is a single digit.
  if (
    !text.startsWith("HTTP/1.") || !isDigit(text.charCodeAt(7)) || text.charCodeAt(8) !== 32 ||
    !isDigit(text.charCodeAt(9)) || !isDigit(text.charCodeAt(10)) ||
    !isDigit(text.charCodeAt(11))
  ) {
    throw protocolError("malformed status line");
  }
  const after = text.charCodeAt(12);
  if (after !== 32 && after !== 13 && after !== 10) throw protocolError("malformed status line");
  const status = (text.charCodeAt(9) - 48) * 100 + (text.charCodeAt(10) - 48) * 10 +
    text.charCodeAt(11) - 48;
  if (status < 100 || status > 599) throw protocolError(`status ${status} out of range`);
  return status;
}

function parseHead(text: string, status: number, headRequest: boolean): ResponseHead {
  let lineEnd = text.indexOf("\n");
  const statusText = text.slice(13, trimCR(text, lineEnd)).trim();
  const headers: [string, string][] = [];
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection = "";
  for (let pos = lineEnd + 1;; pos = lineEnd + 1) {
    lineEnd = text.indexOf("\n", pos);
    const valueEnd = trimCR(text, lineEnd);
    if (valueEnd === pos) break; // the empty line ending the head
    const first = text.charCodeAt(pos);
    // Line folding is obsolete; a proxy may reject it (RFC 9112 §5.2).
    if (first === 32 || first === 9) throw protocolError("obsolete line folding in a header");
    const colon = text.indexOf(":", pos);
    if (colon === -1 || colon > valueEnd) throw protocolError("header line without a colon");
    // Names and values are validated by the Response constructor.
    const name = text.slice(pos, colon);
    const value = fieldValue(text, colon + 1, valueEnd);
    const length = name.length;
    if (length === 14 && name.toLowerCase() === "content-length") {
      contentLength = contentLength === undefined ? value : `${contentLength},${value}`;
    } else if (length === 17 && name.toLowerCase() === "transfer-encoding") {
      transferEncoding = transferEncoding === undefined ? value : `${transferEncoding},${value}`;
      continue;
    } else if (length === 10 && name.toLowerCase() === "connection") {
      connection += `,${value.toLowerCase()}`;
      continue;
    } else if (HOP_BY_HOP_LENGTHS.has(length) && isHopByHop(name.toLowerCase())) {
      continue;
    }
    headers.push([name, value]);
  }
  // Fields the Connection header names are hop-by-hop too (RFC 9110 §7.6.1); `close` and
  // `keep-alive`, the usual values, name no field that is still in the list.
  // The values nearly every backend sends name no field: no set to build for them.
  if (connection !== "" && connection !== ",keep-alive" && connection !== ",close") {
    dropNamedFields(headers, connection);
  }
  let framing = framingOf(transferEncoding, contentLength);
  let keepAlive = keepsAlive(text.charCodeAt(7) === 48, connection);
  if (transferEncoding !== undefined && contentLength !== undefined) {
    // Both framings at once hint at request smuggling: transfer-encoding wins, the length
    // goes, and the connection is not trusted with another request (RFC 9112 §6.3).
    removeContentLength(headers);
    keepAlive = false;
  }
  // HEAD, 204 and 304 responses end with their head whatever their fields say (§6.3).
  if (headRequest || status === 204 || status === 304) framing = NO_BODY;
  if (framing.kind === "close") keepAlive = false;
  return { status, statusText, headers, framing, keepAlive };
}

/** Removes the fields whose names `connection` (",token,token" in lower case) lists. */
function dropNamedFields(headers: [string, string][], connection: string): void {
  const named = new Set(connection.split(",").map((token) => token.trim()));
  named.delete("");
  named.delete("close");
  named.delete("keep-alive");
  if (named.size === 0) return;
  let kept = 0;
  for (const field of headers) {
    if (!named.has(field[0].toLowerCase())) headers[kept++] = field;
  }
  headers.length = kept;
}

function trimCR(text: string, lineEnd: number): number {
  return lineEnd > 0 && text.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd;
}

/** The value between `start` and `end`, without the spaces and tabs around it (RFC 9112 §5). */
function fieldValue(text: string, start: number, end: number): string {
  while (start < end && isBlank(text.charCodeAt(start))) start++;
  while (end > start && isBlank(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function headTooLarge(maxHeaderBytes: number): UpstreamError {
  return protocolError(`response head larger than maxHeaderBytes (${maxHeaderBytes})`);
}
