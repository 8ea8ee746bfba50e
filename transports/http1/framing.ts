/**
 * How a response body is delimited and whether its connection can carry another request,
 * from the framing fields of the head (RFC 9112 §6.3, §9.3).
 *
 * @module
 */

import { UpstreamError } from "../transport.ts";

/** How the response body is delimited (RFC 9112 §6.3). */
export type Framing =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" }
  | { readonly kind: "close" };

/** The body ends with the head. */
export const NO_BODY: Framing = { kind: "none" };
const CHUNKED: Framing = { kind: "chunked" };
const UNTIL_CLOSE: Framing = { kind: "close" };
/** Longest content-length accepted: larger values cannot be counted exactly in a number. */
const MAX_LENGTH_DIGITS = 15;

/**
 * The framing that `transfer-encoding` and `content-length` (each its field lines joined by
 * commas, or undefined) give: transfer-encoding wins, and without either the body runs until
 * the connection closes.
 */
export function framingOf(
  transferEncoding: string | undefined,
  contentLength: string | undefined,
): Framing {
  if (transferEncoding !== undefined) {
    return isChunkedLast(transferEncoding) ? CHUNKED : UNTIL_CLOSE;
  }
  if (contentLength !== undefined) {
    return { kind: "length", length: parseContentLength(contentLength) };
  }
  return UNTIL_CLOSE;
}

/**
 * Whether the connection stays open after this response, by its Connection field values
 * (`connection`, ",token,token" in lower case): HTTP/1.0 only with `keep-alive`, HTTP/1.1
 * unless `close` (RFC 9112 §9.3).
 */
export function keepsAlive(http10: boolean, connection: string): boolean {
  return http10 ? hasToken(connection, "keep-alive") : !hasToken(connection, "close");
}

/** Drops the content-length fields: transfer-encoding framed the body instead. */
export function removeContentLength(headers: [string, string][]): void {
  let kept = 0;
  for (const field of headers) {
    if (field[0].length !== 14 || field[0].toLowerCase() !== "content-length") {
      headers[kept++] = field;
    }
  }
  headers.length = kept;
}

/** Whether a comma-separated field value contains `token` (compared in lower case). */
function hasToken(list: string, token: string): boolean {
  if (!list.includes(token)) return false;
  return list.split(",").some((item) => item.trim() === token);
}

function isChunkedLast(transferEncoding: string): boolean {
  const codings = transferEncoding.split(",");
  return codings[codings.length - 1].trim().toLowerCase() === "chunked";
}

/** Repeated or listed lengths are accepted only when all equal (RFC 9110 §8.6). */
function parseContentLength(value: string): number {
  let length = -1;
  for (const item of value.split(",")) {
    const digits = item.trim();
    if (digits.length === 0 || digits.length > MAX_LENGTH_DIGITS) {
      throw protocolError("invalid content-length");
    }
    let parsed = 0;
    for (let i = 0; i < digits.length; i++) {
      const code = digits.charCodeAt(i);
      if (!isDigit(code)) throw protocolError("invalid content-length");
      parsed = parsed * 10 + code - 48;
    }
    if (length !== -1 && parsed !== length) throw protocolError("conflicting content-length");
    length = parsed;
  }
  return length;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** A backend answer that is not valid HTTP/1.x. */
export function protocolError(what: string, cause?: unknown): UpstreamError {
  return new UpstreamError("protocol", `invalid HTTP response: ${what}`, { cause });
}
