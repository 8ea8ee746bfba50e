/**
 * Failures mapped to outcomes, in one place: which errors mean what, whether the request
 * may have reached the backend, and what the client is told when nothing better is left.
 *
 * @module
 */

import { formatDuration } from "./duration.ts";
import { type FailureKind, UpstreamError } from "./transport.ts";

/** A classified failed try. */
export interface Failure {
  readonly kind: FailureKind;
  /** Short human explanation, e.g. `connection refused`. */
  readonly detail: string;
}

/**
 * Classifies whatever a transport rejected with. `clientSignal` tells a client that left
 * apart from a per-try timeout, since both abort the same combined signal.
 */
export function classifyFailure(
  error: unknown,
  clientSignal: AbortSignal,
  timeoutMs: number,
): Failure {
  if (clientSignal.aborted) return { kind: "client-gone", detail: "client went away" };
  if (error instanceof UpstreamError) return { kind: error.kind, detail: error.message };
  if (error instanceof DOMException) {
    if (error.name === "TimeoutError") {
      return { kind: "timeout", detail: `no response within ${formatDuration(timeoutMs)}` };
    }
    if (error.name === "AbortError") return { kind: "client-gone", detail: "aborted" };
  }
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : "";
  // Deno's fetch reports every transport error as TypeError("fetch failed") and puts the
  // hyper error in `cause`: "client error (Connect)" means no connection was made.
  if (cause.includes("(Connect)")) return { kind: "connect", detail: connectDetail(cause) };
  if (cause.includes("invalid HTTP") || cause.includes("Parse")) {
    return { kind: "protocol", detail: "invalid HTTP response" };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { kind: "reset", detail: cause ? `connection broken (${shorten(cause)})` : message };
}

function connectDetail(cause: string): string {
  if (cause.includes("refused")) return "connection refused";
  if (cause.includes("dns") || cause.includes("resolve")) return "name not resolved";
  return `connect failed (${shorten(cause)})`;
}

function shorten(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** Whether the request may have reached the backend (and so may have had an effect). */
export function maybeSent(kind: FailureKind): boolean {
  return kind !== "connect";
}

/** The status a client gets when every try failed this way and no backend answered. */
export function failureStatus(kind: FailureKind): number {
  switch (kind) {
    case "timeout":
      return 504;
    case "client-gone":
      return 499;
    default:
      return 502;
  }
}
