/**
 * What the two Node-style benchmark candidates (`node_http_transport.ts`,
 * `undici_transport.ts`) share: the backend's origin, the field list in the shapes their
 * clients take, the response headers made end-to-end, a Node `Readable` turned into the
 * body of a `Response`, and Node error codes mapped to {@linkcode UpstreamError} kinds.
 *
 * Benchmark code, not a shipped transport: see bench/README.md, "Upstream client candidates".
 *
 * @module
 */

import type { Readable } from "node:stream";
import { isHopByHop } from "../../lib/headers.ts";
import {
  bodyCutError,
  bodyIdleError,
  UpstreamError,
  type UpstreamRequest,
} from "../../transports/transport.ts";

/** A backend as the Node clients address it. */
export interface Origin {
  /** `http://host:port`, as undici's `origin`. */
  readonly origin: string;
  readonly hostname: string;
  readonly port: number;
  /** `host:port`, for error messages. */
  readonly host: string;
}

/** A backend's base URL parsed once: its origin and its path prefix (or `""`). */
interface Target {
  readonly origin: Origin;
  readonly pathPrefix: string;
}

/** Backends' base URLs, parsed on first use and cached by base URL. */
export class Origins {
  readonly #known = new Map<string, Target>();

  /** The origin of `baseUrl`, and the request's path with the base URL's prefix. */
  split(baseUrl: string, path: string): { origin: Origin; path: string } {
    let target = this.#known.get(baseUrl);
    if (target === undefined) {
      target = parseBaseUrl(baseUrl);
      this.#known.set(baseUrl, target);
    }
    return { origin: target.origin, path: target.pathPrefix + path };
  }
}

function parseBaseUrl(url: string): Target {
  if (!url.startsWith("http://")) {
    throw new UpstreamError(
      "connect",
      `only http:// backends are supported by this candidate: "${url.slice(0, 100)}"`,
    );
  }
  const slash = url.indexOf("/", 7);
  const authority = slash === -1 ? url.slice(7) : url.slice(7, slash);
  const parsed = new URL(`http://${authority}`);
  const origin = {
    origin: `http://${authority}`,
    // The Node clients want an IPv6 address without its brackets.
    hostname: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(parsed.port || 80),
    host: authority,
  };
  return { origin, pathPrefix: slash === -1 ? "" : url.slice(slash) };
}

/** Methods whose requests carry content: without a body they say `content-length: 0`. */
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** Whether a response to `method` with `status` has no body at all (RFC 9110 §6.4.1). */
export function hasNoBody(method: string, status: number): boolean {
  return method === "HEAD" || status === 204 || status === 205 || status === 304 ||
    (status >= 100 && status < 200);
}

/** Whether a body-less request of `method` should still say `content-length: 0`. */
export function wantsZeroLength(method: string): boolean {
  return BODY_METHODS.has(method);
}

/**
 * Response headers end-to-end only (RFC 9110 §7.6.1): no hop-by-hop field and none that the
 * Connection header names, as `endToEnd` in lib/headers.ts does. `raw` is Node's
 * `rawHeaders` shape, `[name, value, name, value, …]`.
 */
export function endToEndRaw(raw: readonly string[]): Headers {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 10 && raw[i].toLowerCase() === "connection") {
      named ??= new Set();
      for (const token of raw[i + 1].split(",")) {
        const name = token.trim().toLowerCase();
        if (name) named.add(name);
      }
    }
  }
  const out = new Headers();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!isHopByHop(name) && !named?.has(name)) out.append(name, raw[i + 1]);
  }
  return out;
}

/** Largest declared response body read whole before the head is handed on. */
export const WHOLE_BODY_BYTES = 64 * 1024;

/**
 * The body of the `Response`: `null` when there is none, the whole of a small declared body
 * as bytes (one object instead of a stream, as `FetchTransport` does for the same reason),
 * otherwise a stream with backpressure (the readable is paused while the consumer is full).
 * A body that fails (cut, or `idleError` says it went idle) is reported through
 * `onBodyError` and errors the stream; a consumer that cancels destroys the readable, which
 * closes its connection.
 */
