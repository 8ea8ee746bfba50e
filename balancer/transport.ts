/**
 * The upstream transport: how one try reaches one backend. The proxy depends only on this
 * interface, so a test can answer without sockets and a faster client can replace `fetch`.
 *
 * @module
 */

/** One try, as the proxy hands it to a transport. */
export interface UpstreamRequest {
  /** Absolute URL on the chosen backend. */
  readonly url: string;
  readonly method: string;
  /** Headers already cleaned of hop-by-hop fields and extended with `x-forwarded-*`. */
  readonly headers: Headers;
  /** Buffered bytes (replayable), a one-shot stream, or nothing. */
  readonly body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null;
  /** Fires when the client leaves (`AbortError`): everything in progress stops. */
  readonly signal: AbortSignal;
  /**
   * Per-try timeout in milliseconds: how long the backend may take to send its response
   * head. On expiry the transport rejects with a `DOMException` named `TimeoutError`, as
   * `AbortSignal.timeout` would. Unset: no timeout.
   */
  readonly timeoutMs?: number;
}

/** Sends tries to backends. */
export interface Transport {
  /**
   * Sends one try and resolves with the backend's response once its headers arrived; the
   * body streams. The response's headers must be mutable: the proxy edits them in place
   * rather than copying them on every request. Rejects with the client's native error or an {@linkcode UpstreamError};
   * `classifyFailure` in `failure.ts` turns either into a {@linkcode FailureKind}.
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
