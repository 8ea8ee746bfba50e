/**
 * An HTTP/1.1 client of our own over `Deno.connect`, with a keep-alive pool per backend.
 * Compared with `FetchTransport` it costs far less per request, passes response
 * bytes through untouched (no decompression, so `content-encoding` stays true), and tells
 * "nothing was sent" (`connect`) apart from "sent, no answer" (`reset`).
 *
 * What it does not do, on purpose:
 * - TLS: an `https://` URL fails with an `UpstreamError` of kind `connect` (a configuration
 *   mistake should be loud, not silently slower); use `FetchTransport` for TLS backends.
 * - HTTP/2, pipelining, protocol upgrades (a `101` answer is a `protocol` failure: the
 *   proxy strips `upgrade`, so no backend should send one).
 * - Waiting for `100 Continue` before sending a body: the body goes at once, interim
 *   answers are skipped.
 * - Trailer fields of a chunked response are read and dropped (the head has already gone).
 * - Obsolete line folding in a response head is refused as a `protocol` failure.
 *
 * A request is sent again, once, on a new connection to the same backend only when the
 * backend cannot have received it: a write on a reused connection failed before the socket
 * took a byte of it, and not because we closed the connection (the per-try deadline, the
 * client leaving). A reused connection that ends without answering a request it was given
 * is a `ReusedConnectionClosed` (`transport.ts`): the backend may have it, so a replay is the
 * balancer's decision, on another backend (see `http1_round_trip.ts` and `failure.ts`).
 * The per-try deadline covers the whole exchange, a re-send included.
 *
 * A response body that ends before its framing says, or stays silent for `bodyIdleTimeoutMs`
 * (one entry in the shared deadline queue per wait for the socket, no timer), makes the body
 * stream error and is reported through `onBodyError` (see `http1_body.ts`).
 *
 * @example Send one request
 * ```ts
 * import assert from "node:assert/strict";
 * import { Http1Transport } from "./http1.ts";
 *
 * const server = Deno.serve({ port: 0, onListen() {} }, () => new Response("hi"));
 * const transport = new Http1Transport({ idleTimeoutMs: 30_000 });
 * const response = await transport.send({
 *   url: `http://127.0.0.1:${server.addr.port}/health`,
 *   method: "GET",
 *   headers: new Headers(),
 *   body: null,
 *   signal: AbortSignal.timeout(5_000),
 * });
 * assert.equal(await response.text(), "hi");
 * transport.close();
 * await server.shutdown();
 * ```
 *
 * @module
 */

import {
  requestBodyStalled,
  type Transport,
  UpstreamError,
  type UpstreamRequest,
} from "../transport.ts";
import { type BodyLimits, BodySource } from "./body.ts";
import { type Deadline, Deadlines } from "../deadlines.ts";
import { Http1Connection } from "./connection.ts";
import { protocolError, type ResponseHead } from "./head.ts";
import { Http1Pool, type Origin } from "./pool.ts";
import { NothingSentError, roundTrip } from "./round_trip.ts";
import type { BodyReaderSlot, RequestToWrite } from "./request.ts";

/** Options for {@linkcode Http1Transport}. */
export interface Http1TransportOptions {
  /**
   * Idle keep-alive connections kept per origin (host:port); a connection released while
   * that many are idle is closed. 0 disables keep-alive. Default 256.
   */
  readonly maxIdlePerOrigin?: number;
  /**
   * How long a connection may stay idle in the pool before it is closed, in milliseconds.
   * Keep it below the backends' own keep-alive timeout. Default 60000 (60 s).
   */
  readonly idleTimeoutMs?: number;
  /**
   * Largest response head (status line and header fields) accepted, in bytes; also the
   * limit for a chunk-size line and for trailer fields. More is a `protocol` failure.
   * Default 65536 (64 KiB).
   */
  readonly maxHeaderBytes?: number;
}

/** Defaults of {@linkcode Http1TransportOptions}, in one place. */
export const HTTP1_DEFAULTS: Readonly<Required<Http1TransportOptions>> = {
  maxIdlePerOrigin: 256,
  idleTimeoutMs: 60_000,
  maxHeaderBytes: 65_536,
};

/** Percent-encoded path and query: visible ASCII only, so nothing can end the request line. */
const SAFE_PATH = /^[\x21-\x7e]*$/;
/** A method is a token (RFC 9110 §5.6.2). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** HTTP/1.1 over pooled `Deno.connect` connections. */
export class Http1Transport implements Transport {
  readonly #pool: Http1Pool;
  readonly #maxHeaderBytes: number;
  readonly #deadlines = new Deadlines();
  readonly #bodyLimits: BodyLimits;

