/**
 * The default transport: our HTTP/1.1 client for `http://` backends, where the benchmark
 * found it faster than `fetch` and cheaper in CPU per request (README, "Performance"), and
 * `fetch` for `https://` backends, which the HTTP/1.1 client does not speak.
 *
 * @module
 */

import type { Transport, UpstreamRequest } from "./transport.ts";
import { FetchTransport } from "./fetch.ts";
import { Http1Transport } from "./http1/http1.ts";

/** Chooses the client by the backend URL's scheme. */
export class AutoTransport implements Transport {
  readonly #plain: Transport;
  readonly #tls: Transport;

  constructor(plain: Transport = new Http1Transport(), tls: Transport = new FetchTransport()) {
    this.#plain = plain;
    this.#tls = tls;
  }

  send(request: UpstreamRequest): Promise<Response> {
    return request.baseUrl.startsWith("http://")
      ? this.#plain.send(request)
      : this.#tls.send(request);
  }

  close(): void {
    this.#plain.close();
    this.#tls.close();
  }
}
