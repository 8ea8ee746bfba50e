/**
 * The upstream transport built on `fetch`, the user's original design: one `fetch` per try,
 * with the per-try timeout and the client's own signal combined by the caller.
 *
 * @module
 */

import type { Transport, UpstreamRequest } from "../transport.ts";

/** Options for {@linkcode FetchTransport}. */
export interface FetchTransportOptions {
  /** Idle keep-alive connections kept per backend. Default 256. */
  readonly poolMaxIdlePerHost?: number;
  /** How long an idle pooled connection is kept, in milliseconds. Default 90000 (90 s). */
  readonly poolIdleTimeoutMs?: number;
}

/** `fetch` over a dedicated HTTP/1.1 client with a keep-alive pool. */
export class FetchTransport implements Transport {
  readonly #client: Deno.HttpClient;

  constructor(options: FetchTransportOptions = {}) {
    this.#client = Deno.createHttpClient({
      http1: true,
      http2: false,
      poolMaxIdlePerHost: options.poolMaxIdlePerHost ?? 256,
      poolIdleTimeout: options.poolIdleTimeoutMs ?? 90_000,
    });
  }

  async send(request: UpstreamRequest): Promise<Response> {
    // fetch decompresses gzip/br unless accept-encoding is exactly "identity", yet keeps the
    // compressed content-encoding and content-length: the client would get corrupt bytes.
    // Asking for identity makes fetch pass the backend's bytes through untouched, whatever
    // it sends (PLATFORM.md, "gzip trap").
    request.headers.set("accept-encoding", "identity");
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      // The user's original design: the per-try timeout as AbortSignal.timeout, combined
      // with the client's own signal.
      signal: request.timeoutMs === undefined
        ? request.signal
        : AbortSignal.any([request.signal, AbortSignal.timeout(request.timeoutMs)]),
      redirect: "manual",
      client: this.#client,
    });
    // fetch's response headers are immutable; the Transport contract wants them mutable.
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers: copyHeaders(response.headers),
    });
  }

  close(): void {
    this.#client.close();
  }
}

function copyHeaders(source: Headers): Headers {
  const copy = new Headers();
  source.forEach((value, name) => copy.append(name, value));
  return copy;
}
