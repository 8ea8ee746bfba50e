/**
 * The upstream transport built on `fetch`, the user's original design: one `fetch` per try,
 * under the client's signal and a per-try `AbortSignal.timeout`.
 *
 * The per-try timeout covers the response head only. An aborted signal also cuts a body that
 * JavaScript is reading, and the body is read here (`fetch_body.ts`: that is where a body
 * the backend cuts or leaves idle is noticed), so the timeout aborts the fetch only until the
 * head is back. A stream request body starts the timeout once fetch has taken all of it.
 *
 * Warm connections: the per-try timeout aborts the whole `fetch`, including any resend that
 * Deno's client makes by itself, so a timeout on a warm connection is a timeout
 * (`tests/warm_connections_test.ts`). But Deno's client (hyper) does re-send a request on a
 * new connection, to the same backend, when a pooled connection is reset after the backend
 * read the request (a node:http backend that reads a POST and resets the connection receives
 * it twice). Nothing here can stop that resend, so a request that must not run twice (a
 * method that is not idempotent, without an `Idempotency-Key`) never travels on a pooled
 * connection: it gets a connection of its own, which hyper never re-sends on. Idempotent
 * requests keep the pool; for them a same-backend resend after a reset stays possible, which
 * `Http1Transport` (the default for `http://`) never does. What `fetch` also cannot do is
 * tell a reused connection that closed before answering from any other reset: that is
 * counted against the backend, where `Http1Transport` reports a `ReusedConnectionClosed`
 * that is not.
 *
 * @module
 */

import type { Transport, UpstreamRequest } from "./transport.ts";
import { endToEnd, hasField, IDEMPOTENCY_KEY, isIdempotentMethod } from "../lib/headers.ts";
import { Deadlines } from "./deadlines.ts";
import { type WatchedFetch, watchResponseBody, watchUpload } from "./fetch_body.ts";

/** Options for {@linkcode FetchTransport}. */
export interface FetchTransportOptions {
  /** Idle keep-alive connections kept per backend. Default 256. */
  readonly poolMaxIdlePerHost?: number;
  /** How long an idle pooled connection is kept, in milliseconds. Default 90000 (90 s). */
  readonly poolIdleTimeoutMs?: number;
  /** PEM CA certificates trusted for `https://` backends besides the system's roots. */
  readonly caCerts?: readonly string[];
}

/** `fetch` over two dedicated HTTP/1.1 clients, one with a keep-alive pool. */
export class FetchTransport implements Transport {
  /** Keep-alive pool, for requests that may safely be sent twice. */
  readonly #pooled: Deno.HttpClient;
  /** No pool: a connection per request, for those that must reach a backend once at most. */
  readonly #unpooled: Deno.HttpClient;
  /** Body idle deadlines (`fetch_body.ts`). */
  readonly #deadlines = new Deadlines();

  constructor(options: FetchTransportOptions = {}) {
    const caCerts = [...options.caCerts ?? []];
    this.#pooled = Deno.createHttpClient({
      caCerts,
      http1: true,
      http2: false,
      // A `host` header of ours (the client's Host, `upstreamHost: client`) is sent as it is.
      allowHost: true,
      poolMaxIdlePerHost: options.poolMaxIdlePerHost ?? 256,
      poolIdleTimeout: options.poolIdleTimeoutMs ?? 90_000,
    });
    this.#unpooled = Deno.createHttpClient({
      caCerts,
      http1: true,
      http2: false,
      allowHost: true,
      poolMaxIdlePerHost: 0,
    });
  }

  async send(request: UpstreamRequest): Promise<Response> {
    request.signal.throwIfAborted();
    // fetch decompresses gzip/br unless accept-encoding is exactly "identity", yet keeps the
    // compressed content-encoding and content-length: the client would get corrupt bytes.
    // Asking for identity makes fetch pass the backend's bytes through untouched, whatever
    // it sends (PLATFORM.md, "gzip trap").
    const headers = new Headers(request.headers);
    headers.set("accept-encoding", "identity");
    // Sent as given only because the clients are made with `allowHost`.
    if (request.host !== undefined) headers.set("host", request.host);
    const perTry = new PerTryAbort(request.timeoutMs);
    let body = request.body;
    if (body instanceof ReadableStream) {
      body = watchUpload(body, perTry, request.bodyIdleTimeoutMs, this.#deadlines);
    } else {
      perTry.startTimeout();
    }
    let response: Response;
    try {
      response = await fetch(request.baseUrl + request.path, {
        method: request.method,
        headers,
        body,
        signal: AbortSignal.any([request.signal, perTry.signal]),
        redirect: "manual",
        client: mayRepeat(request) ? this.#pooled : this.#unpooled,
      });
    } finally {
      perTry.headArrived();
    }
    const watched = await watchResponseBody(response, request, perTry, this.#deadlines);
    // fetch's response headers are immutable; the Transport contract wants them mutable and
    // end-to-end only: one copy does both.
    return new Response(watched, {
      status: response.status,
      statusText: response.statusText,
      headers: endToEnd(response.headers),
    });
  }

  close(): void {
    this.#pooled.close();
    this.#unpooled.close();
    this.#deadlines.close();
  }
}

/**
 * Aborts one fetch for the balancer's reasons: the per-try timeout, an `AbortSignal.timeout`
 * followed only until the head is back; a stream upload the backend stopped taking; a small
 * body gone idle while it is read whole.
 */
class PerTryAbort implements WatchedFetch, EventListenerObject {
  readonly #controller = new AbortController();
  readonly signal = this.#controller.signal;
  readonly #timeoutMs: number | undefined;
  #timeout: AbortSignal | undefined;
  #headBack = false;

  constructor(timeoutMs: number | undefined) {
    this.#timeoutMs = timeoutMs;
  }

  get headBack(): boolean {
    return this.#headBack;
  }

  /** The head is back, or fetch failed: the per-try timeout no longer applies. */
  headArrived(): void {
    this.#headBack = true;
    this.#timeout?.removeEventListener("abort", this);
  }

  /** Starts the per-try timeout, once, unless the head is already back. */
  startTimeout(): void {
    if (this.#timeoutMs === undefined || this.#timeout !== undefined || this.#headBack) return;
    this.#timeout = AbortSignal.timeout(this.#timeoutMs);
    this.#timeout.addEventListener("abort", this, { once: true });
  }

  /** The per-try timeout fired: fetch rejects with its `TimeoutError`. */
  handleEvent(): void {
    this.#controller.abort(this.#timeout!.reason);
  }

  abort(reason?: unknown): void {
    this.#controller.abort(reason);
  }
}

/** Whether a request may travel on a pooled connection, where hyper may send it twice. */
function mayRepeat(request: UpstreamRequest): boolean {
  return isIdempotentMethod(request.method) || hasField(request.headers, IDEMPOTENCY_KEY);
}