  constructor(options: Http1TransportOptions = {}) {
    const { maxIdlePerOrigin, idleTimeoutMs, maxHeaderBytes } = { ...HTTP1_DEFAULTS, ...options };
    const problems = [
      checkWhole("maxIdlePerOrigin", maxIdlePerOrigin, 0),
      checkWhole("idleTimeoutMs", idleTimeoutMs, 1),
      checkWhole("maxHeaderBytes", maxHeaderBytes, 64),
    ].filter((problem) => problem !== undefined);
    if (problems.length > 0) {
      throw new RangeError(`Cannot create Http1Transport: ${problems.join("; ")}`);
    }
    this.#pool = new Http1Pool(maxIdlePerOrigin, idleTimeoutMs);
    this.#maxHeaderBytes = maxHeaderBytes;
    this.#bodyLimits = { maxLineBytes: maxHeaderBytes, deadlines: this.#deadlines };
  }

  async send(request: UpstreamRequest): Promise<Response> {
    const signal = request.signal;
    signal.throwIfAborted();
    const { authority, path } = splitUrl(request.url);
    if (!TOKEN.test(request.method)) {
      throw new TypeError(`Cannot send a request with method "${request.method.slice(0, 32)}"`);
    }
    const origin = this.#pool.origin(authority);
    const attempt = new Attempt(this.#deadlines, request, signal);
    // Once the head is back the body is the consumer's: the listener goes in `finally`.
    signal.addEventListener("abort", attempt, { once: true });
    // A stream body takes as long as its client takes to send it, so the per-try timeout
    // starts once it has all been written (`Attempt.written`), as nginx's
    // proxy_read_timeout does; while it is written, the idle timeout bounds each write.
    if (!(request.body instanceof ReadableStream)) attempt.startTimeout();
    try {
      return await this.#exchange(origin, path, request, attempt);
    } catch (error) {
      // An interruption closed the connection under the exchange; report it, as fetch would.
      if (signal.aborted) throw signal.reason;
      throw attempt.interruption ?? error;
    } finally {
      attempt.finish();
      signal.removeEventListener("abort", attempt);
    }
  }

  /**
   * Closes idle connections and stops the idle timer; busy ones close when their body ends.
   * Requests sent afterwards still work, on connections that are not kept.
   */
  close(): void {
    this.#pool.close();
    this.#deadlines.close();
  }

  async #exchange(
    origin: Origin,
    path: string,
    request: UpstreamRequest,
    attempt: Attempt,
  ): Promise<Response> {
    const toWrite: RequestToWrite = {
      method: request.method,
      path,
      host: request.host ?? origin.host,
      headers: request.headers,
      body: request.body,
    };
    let conn = this.#pool.take(origin);
    for (let resent = false;; resent = true) {
      conn ??= await connect(origin, attempt);
      attempt.use(conn);
      let head: ResponseHead;
      try {
        head = await roundTrip(conn, toWrite, attempt, this.#maxHeaderBytes);
      } catch (error) {
        conn.close();
        attempt.conn = undefined;
        // The backend cannot have seen it: once more on a new connection, within the same
        // deadline (an interruption is never a NothingSentError, see `headFailure`).
        if (error instanceof NothingSentError && !resent && attempt.interruption === undefined) {
          conn = undefined;
          continue;
        }
        throw error;
      }
      attempt.conn = undefined;
      return this.#respond(origin, conn, head, request);
    }
  }

  #respond(
    origin: Origin,
    conn: Http1Connection,
    head: ResponseHead,
    request: UpstreamRequest,
  ): Response {
    const source = new BodySource(
      conn,
      head,
      this.#bodyLimits,
      request,
      (reusable) => reusable ? this.#pool.put(origin, conn) : conn.close(),
    );
    let body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null = null;
    try {
      // A small body that came with the head needs no stream and frees the connection now.
      const first = source.begin();
      body = source.done
        ? (first as Uint8Array<ArrayBuffer> | undefined) ?? null
        : new ReadableStream(source);
      const response = new Response(body, {
        status: head.status,
        statusText: head.statusText,
        headers: head.headers,
      });
      // Only now: `first` may be a view of the connection's buffer, copied by Response.
      if (source.done) source.finish();
      return response;
    } catch (error) {
      if (body instanceof ReadableStream) body.cancel().catch(() => {});
      else source.cancel();
      // Invalid field names or values, a reason phrase with control characters, content
      // on a 205: the Response constructor checks them all.
      throw error instanceof UpstreamError
        ? error
        : protocolError("invalid header field or reason phrase", error);
    }
  }
}

/**
 * What an abort or the per-try timeout interrupts: a connection being made, the connection
 * in use, and a request body being read.
 */
class Attempt implements BodyReaderSlot, EventListenerObject {
  conn?: Http1Connection;
  reader?: ReadableStreamDefaultReader<Uint8Array>;
  connecting?: AbortController;
  /**
   * What interrupted the exchange, once something did: the client's abort reason, a
   * `TimeoutError`, or a stalled request body. Nothing may continue after it.
   */
  interruption: unknown;
  readonly #deadlines: Deadlines;
  readonly #signal: AbortSignal;
  readonly #timeoutMs: number | undefined;
  readonly #idleMs: number | undefined;
  #timeout: Deadline | undefined;
  #write: Deadline | undefined;
  #onStall: (() => void) | undefined;
  #finished = false;

