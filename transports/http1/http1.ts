/**
 * An HTTP/1.1 client of our own over `Deno.connect` (or `node:net` sockets, transport `http1-net`)
 * and `Deno.startTls` for `https://`, with a keep-alive pool per backend.
 * Compared with `FetchTransport` it costs far less per request, passes response
 * bytes through untouched (no decompression, so `content-encoding` stays true), and tells
 * "nothing was sent" (`connect`) apart from "sent, no answer" (`reset`).
 *
 * What it does not do, on purpose:
 * - TLS without verification: an `https://` backend's certificate must be trusted (the
 *   system's roots plus `caCerts`) and valid for the URL's host; otherwise the try fails as
 *   `connect` (see `connect.ts`).
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
 * balancer's decision, on another backend (see `round_trip.ts` and `balancer/outcomes.ts`).
 * The per-try deadline covers the whole exchange, a re-send included.
 *
 * A response body that ends before its framing says, or stays silent for `bodyIdleTimeoutMs`
 * (one entry in the shared deadline queue per wait for the socket, no timer), makes the body
 * stream error and is reported through `onBodyError` (see `body.ts`).
 *
 * @example Send one request
 * ```ts
 * import assert from "node:assert/strict";
 * import { Http1Transport } from "./http1.ts";
 *
 * const server = Deno.serve({ port: 0, onListen() {} }, () => new Response("hi"));
 * const transport = new Http1Transport({ idleTimeoutMs: 30_000 });
 * const response = await transport.send({
 *   baseUrl: `http://127.0.0.1:${server.addr.port}`,
 *   path: "/health",
 *   method: "GET",
 *   headers: [["accept", "text/plain"]],
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

import { type Transport, UpstreamError, type UpstreamRequest } from "../transport.ts";
import { type BodyLimits, BodySource } from "./body.ts";
import { Deadlines } from "../deadlines.ts";
import { connect } from "./connect.ts";
import type { Http1Connection } from "./connection.ts";
import { ExchangeGuard, TimedExchangeGuard } from "./exchange_guard.ts";
import { protocolError } from "./framing.ts";
import type { ResponseHead } from "./head.ts";
import { Http1Pool, type Origin } from "./pool.ts";
import { NothingSentError, roundTrip } from "./round_trip.ts";
import { http1Settings, type Http1TransportOptions } from "./options.ts";
import { checkRequestLine, type RequestToWrite } from "./request.ts";
import type { SocketKind } from "./socket.ts";

export { HTTP1_DEFAULTS, type Http1TransportOptions } from "./options.ts";

/** HTTP/1.1 over pooled `Deno.connect` (or `node:net`) connections. */
export class Http1Transport implements Transport {
  readonly #pool: Http1Pool;
  readonly #maxHeaderBytes: number;
  readonly #deadlines = new Deadlines();
  readonly #bodyLimits: BodyLimits;
  readonly #caCerts: string[];
  readonly #socket: SocketKind;

  constructor(options: Http1TransportOptions = {}) {
    const { maxIdlePerOrigin, idleTimeoutMs, maxHeaderBytes, caCerts, socket } = http1Settings(
      options,
    );
    this.#caCerts = [...caCerts];
    this.#socket = socket;
    this.#pool = new Http1Pool(maxIdlePerOrigin, idleTimeoutMs);
    this.#maxHeaderBytes = maxHeaderBytes;
    this.#bodyLimits = { maxLineBytes: maxHeaderBytes, deadlines: this.#deadlines };
  }

  async send(request: UpstreamRequest): Promise<Response> {
    const signal = request.signal;
    signal.throwIfAborted();
    checkRequestLine(request.method, request.path);
    const { origin, pathPrefix } = this.#pool.target(request.baseUrl);
    const guard = request.timeline === undefined
      ? new ExchangeGuard(this.#deadlines, request, signal)
      : new TimedExchangeGuard(this.#deadlines, request, signal);
    // Once the head is back the body is the consumer's: the listener goes in `finally`.
    signal.addEventListener("abort", guard, { once: true });
    // A stream body takes as long as its client takes to send it, so the per-try timeout
    // starts once it has all been written (`ExchangeGuard.written`), as nginx's
    // proxy_read_timeout does; while it is written, the idle timeout bounds each write.
    if (!(request.body instanceof ReadableStream)) guard.startTimeout();
    try {
      return await this.#exchange(origin, pathPrefix + request.path, request, guard);
    } catch (error) {
      // An interruption closed the connection under the exchange; report it, as fetch would.
      if (signal.aborted) throw signal.reason;
      throw guard.interruption ?? error;
    } finally {
      guard.finish();
      signal.removeEventListener("abort", guard);
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
    guard: ExchangeGuard,
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
      conn ??= await connect(origin, guard, this.#caCerts, this.#socket);
      guard.use(conn);
      let head: ResponseHead;
      try {
        head = await roundTrip(conn, toWrite, guard, this.#maxHeaderBytes);
      } catch (error) {
        conn.close();
        guard.conn = undefined;
        // The backend cannot have seen it: once more on a new connection, within the same
        // deadline (an interruption is never a NothingSentError, see `headFailure`).
        if (error instanceof NothingSentError && !resent && guard.interruption === undefined) {
          conn = undefined;
          continue;
        }
        throw error;
      }
      guard.headArrived();
      return this.#respond(origin, conn, head, request, guard);
    }
  }

  #respond(
    origin: Origin,
    conn: Http1Connection,
    head: ResponseHead,
    request: UpstreamRequest,
    guard: ExchangeGuard,
  ): Response {
    const source = new BodySource(conn, head, this.#bodyLimits, request, (reusable) => {
      guard.bodyEnded();
      reusable ? this.#pool.put(origin, conn) : conn.close();
    });
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
