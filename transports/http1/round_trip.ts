/**
 * One request and its response head on one connection, and what a failure on the way
 * means: in particular whether the request certainly never left, the one case where it may
 * be sent again to the same backend.
 *
 * @module
 */

import { ReusedConnectionClosed, UpstreamError } from "../transport.ts";
import type { Http1Connection } from "./connection.ts";
import { NoResponseError, readHead, type ResponseHead } from "./head.ts";
import {
  type BodyReaderSlot,
  BodySourceError,
  type RequestToWrite,
  writeRequest,
} from "./request.ts";

/**
 * A write failed before the socket took a single byte of the request, on a reused
 * connection we did not close ourselves: the backend cannot have seen any of it, so it may
 * go once more, on a new connection to the same backend (`Http1Transport` does that).
 */
export class NothingSentError extends UpstreamError {
  constructor(cause: unknown) {
    super("reset", "reused connection broke before any of the request was sent", { cause });
  }
}

/**
 * Writes `request` and reads the response head. The head is read while the request is
 * being written, and a final head that arrives before the request is all written ends the
 * write: a backend that answers early (401 or 413 to a large upload) and stops reading is
 * heard at once, and the rest of the upload is not read from the client. The connection is
 * then out of step, so the head says it is not to be reused.
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
  if (isSmall(request.body)) return await smallRoundTrip(conn, head, request, slot);
  const upload = new Upload(conn, request, slot);
  let result: ResponseHead | undefined;
  try {
    result = await Promise.race([head, upload.done]) ?? await head;
  } catch (error) {
    // The write may be waiting for the client's body: it is not wanted any more.
    upload.abandon();
    await upload.done;
    throw headFailure(error, upload.error, conn);
  }
  if (!upload.finished) upload.abandon();
  // An answer before the whole request was sent: the connection is out of step.
  if (upload.abandoned || upload.error !== undefined) result.keepAlive = false;
  return result;
}

/**
 * Bodies up to this size (and none) go out in one write that the socket's send buffer takes
 * at once, whatever the backend does: nothing is left to abandon when an answer comes
 * early, so the exchange needs no race between the write and the head. The common case,
 * and the cheap one.
 */
const SMALL_BODY_BYTES = 8 * 1024;

function isSmall(body: RequestToWrite["body"]): boolean {
  return body === null || (body instanceof Uint8Array && body.byteLength <= SMALL_BODY_BYTES);
}

/** Writes a small request whole, then reads its head. */
async function smallRoundTrip(
  conn: Http1Connection,
  head: Promise<ResponseHead>,
  request: RequestToWrite,
  slot: BodyReaderSlot,
): Promise<ResponseHead> {
  let writeError: unknown;
  try {
    await writeRequest(conn, request, slot);
    slot.written?.();
  } catch (error) {
    writeError = error;
  }
  let result: ResponseHead;
  try {
    result = await head;
  } catch (error) {
    throw headFailure(error, writeError, conn);
  }
  // An answer to a request that was not all sent: the connection is out of step.
  if (writeError !== undefined) result.keepAlive = false;
  return result;
}

/**
 * The request's write, as the slot the writer reports to: it passes the reader and the
 * write progress on to the exchange's slot until it is abandoned, and never rejects.
 */
class Upload implements BodyReaderSlot {
  /** Settles when the write has ended, whichever way. */
  readonly done: Promise<undefined>;
  finished = false;
  abandoned = false;
  error: unknown;
  readonly #slot: BodyReaderSlot;

  constructor(conn: Http1Connection, request: RequestToWrite, slot: BodyReaderSlot) {
    this.#slot = slot;
    this.done = writeRequest(conn, request, this).then(
      () => {
        this.finished = true;
        if (!this.abandoned) slot.written?.();
        return undefined;
      },
      (error) => {
        this.finished = true;
        this.error = error;
        // The backend would wait for the rest of the body forever: end the exchange. Not
        // once abandoned: the connection then carries the answer that came early.
        if (error instanceof BodySourceError && !this.abandoned) {
          conn.close(new UpstreamError("reset", error.message, { cause: error.cause }));
        }
        return undefined;
      },
    );
  }

  get reader(): ReadableStreamDefaultReader<Uint8Array> | undefined {
    return this.#slot.reader;
  }

  set reader(reader: ReadableStreamDefaultReader<Uint8Array> | undefined) {
    this.#slot.reader = reader;
  }

  writing(active: boolean): void {
    if (!this.abandoned) this.#slot.writing?.(active);
  }

  /** Stops the write after the piece being written, and stops reading the client's body. */
  abandon(): void {
    if (this.finished || this.abandoned) return;
    this.abandoned = true;
    this.#slot.writing?.(false);
    this.#slot.reader?.cancel().catch(() => {});
  }
}

/**
 * What a failure to get a response head means, given how the write went (`writeError`,
 * `conn.written`) and whether we closed the connection ourselves (`conn.closeReason`).
 * Only {@linkcode NothingSentError} may be sent again to the same backend; a reused
 * connection that ends without answering a fully written request is
 * {@linkcode ReusedConnectionClosed}, which a balancer may replay, on another backend.
 */
export function headFailure(
  error: unknown,
  writeError: unknown,
  conn: Pick<Http1Connection, "closeReason" | "reused" | "written">,
): unknown {
  // Closed by us (deadline, client gone, request body stalled or broken): whatever failed
  // afterwards failed because of that, whatever it looks like.
  if (conn.closeReason !== undefined) return conn.closeReason;
  if (error instanceof UpstreamError && error.kind === "protocol") return error;
  if (writeError !== undefined) {
    if (conn.written === 0 && conn.reused) return new NothingSentError(writeError);
    return new UpstreamError("reset", "connection broke while sending the request", {
      cause: writeError,
    });
  }
  // Everything was written and not one byte came back: the backend may have closed an
  // idle connection as the request came, or crashed on it. It may have received it.
  if (conn.reused && error instanceof NoResponseError) return new ReusedConnectionClosed(error);
  return error;
}