  // One shared queue instead of AbortSignal.timeout + AbortSignal.any per request: those
  // cost a timer, two signals and a DOMException each (profiled at ~4% of the proxy's CPU).
  constructor(deadlines: Deadlines, request: UpstreamRequest, signal: AbortSignal) {
    this.#deadlines = deadlines;
    this.#signal = signal;
    this.#timeoutMs = request.timeoutMs;
    this.#idleMs = request.bodyIdleTimeoutMs;
  }

  /** Starts the per-try timeout, once. */
  startTimeout(): void {
    if (this.#timeoutMs === undefined || this.#timeout !== undefined || this.#finished) return;
    this.#timeout = this.#deadlines.add(this.#timeoutMs, () => this.expire());
  }

  /** The whole request is written: the backend's time to answer starts now. */
  written(): void {
    this.startTimeout();
  }

  /** Bounds each write of stream body bytes by the idle timeout. */
  writing(active: boolean): void {
    if (this.#idleMs === undefined || this.#finished) return;
    this.#write?.clear();
    this.#write = active
      ? this.#deadlines.add(this.#idleMs, this.#onStall ??= () => this.stall())
      : undefined;
  }

  /** The exchange is over (head back, or failed): no timer may fire any more. */
  finish(): void {
    this.#finished = true;
    this.#timeout?.clear();
    this.#write?.clear();
  }

  /**
   * Makes `conn` the connection in use, unless the exchange was interrupted meanwhile: then
   * it is closed at once with the interruption as its reason.
   */
  use(conn: Http1Connection): void {
    if (this.interruption !== undefined) conn.close(this.interruption);
    this.conn = conn;
  }

  /** The backend stopped taking the request body. */
  stall(): void {
    this.interrupt(requestBodyStalled(this.#idleMs!));
  }

  /** The client left (the request signal's listener). */
  handleEvent(): void {
    this.interrupt(this.#signal.reason ?? new DOMException("aborted", "AbortError"));
  }

  /** The per-try timeout passed. */
  expire(): void {
    this.interrupt(new DOMException(`no response within ${this.#timeoutMs}ms`, "TimeoutError"));
  }

  /**
   * Stops everything in progress, once: the connection is closed with `reason` as its
   * reason, so that no failure that follows can be taken for the backend's doing.
   */
  interrupt(reason: unknown): void {
    if (this.interruption !== undefined || this.#finished) return;
    this.interruption = reason;
    this.connecting?.abort();
    this.conn?.close(reason);
    this.reader?.cancel().catch(() => {});
  }
}

/** Connects, interruptibly: `send` reports an interruption as the client's or a timeout. */
async function connect(origin: Origin, attempt: Attempt): Promise<Http1Connection> {
  // An AbortController only here: new connections are rare once the pool is warm.
  if (attempt.interruption !== undefined) throw attempt.interruption;
  const controller = new AbortController();
  attempt.connecting = controller;
  const signal = controller.signal;
  let socket: Deno.TcpConn;
  try {
    socket = await Deno.connect({ hostname: origin.hostname, port: origin.port, signal });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new UpstreamError("connect", connectFailure(error, origin), { cause: error });
  } finally {
    attempt.connecting = undefined;
  }
  if (signal.aborted) {
    socket.close();
    throw new UpstreamError("connect", "interrupted while connecting");
  }
  socket.setNoDelay(true);
  return new Http1Connection(socket);
}

function connectFailure(error: unknown, origin: Origin): string {
  if (error instanceof Deno.errors.ConnectionRefused) return `connection refused (${origin.host})`;
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes("lookup address")) return `name not resolved (${origin.host})`;
  return `connect to ${origin.host} failed (${message})`;
}

/** `http://authority/path?query` → its authority and its path and query. */
function splitUrl(url: string): { authority: string; path: string } {
  if (!url.startsWith("http://")) {
    const scheme = url.slice(0, url.indexOf(":") + 1).toLowerCase();
    if (scheme === "https:") {
      throw new UpstreamError(
        "connect",
        "https backends are not supported by Http1Transport (plain HTTP/1.1 only); " +
          "use FetchTransport for TLS",
      );
    }
    if (scheme !== "http:") {
      throw new UpstreamError("connect", `unsupported backend URL "${url.slice(0, 100)}"`);
    }
  }
  const slash = url.indexOf("/", 7);
  const authority = slash === -1 ? url.slice(7) : url.slice(7, slash);
  const path = slash === -1 ? "/" : url.slice(slash);
  if (!SAFE_PATH.test(path)) {
    throw new TypeError(`Cannot send a request to "${url.slice(0, 100)}": unencoded path`);
  }
  return { authority, path };
}

function checkWhole(name: string, value: number, min: number): string | undefined {
  if (Number.isInteger(value) && value >= min) return undefined;
  return `${name} is ${value}, expected a whole number ≥ ${min}`;
}
