/**
 * One request and its response head on one connection, and what a failure on the way
 * means: in particular whether it was a stale pooled connection that may be retried.
 *
 * @module
 */

import { hasField } from "../headers.ts";
import { UpstreamError } from "../transport.ts";
import type { Http1Connection } from "./http1_connection.ts";
import { NoResponseError, readHead, type ResponseHead } from "./http1_head.ts";
import {
  type BodyReaderSlot,
  BodySourceError,
  type RequestToWrite,
  writeRequest,
} from "./http1_request.ts";

/** Methods whose repetition has no further effect (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/**
 * A pooled connection turned out dead before the backend could have acted on the request;
 * sending it once more on a new connection is safe.
 */
export class StaleConnectionError extends UpstreamError {
  constructor(cause: unknown) {
    super("reset", "pooled connection closed by the backend before it answered", { cause });
  }
}

/**
 * Writes `request` and reads the response head. The head is read while the request is
 * being written, so a backend that answers early (say 413 during a large upload) is heard.
 */
export async function roundTrip(
  conn: Http1Connection,
  request: RequestToWrite,
  slot: BodyReaderSlot,
  maxHeaderBytes: number,
): Promise<ResponseHead> {
  conn.written = 0;
  const head = readHead(conn, maxHeaderBytes, request.method === "HEAD");
  // A failed head leaves the connection useless; closing it also ends a write that the
  // backend no longer reads.
  head.catch(() => conn.close());
  let writeError: unknown;
  try {
    await writeRequest(conn, request, slot);
    slot.written?.();
  } catch (error) {
    writeError = error;
    // The backend would wait for the rest of the body forever: end the exchange.
    if (error instanceof BodySourceError) conn.close();
  }
  let result: ResponseHead;
  try {
    result = await head;
  } catch (error) {
    throw headFailure(error, writeError, conn, request);
  }
  // An answer before the whole request was sent: the connection is out of step.
  if (writeError !== undefined) result.keepAlive = false;
  return result;
}

function headFailure(
  error: unknown,
  writeError: unknown,
  conn: Http1Connection,
  request: RequestToWrite,
): unknown {
  if (error instanceof UpstreamError && error.kind === "protocol") return error;
  if (writeError instanceof BodySourceError) {
    return new UpstreamError("reset", "reading the request body failed", {
      cause: writeError.cause,
    });
  }
  if (conn.reused) {
    // Nothing left this host: the backend cannot have seen any of it.
    if (writeError !== undefined && conn.written === 0) return new StaleConnectionError(error);
    // Everything was written, and the connection ended without one byte of answer. That
    // is what a backend closing an idle keep-alive connection looks like while our request
    // was on its way: it closed before reading it. It is also what a backend crashing on
    // the request looks like, which cannot be told apart; so like Go's net/http and nginx,
    // only requests that are safe to repeat (idempotent, with a replayable body) go again.
    if (writeError === undefined && error instanceof NoResponseError && replayable(request)) {
      return new StaleConnectionError(error);
    }
  }
  if (writeError !== undefined) {
    return new UpstreamError("reset", "connection broke while sending the request", {
      cause: writeError,
    });
  }
  return error;
}

function replayable(request: RequestToWrite): boolean {
  if (request.body instanceof ReadableStream) return false;
  return IDEMPOTENT.has(request.method) || hasField(request.headers, "idempotency-key");
}
