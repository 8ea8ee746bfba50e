/**
 * Benchmark candidate, not a shipped transport: the {@linkcode Transport} on `node:http`'s
 * `request` with a keep-alive `http.Agent`, as Deno's Node compatibility layer provides it.
 * It exists so that issue 3's comparison of upstream clients can measure it beside `fetch`
 * and `http1` through the real balancer (bench/candidates/balance.ts, subject
 * `roundabout-node-http`).
 *
 * What it does: method, path, the header field list, buffered and streamed request bodies
 * (a stream is written with backpressure, chunked unless the fields carry a length), the
 * response streamed into a `Response` with mutable, end-to-end-only headers (a small declared
 * body is read whole first, as `FetchTransport` does), keep-alive pooling (`keepAlive`,
 * `maxSockets`, `maxFreeSockets`, LIFO scheduling), the per-try timeout (`TimeoutError`,
 * counted from the end of a stream body), the client's signal (`AbortError`), a response body
 * cut by the backend reported through `onBodyError`, and Node error codes mapped to
 * `connect` / `reset` / `protocol`. Bytes pass through: nothing is decompressed.
 *
 * What it does not do:
 * - the body idle timeout (`bodyIdleTimeoutMs`): neither for the response body nor for a
 *   stream request body the backend stops taking;
 * - retry a request that met a pooled connection the backend had just closed (it fails as
 *   `reset`; the balancer may move on to another backend);
 * - TLS (`https://` fails as `connect`), HTTP/2, upgrades;
 * - keep the field order or the letter case of response header names (they are lower-cased).
 *
 * @module
 */

import http from "node:http";
import type { IncomingMessage } from "node:http";
import type { Transport, UpstreamRequest } from "../../transports/transport.ts";
import { Deadlines } from "../../transports/deadlines.ts";
import {
  endToEndRaw,
  hasNoBody,
  nodeFailure,
  Origins,
  responseBody,
  timeoutError,
  wantsZeroLength,
} from "./_node_shared.ts";

/** Options for {@linkcode NodeHttpTransport}. */
export interface NodeHttpTransportOptions {
  /** Connections per backend, busy or idle (`http.Agent` `maxSockets`). Default 256. */
  readonly maxSockets?: number;
  /** Idle keep-alive connections kept per backend (`maxFreeSockets`). Default 256. */
  readonly maxFreeSockets?: number;
  /** How long an idle pooled connection is kept, in milliseconds. Default 60000 (60 s). */
  readonly idleTimeoutMs?: number;
}

/** `node:http` with one keep-alive `http.Agent`. */
export class NodeHttpTransport implements Transport {
  readonly #agent: http.Agent;
  readonly #origins = new Origins();
  readonly #deadlines = new Deadlines();

  constructor(options: NodeHttpTransportOptions = {}) {
    this.#agent = new http.Agent({
      keepAlive: true,
      maxSockets: options.maxSockets ?? 256,
      maxFreeSockets: options.maxFreeSockets ?? 256,
      // The most recently used connection first: the fewest connections stay warm.
      scheduling: "lifo",
      timeout: options.idleTimeoutMs ?? 60_000,
    });
  }

  send(request: UpstreamRequest): Promise<Response> {
    const signal = request.signal;
    signal.throwIfAborted();
    const { origin, path } = this.#origins.split(request.baseUrl, request.path);
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of request.headers) {
      const prior = headers[name];
      if (prior === undefined) headers[name] = value;
      else if (Array.isArray(prior)) prior.push(value);
      else headers[name] = [prior, value];
    }
    const body = request.body;
    if (body === null && wantsZeroLength(request.method) && !("content-length" in headers)) {
      headers["content-length"] = "0";
    }
    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      let timedOut = false;
      let timeout: { clear(): void } | undefined;
      const req = http.request({
        hostname: origin.hostname,
        port: origin.port,
        method: request.method,
        path,
        headers,
        agent: this.#agent,
      });
      const settle = () => {
        settled = true;
        timeout?.clear();
        signal.removeEventListener("abort", onAbort);
      };
      const fail = (error: unknown) => {
        if (settled) return;
        settle();
        reject(error);
      };
      const onAbort = () => {
        req.destroy();
        fail(signal.reason);
      };
      const startTimeout = () => {
        if (settled || request.timeoutMs === undefined) return;
        timeout = this.#deadlines.add(request.timeoutMs, () => {
          timedOut = true;
          req.destroy();
          fail(timeoutError(request.timeoutMs));
        });
      };
      signal.addEventListener("abort", onAbort, { once: true });
      req.on("error", (error) => {
        if (!timedOut && !signal.aborted) fail(nodeFailure(error, origin));
      });
      req.once("response", (res: IncomingMessage) => {
        if (settled) {
          res.destroy();
          return;
        }
        settle();
        this.#respond(res, request).then(resolve, reject);
      });
      if (body instanceof ReadableStream) {
        writeStream(req, body).then(startTimeout, (error) => {
          req.destroy();
          fail(error);
        });
      } else {
        startTimeout();
        if (body === null) req.end();
        else req.end(body);
      }
    });
  }

  async #respond(res: IncomingMessage, request: UpstreamRequest): Promise<Response> {
    const status = res.statusCode ?? 502;
    const body = await responseBody(
      res,
      res.headers["content-length"],
      hasNoBody(request.method, status),
      request,
    );
    return new Response(body, {
      status,
      statusText: res.statusMessage,
      headers: endToEndRaw(res.rawHeaders),
    });
  }

  /** Destroys every pooled connection; requests in flight fail. */
  close(): void {
    this.#agent.destroy();
    this.#deadlines.close();
  }
}

/** Writes a stream body with backpressure, then ends the request. */
async function writeStream(req: http.ClientRequest, body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (req.destroyed) throw new Error("request destroyed while its body was written");
      if (done) break;
      if (!req.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            req.off("drain", go);
            req.off("close", go);
            resolve();
          };
          req.on("drain", go);
          req.on("close", go);
        });
      }
    }
    req.end();
  } catch (error) {
    reader.cancel(error).catch(() => {});
    throw error;
  }
}
