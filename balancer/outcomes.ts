/**
 * Failures mapped to outcomes, in one place: which errors mean what, whether the request
 * may have reached the backend, and what the client is told when nothing better is left.
 *
 * @module
 */

import { formatDuration } from "../lib/duration.ts";
import {
  type FailureKind,
  ReusedConnectionClosed,
  UpstreamError,
} from "../transports/transport.ts";

/**
 * A per-try timeout counts as the balancer's own overload, not the backend's slowness, when
 * the balancer's event loop ran late by at least this fraction of the per-try timeout, and
 * by at least {@linkcode OVERLOAD_MIN_LAG_MS}, during the last few seconds
 * (`LagMonitor.lagMs`): 100 ms with the default 2 s timeout. A loop that keeps up is a few
 * ms late (tens in a major garbage collection); 100 ms means every turn of the loop takes
 * that long, and the work queued behind it (reading answers, making connections) waits much
 * longer. Measured with 1,000 client connections on one core: timer lag of 160-470 ms while
 * tries waited over 2 s for their upstream connection, to a backend that answers in 1 ms.
 * Lower than the lag that alone would explain a timeout, on purpose: the loop's lag is a
 * symptom of the queueing, not its whole size.
 */
export const OVERLOAD_LAG_FRACTION = 0.05;

/**
 * The least lag that makes a timeout the balancer's overload, in milliseconds, whatever the
 * timeout: with a short per-try timeout (say 300 ms) a few tens of ms of lag are ordinary
 * jitter on a busy machine, not overload, and must not excuse a slow backend.
 */
export const OVERLOAD_MIN_LAG_MS = 100;

/** The lag, in milliseconds, from which a per-try timeout of `timeoutMs` is overload. */
export function overloadLagMs(timeoutMs: number): number {
  return Math.max(OVERLOAD_MIN_LAG_MS, OVERLOAD_LAG_FRACTION * timeoutMs);
}

/** `Retry-After` of the 503 that answers a try lost to the balancer's own overload, in s. */
export const OVERLOAD_RETRY_AFTER_S = 1;

/**
 * What a failed try was, as the balancer acts on it: a transport failure, or `overload`, a
 * per-try timeout the balancer's own lag explains (see {@linkcode OVERLOAD_LAG_FRACTION}).
 */
export type TryFailureKind = FailureKind | "overload";

/** A classified failed try. */
export interface Failure {
  readonly kind: TryFailureKind;
  /** Short human explanation, e.g. `connection refused`. */
  readonly detail: string;
}

/**
 * Classifies whatever a transport rejected with. `clientSignal` tells a client that left
 * apart from a per-try timeout, since both abort the same combined signal. `lagMs` is the
 * balancer's recent event-loop lag (`LagMonitor.lagMs`; unset: none), which turns a per-try
 * timeout into `overload`.
 *
 * What happens to an `overload` try, and why:
 * - it is not held against the backend (no ejection, no failure count): the backend most
 *   likely answered in time and the balancer read it late;
 * - the request does not move on to another backend: a retry is more work for a process
 *   that already has too much, and would time out the same way. Like nginx and Envoy's
 *   overload manager, the balancer sheds load instead:
 * - the client gets 503 with `Retry-After` ({@linkcode OVERLOAD_RETRY_AFTER_S}) and a JSON
 *   body saying the balancer is overloaded (see {@linkcode failureStatus}).
 */
export function classifyFailure(
  error: unknown,
  clientSignal: AbortSignal,
  timeoutMs: number,
  lagMs = 0,
): Failure {
  if (clientSignal.aborted) return { kind: "client-gone", detail: "client went away" };
  if (error instanceof UpstreamError) return { kind: error.kind, detail: error.message };
  if (error instanceof DOMException) {
    if (error.name === "TimeoutError") {
      const within = `no response within ${formatDuration(timeoutMs)}`;
      if (lagMs >= overloadLagMs(timeoutMs)) {
        return {
          kind: "overload",
          detail: `${within} while the balancer's event loop ran ${
            formatDuration(Math.round(lagMs))
          } late (balancer overloaded)`,
        };
      }
      return { kind: "timeout", detail: within };
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

/**
 * Why a failed try is not held against its backend, or `undefined` when it is. A per-try
 * timeout is not when the backend answered a try that started after it while it waited
 * (`answeredNewer`): the backend was answering, so this one was lost to something else –
 * in practice the balancer's own queueing under load. Measured with 1,000 client
 * connections on one core: some tries waited over 2 s for answers while the same backends
 * answered thousands of newer ones in milliseconds and the event loop was never 100 ms late
 * (so the lag rule above did not see it); a crude Deno proxy shows the same tail. Blaming
 * the backends there ejected all three and turned the load into 10 s of 503s.
 *
 * Failures are judged in the order their tries started, as a run of consecutive failures is:
 * a newer success makes an older timeout stale evidence. A backend that is slow for every
 * request (the "delayed" app) answers no newer try within the timeout and is still
 * ejected. Answers (5xx) and broken connections are the backend's own word and always count.
 * The try still fails and the request moves on, as for any timeout.
 */
export function timeoutExcuse(kind: TryFailureKind, answeredNewer: boolean): string | undefined {
  if (kind !== "timeout" || !answeredNewer) return undefined;
  return "not held against the backend: it answered a newer request meanwhile";
}

/**
 * Why a reused connection that closed without answering is not held against its backend, or
 * `undefined` for any other failure. Closing an idle keep-alive connection is a backend's
 * right (its keep-alive timeout), and a request that meets that close by a few microseconds
 * is lost to a race, not to a broken backend. A backend that crashes on requests is still
 * caught: its fresh connections fail the same way and count, and it never returns a
 * connection to the pool to be reused.
 *
 * The request may have reached the backend, so it is only replayed where any request that
 * may have been sent is (`canReplayAfterSend` in `balancer.ts`), and always on a different
 * backend: the transport never sends it again to the same one.
 */
export function reusedConnectionExcuse(error: unknown): string | undefined {
  if (!(error instanceof ReusedConnectionClosed)) return undefined;
  return "not held against the backend: it may have closed an idle connection as the request came";
}

/** Whether the request may have reached the backend (and so may have had an effect). */
export function maybeSent(kind: TryFailureKind): boolean {
  return kind !== "connect";
}

/** The status a client gets when every try failed this way and no backend answered. */
export function failureStatus(kind: TryFailureKind): number {
  switch (kind) {
    case "timeout":
      return 504;
    case "overload":
      return 503;
    case "client-gone":
      return 499;
    default:
      return 502;
  }
}
