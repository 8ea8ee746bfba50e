/**
 * The upstream transport: how one try reaches one backend. The proxy depends only on this
 * interface, so a test can answer without sockets and a faster client can replace `fetch`.
 *
 * @module
 */

import type { FieldList } from "../lib/headers.ts";
import type { Timeline } from "../lib/timeline.ts";

/** One try, as the proxy hands it to a transport. */
export interface UpstreamRequest {
  /**
   * The chosen backend's base URL as configured: scheme, authority and an optional path
   * prefix, no trailing slash (`http://127.0.0.1:8001`, `https://api.test/v2`). The same
   * string on every try to one backend, so a transport keys what it knows of the backend by
   * it instead of parsing it on every request.
   */
  readonly baseUrl: string;
  /**
   * Path and query of the client's request, starting with `/`, percent-encoded as
   * `Deno.serve` received them; the request goes to `baseUrl + path`.
   */
  readonly path: string;
  readonly method: string;
  /**
   * The `Host` to send (the client's, with `upstreamHost: client`); unset, the transport
   * sends the host and port of `baseUrl`. Not re-validated: it comes from `Deno.serve`.
   */
  readonly host?: string;
  /**
   * Header fields, already cleaned of hop-by-hop fields and extended with `x-forwarded-*`,
   * without `host` (see {@linkcode UpstreamRequest.host}). Not re-validated: they come from
   * `Deno.serve`, which checked them.
   */
  readonly headers: FieldList;
  /** Buffered bytes (replayable), a one-shot stream, or nothing. */
  readonly body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null;
  /** Fires when the client leaves (`AbortError`): everything in progress stops. */
  readonly signal: AbortSignal;
  /**
   * Per-try timeout in milliseconds: how long the backend may take to send its response
   * head, counted from the start, or for a stream body from when all of it has been
   * written (a slow upload is the client's pace, not the backend's). On expiry the
   * transport rejects with a `DOMException` named `TimeoutError`, as `AbortSignal.timeout`
   * would. Unset: no timeout.
   */
  readonly timeoutMs?: number;
  /**
   * Body idle timeout in milliseconds: once `send` resolved, the longest the backend may
   * leave the response body without new bytes. On expiry the transport ends the exchange
   * and the body stream errors with an {@linkcode UpstreamError} of kind `timeout`. Before
   * that, the longest the backend may leave a piece of a stream request body untaken:
   * `send` then rejects with an `UpstreamError` of kind `timeout`. Unset: no limit.
   */
  readonly bodyIdleTimeoutMs?: number;
  /**
   * Called at most once when the response body fails after `send` resolved: the backend
   * cut it (`reset`), went idle past `bodyIdleTimeoutMs` (`timeout`) or broke its framing
   * (`protocol`). It runs before the body stream errors with the same error, so whoever
   * reads the stream (for the client, `Deno.serve`, which then ends the client's response
   * abnormally) and the proxy's bookkeeping agree. Not called when the consumer cancels the
   * body (the client left): that is not the backend's fault.
   */
  readonly onBodyError?: (error: UpstreamError) => void;
  /**
   * Where the transport marks the phases of this try (connected, written, first byte, head,
   * body read), when the `timeline` setting is on; unset otherwise. A transport may ignore
   * it (`fetch` does).
   */
  readonly timeline?: Timeline;
}

/** What every transport is built with, from the settings. */
export interface TransportOptions {
  /** PEM CA certificates trusted for `https://` backends besides the system's roots. */
  readonly caCerts?: readonly string[];
}

/** Sends tries to backends. */
export interface Transport {
  /**
   * Sends one try and resolves with the backend's response once its headers arrived; the
   * body streams. The response's headers must be mutable (the proxy adds `x-app-url` in
   * place rather than copying them on every request) and end-to-end only: the transport
   * owns the connection to the backend, so it drops that connection's hop-by-hop fields
   * and those its Connection header names (RFC 9110 §7.6.1). Rejects with the client's
   * native error or an {@linkcode UpstreamError}; `classifyFailure` in
   * `balancer/outcomes.ts` turns either into a {@linkcode FailureKind}.
   *
   * A body that fails later (cut, idle, invalid) must make the body stream error, never
   * end cleanly, and be reported through {@linkcode UpstreamRequest.onBodyError}.
   */
  send(request: UpstreamRequest): Promise<Response>;
  /** Releases pooled connections. */
  close(): void;
}

/**
 * Why a try failed.
 * - `connect`: no connection was made; nothing reached the backend.
 * - `timeout`: the per-try timeout fired before the response headers.
 * - `reset`: the connection broke after the request was (possibly) sent.
 * - `protocol`: the backend answered something that is not valid HTTP.
 * - `client-gone`: the client went away; not the backend's fault.
 */
export type FailureKind = "connect" | "timeout" | "reset" | "protocol" | "client-gone";

/** A failure a transport has already classified. */
export class UpstreamError extends Error {
  constructor(readonly kind: FailureKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UpstreamError";
  }
}

/**
 * A reused keep-alive connection ended, the whole request written, without one byte of
 * answer. That is what a backend closing an idle keep-alive connection looks like while a
 * request was on its way (a race the pool's idle watch narrows but cannot close); it is also
 * what a backend crashing on the request looks like, and the two cannot be told apart. The
 * backend may have received the request, so a transport never sends it again itself: what
 * the balancer does with it is `reusedConnectionExcuse` in `balancer/outcomes.ts`.
 */
export class ReusedConnectionClosed extends UpstreamError {
  constructor(cause?: unknown) {
    super("reset", "reused connection closed before answering", { cause });
  }
}

/** A response body that ended before its framing said it would: the backend cut it. */
export function bodyCutError(cause?: unknown): UpstreamError {
  return new UpstreamError("reset", "connection closed before the response body ended", {
    cause,
  });
}

/** A response body that sent nothing for `idleMs` milliseconds. */
export function bodyIdleError(idleMs: number): UpstreamError {
  return new UpstreamError("timeout", `response body idle for ${idleMs}ms`);
}

/** A stream request body the backend took none of for `idleMs` milliseconds. */
export function requestBodyStalled(idleMs: number): UpstreamError {
  return new UpstreamError("timeout", `request body not taken for ${idleMs}ms`);
}
