/**
 * What the in-process micro-benchmarks of `Balancer.handle` share: a transport that answers
 * every try at once, and the connection info of a request that did not come through
 * Deno.serve.
 *
 * @module
 */

import type { Transport, UpstreamRequest } from "../transports/transport.ts";

/** Answers every try at once, as a backend on the same machine would, minus the socket. */
export class ImmediateTransport implements Transport {
  send(_request: UpstreamRequest): Promise<Response> {
    return Promise.resolve(new Response("ok", { headers: { "content-type": "text/plain" } }));
  }
  close(): void {}
}

/** No `completed`: the try ends with its headers, as outside Deno.serve. */
export const INFO = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
} as unknown as Deno.ServeHandlerInfo;
