/**
 * Benchmark candidate, not a shipped transport: the {@linkcode Transport} on undici (npm, the
 * HTTP/1.1 client behind Node's `fetch`) run under Deno, one keep-alive `Agent` (a `Pool` per
 * backend) called through `agent.request()`. It exists so that issue 3's comparison of
 * upstream clients can measure it beside `fetch` and `http1` through the real balancer
 * (bench/candidates/balance.ts, subject `roundabout-undici`).
 *
 * What it does: method, path, the header field list (as undici's flat `[name, value, …]`
 * array), buffered and streamed request bodies (a stream is handed to undici as an async
 * iterable in a `Readable`, chunked unless the fields carry a length), the response streamed
 * into a `Response` with mutable, end-to-end-only headers (a small declared body is read
 * whole first, as `FetchTransport` does), keep-alive pooling (`connections` per backend,
 * `pipelining: 1`, keep-alive timeouts), the per-try timeout (`TimeoutError`, counted from the
 * end of a stream body; it also bounds connecting, undici's own connect timeout is off), the
 * client's signal (`AbortError`), the response body idle timeout (undici's own `bodyTimeout`,
 * which does not count while the consumer holds the body back), a response body cut or gone
 * idle reported through `onBodyError`, and Node / undici error codes mapped to `connect` /
 * `reset` / `protocol`. Bytes pass through: nothing is decompressed (undici's `request` never
 * decompresses).
 *
 * What it does not do:
 * - the idle timeout for a stream request body that the backend stops taking;
 * - retry a request that met a pooled connection the backend had just closed (undici fails
 *   it as a socket error, `reset` here; the balancer may move on to another backend);
 * - TLS (`https://` fails as `connect`; undici could, not wired up), HTTP/2, upgrades;
 * - keep the field order or the letter case of response header names (undici lower-cases
 *   them).
 *
 * @module
 */

import { Readable } from "node:stream";
import { Agent } from "undici";
import type { Transport, UpstreamRequest } from "../../transports/transport.ts";
import { Deadlines } from "../../transports/deadlines.ts";
import {
  hasNoBody,
  nodeFailure,
  Origins,
  responseBody,
  timeoutError,
  wantsZeroLength,
} from "./_node_shared.ts";
import { isHopByHop } from "../../lib/headers.ts";

/** Options for {@linkcode UndiciTransport}. */
export interface UndiciTransportOptions {
  /** Connections per backend, busy or idle (undici `connections`). Default 256. */
  readonly connections?: number;
  /** How long an idle pooled connection is kept, in milliseconds. Default 60000 (60 s). */
  readonly idleTimeoutMs?: number;
}

/** undici's `Agent`, HTTP/1.1 with keep-alive and no pipelining. */
export class UndiciTransport implements Transport {
  readonly #agent: Agent;
  readonly #origins = new Origins();
  readonly #deadlines = new Deadlines();
  #closing: Promise<void> | undefined;

  constructor(options: UndiciTransportOptions = {}) {
    const idleMs = options.idleTimeoutMs ?? 60_000;
    this.#agent = new Agent({
      connections: options.connections ?? 256,
      pipelining: 1,
      keepAliveTimeout: idleMs,
      keepAliveMaxTimeout: idleMs,
      // The balancer's own deadlines govern connecting and the head (the per-try timeout
      // aborts the request); the body timeout is set per request.
      connect: { timeout: 0 },
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  async send(request: UpstreamRequest): Promise<Response> {
    const signal = request.signal;
    signal.throwIfAborted();
    const { origin, path } = this.#origins.split(request.baseUrl, request.path);
    const abort = new AbortController();
    let timedOut = false;
    let timeout: { clear(): void } | undefined;
    const startTimeout = () => {
      if (request.timeoutMs === undefined || abort.signal.aborted) return;
      timeout = this.#deadlines.add(request.timeoutMs, () => {
        timedOut = true;
        abort.abort(timeoutError(request.timeoutMs));
      });
    };
    const onAbort = () => abort.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    // undici's cheapest header shape: one flat `[name, value, name, value, …]` array.
    const headers: string[] = [];
    for (const [name, value] of request.headers) headers.push(name, value);
    let body: Uint8Array | Readable | null = request.body as Uint8Array | null;
    if (request.body instanceof ReadableStream) {
      body = Readable.from(untilWritten(request.body, startTimeout), { objectMode: false });
    } else {
      startTimeout();
      if (body === null && wantsZeroLength(request.method)) {
        headers.push("content-length", "0");
      }
    }
    try {
      const res = await this.#agent.request({
        origin: origin.origin,
        path,
        method: request.method as "GET",
        headers,
        body,
        signal: abort.signal,
        bodyTimeout: request.bodyIdleTimeoutMs ?? 0,
      });
      timeout?.clear();
      const responseHeaders = endToEndObject(res.headers);
      const declared = res.headers["content-length"];
      const out = await responseBody(
        res.body,
        typeof declared === "string" ? declared : null,
        hasNoBody(request.method, res.statusCode),
        request,
        (error) => (error as { code?: unknown })?.code === "UND_ERR_BODY_TIMEOUT",
      );
      return new Response(out, { status: res.statusCode, headers: responseHeaders });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (timedOut) throw timeoutError(request.timeoutMs);
      throw nodeFailure(error, origin);
    } finally {
      timeout?.clear();
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Closes the pool (gracefully: requests in flight finish); resolves once it is closed. */
  close(): Promise<void> {
    this.#deadlines.close();
    return this.#closing ??= this.#agent.close();
  }
}

/** undici's header object (lower-case names, arrays for repeated fields) made end-to-end. */
function endToEndObject(source: Record<string, string | string[] | undefined>): Headers {
  const connection = source["connection"];
  let named: Set<string> | undefined;
  if (connection !== undefined) {
    named = new Set();
    for (const value of Array.isArray(connection) ? connection : [connection]) {
      for (const token of value.split(",")) {
        const name = token.trim().toLowerCase();
        if (name) named.add(name);
      }
    }
  }
  const out = new Headers();
  for (const name in source) {
    if (isHopByHop(name) || named?.has(name)) continue;
    const value = source[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) { for (const one of value) out.append(name, one); }
    else out.append(name, value);
  }
  return out;
}

/** The stream body as undici takes it; `written` runs once all of it has been taken. */
async function* untilWritten(
  body: ReadableStream<Uint8Array>,
  written: () => void,
): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      yield next.value;
    }
    done = true;
    written();
  } finally {
    if (!done) reader.cancel().catch(() => {});
  }
}