export async function responseBody(
  readable: Readable,
  declared: string | null | undefined,
  noBody: boolean,
  request: UpstreamRequest,
  idleError?: (error: unknown) => boolean,
): Promise<Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null> {
  const failure = (error: unknown): UpstreamError =>
    idleError?.(error) ? bodyIdleError(request.bodyIdleTimeoutMs ?? 0) : bodyCutError(error);
  if (noBody) {
    readable.resume();
    return null;
  }
  if (declared != null && Number(declared) <= WHOLE_BODY_BYTES) {
    try {
      return await readWhole(readable);
    } catch (error) {
      const cut = failure(error);
      if (!request.signal.aborted) request.onBodyError?.(cut);
      return new ReadableStream({ start: (controller) => controller.error(cut) });
    }
  }
  return streamOf(readable, request, failure);
}

function readWhole(readable: Readable): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let length = 0;
    let ended = false;
    readable.on("data", (chunk: Uint8Array) => {
      chunks.push(chunk);
      length += chunk.byteLength;
    });
    readable.once("end", () => {
      ended = true;
      resolve(join(chunks, length));
    });
    readable.once("error", reject);
    // A connection closed before the end emits `close` alone on some Node versions.
    readable.once("close", () => {
      if (!ended) reject(new Error("body closed before its end"));
    });
  });
}

function streamOf(
  readable: Readable,
  request: UpstreamRequest,
  failure: (error: unknown) => UpstreamError,
): ReadableStream<Uint8Array> {
  let finished = false;
  let cancelled = false;
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, error: unknown) => {
    if (finished || cancelled) return;
    finished = true;
    const cut = failure(error);
    if (!request.signal.aborted) request.onBodyError?.(cut);
    controller.error(cut);
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      readable.on("data", (chunk: Uint8Array) => {
        if (finished || cancelled) return;
        controller.enqueue(plain(chunk));
        if ((controller.desiredSize ?? 0) <= 0) readable.pause();
      });
      readable.once("end", () => {
        if (finished || cancelled) return;
        finished = true;
        controller.close();
      });
      readable.once("error", (error) => fail(controller, error));
      readable.once("close", () => fail(controller, new Error("body closed before its end")));
    },
    pull() {
      if (readable.isPaused()) readable.resume();
    },
    cancel() {
      cancelled = true;
      readable.destroy();
    },
  });
}

/** A Buffer as a plain Uint8Array view of the same bytes. */
function plain(chunk: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(chunk.buffer as ArrayBuffer, chunk.byteOffset, chunk.byteLength);
}

function join(chunks: Uint8Array[], length: number): Uint8Array<ArrayBuffer> {
  if (chunks.length === 1) return plain(chunks[0]);
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/** Node error codes that mean no connection was made: nothing reached the backend. */
const CONNECT_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "name not resolved",
  EAI_AGAIN: "name not resolved",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EADDRNOTAVAIL: "address not available",
  UND_ERR_CONNECT_TIMEOUT: "connect timed out",
};

/**
 * A Node-style client error as an {@linkcode UpstreamError}: `connect` for the codes above,
 * `protocol` for an HTTP parser error (`HPE_*`), `reset` for the rest (the request may have
 * been sent).
 */
export function nodeFailure(error: unknown, origin: Origin): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === "string") {
    const connect = CONNECT_CODES[code];
    if (connect) {
      return new UpstreamError("connect", `${connect} (${origin.host})`, { cause: error });
    }
    if (code.startsWith("HPE_")) {
      return new UpstreamError("protocol", `invalid HTTP response (${message})`, {
        cause: error,
      });
    }
  }
  return new UpstreamError("reset", `connection broken (${code ?? message})`, { cause: error });
}

/** The per-try timeout's error, as `AbortSignal.timeout` makes it. */
export function timeoutError(timeoutMs: number | undefined): DOMException {
  return new DOMException(`no response within ${timeoutMs}ms`, "TimeoutError");
}
