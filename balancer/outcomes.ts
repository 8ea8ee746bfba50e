// Over 300 lines: the meaning of every failure is kept in one file, as the one place to read it.
/**
 * What a failed try means, in one place. The balancer asks {@linkcode judgeFailure} (no
 * answer: an error) or {@linkcode judgeAnswer} (a 5xx answer) once per failed try and acts
 * on the {@linkcode Verdict}: what kind of failure it was, whether it counts against the
 * backend (or why it is excused), and whether the request may move on to another backend.
 * What the client gets when no backend's answer is left is {@linkcode answerFailure}:
 *
 * | kind | counts against the backend | moves on | client gets |
 * | --- | --- | --- | --- |
 * | `connect` | yes | always (nothing was sent) | 502 |
 * | `reset`, `protocol` | yes, unless a reused connection closed (excused) | if replayable | 502 |
 * | `timeout` | yes, unless the backend answered a newer try (excused) | if replayable | 504 |
 * | 5xx answer | yes | if replayable | the backend's answer |
 * | `overload` | no | no | 503 with `Retry-After` |
 * | `client-gone` | no | no | 499 |
 * | `refused` (the client's body) | no | no | see `answerBodyRefusal` |
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { BodyRefusal, PreparedBody } from "./body.ts";
import { StreamedBody } from "./body.ts";
import { formatDuration } from "../lib/duration.ts";
import { IDEMPOTENCY_KEY, isIdempotentMethod } from "../lib/headers.ts";
import { answerBodyRefusal, clientGone, type RefusalLimits } from "./refusals.ts";
import {
  type FailureKind,
  ReusedConnectionClosed,
  UpstreamError,
} from "../transports/transport.ts";

/** One try of a request, as reported to observers and in error bodies. */
export interface TryRecord {
  readonly backend: string;
  /** `ok`, the failure kind, or `status` for a 5xx answer. */
  readonly outcome: "ok" | "status" | TryFailureKind;
  readonly status?: number;
  readonly error?: string;
  readonly durationMs: number;
  /** Why this try went to its backend; only when the balancer explains picks. */
  readonly why?: PickWhy;
}

/** Why a try went to its backend (`explain.ts`), for the dashboard's recent requests. */
export interface PickWhy {
  /** The policy's reason, after what the request moved on from, e.g. `next in turn`. */
  readonly reason: string;
  /** The backends passed over at that pick, and why. */
  readonly skipped: readonly SkippedBackend[];
}

/** A backend a pick passed over, e.g. `failed until 12:00:03: status 500`. */
export interface SkippedBackend {
  readonly backend: string;
  readonly reason: string;
}

/**
 * The tries without their explanations: the access log and error answers stay as they
 * were whether the admin API explains picks or not. Copies only when there is one.
 */
export function withoutWhy(tries: readonly TryRecord[]): readonly TryRecord[] {
  if (!tries.some((t) => t.why !== undefined)) return tries;
  return tries.map(({ why: _, ...rest }) => rest);
}

/**
 * Where a request may go after a failed try: `any` backend whatever happened (it can be
 * sent twice), another backend only if nothing was `unsent`, or `never` (a one-shot stream
 * body, which may be partly sent already).
 */
export type Replay = "any" | "unsent" | "never";

/**
 * Whether a request may be sent again after a try that may have reached a backend: an
 * idempotent method (RFC 9110 §9.2.2), an `Idempotency-Key`, or `retryNonIdempotent`; and
 * never with a body that can be sent only once.
 */
export function replayOf(request: Request, body: PreparedBody, anyMethod: boolean): Replay {
  if (body instanceof ReadableStream) return "never";
  return anyMethod || isIdempotentMethod(request.method) || request.headers.has(IDEMPOTENCY_KEY)
    ? "any"
    : "unsent";
}

/** What one failed try means, and what the request does next. */
export interface Verdict {
  readonly kind: TryFailureKind | "5xx" | "refused";
  /** Short human explanation, e.g. `connection refused`, with the excuse if there is one. */
  readonly detail: string;
  /**
   * How the backend is told: `counted` (a failure that may eject it), `excused` (on its
   * record, never an ejection; `detail` says why), or `none` (the client's or the
   * balancer's own doing).
   */
  readonly blame: "counted" | "excused" | "none";
  /**
   * `move-on` to another backend if one is left; `give-up`: this was the last try; `stop`:
   * answer {@linkcode answerFailure} at once, whatever earlier tries left.
   */
  readonly next: "move-on" | "give-up" | "stop";
  /** Whether the try goes into the request's record (not when the client ended it). */
  readonly recorded: boolean;
  /** Set for `refused`: why the client's body was refused on its way. */
  readonly refusal?: BodyRefusal;
}

/** The failed try being judged, as the balancer keeps it. */
export interface FailedTry {
  /** The client's signal: fired, the client left. */
  readonly signal: AbortSignal;
  readonly body: PreparedBody;
  readonly replay: Replay;
  /** The backend tried, and when the try started on the balancer's clock. */
  readonly backend: Backend;
  readonly tryStartMs: number;
  readonly timeoutMs: number;
  /** The balancer's recent event-loop lag (`LagMonitor.lagMs`), 0 when not measured. */
  lagMs(): number;
  /** Whether a backend other than `backend` answered a try that started after `startMs`. */
  othersAnsweredSince(startMs: number): boolean;
}

/** The verdict on a try that ended without an answer, with `error` (see the table above). */
export function judgeFailure(error: unknown, failed: FailedTry): Verdict {
  // The client's body was refused on its way (too large, or its client went quiet): the
  // client's doing, not the backend's.
  const body = failed.body;
  if (body instanceof StreamedBody && body.refusal !== undefined) {
    return { ...NOT_A_TRY, kind: "refused", detail: body.refusal, refusal: body.refusal };
  }
  let failure = classifyFailure(error, failed.signal, failed.timeoutMs, failed.lagMs());
  if (failure.kind === "client-gone") return { ...NOT_A_TRY, ...failure };
  if (failure.kind === "overload" && slowAmidAnswers(failed)) {
    failure = {
      kind: "timeout",
      detail: `no response within ${formatDuration(failed.timeoutMs)} (the balancer lagged, ` +
        `but other backends answered newer requests meanwhile and this one none)`,
    };
  }
  if (failure.kind === "overload") {
    // The balancer's own lag, not the backend's: not counted, not retried.
    return { ...failure, blame: "none", next: "stop", recorded: true };
  }
  const next = mayMoveOn(failure.kind, failed.replay) ? "move-on" : "give-up";
  const excuse = timeoutExcuse(failure.kind, failed.backend.answeredSince(failed.tryStartMs)) ??
    reusedConnectionExcuse(error);
  if (excuse === undefined) return { ...failure, blame: "counted", next, recorded: true };
  return {
    kind: failure.kind,
    detail: `${failure.detail} (${excuse})`,
    blame: "excused",
    next,
    recorded: true,
  };
}

const NOT_A_TRY = { blame: "none", next: "stop", recorded: false } as const;

const FIVE_XX_MOVES_ON: Verdict = {
  kind: "5xx",
  detail: "a 5xx answer",
  blame: "counted",
  next: "move-on",
  recorded: true,
};
const FIVE_XX_IS_LAST: Verdict = { ...FIVE_XX_MOVES_ON, next: "give-up" };

/**
 * The verdict on an answer with `status`, or `undefined` when it is a success (below 500).
 * A 5xx is the backend's own word: it counts, and the request moves on only when it may be
 * sent twice. Constant verdicts: a success costs nothing here.
 */
export function judgeAnswer(status: number, replay: Replay): Verdict | undefined {
  if (status < 500) return undefined;
  return replay === "any" ? FIVE_XX_MOVES_ON : FIVE_XX_IS_LAST;
}

/** Whether the request may try another backend after a failure of `kind`. */
function mayMoveOn(kind: TryFailureKind, replay: Replay): boolean {
  if (replay === "never") return false;
  return replay === "any" || !maybeSent(kind);
}

/** What the answer needs besides the verdict. */
export interface FailureContext {
  readonly signal: AbortSignal;
  readonly limits: RefusalLimits;
  /** Whether error bodies list the tries (backend addresses and errors). */
  readonly errorDetails: boolean;
}

/**
 * The client's answer when `verdict` is the last word and no backend's answer is left: 502
 * or 504 (no backend answered), 503 (the balancer is overloaded), 499 (the client left), or
 * the refusal of the client's body. With `errorDetails`, the body lists every try.
 */
export function answerFailure(
  verdict: Verdict,
  tries: readonly TryRecord[],
  context: FailureContext,
): Response {
  if (verdict.refusal !== undefined) {
    return answerBodyRefusal(verdict.refusal, context.signal, context.limits);
  }
  const kind = verdict.kind;
  if (kind === "client-gone") return clientGone();
  const details = context.errorDetails;
  if (kind === "overload") {
    // The detail is about the balancer's event loop; the tries name backends.
    return Response.json(
      details
        ? { error: "balancer overloaded", detail: verdict.detail, tried: tries }
        : { error: "balancer overloaded", detail: verdict.detail },
      { status: 503, headers: { "retry-after": String(OVERLOAD_RETRY_AFTER_S) } },
    );
  }
  const status = kind === "5xx" || kind === "refused" ? 502 : failureStatus(kind);
  const error = status === 504 ? "upstream timed out" : "upstream unreachable";
  return Response.json(details ? { error, tried: withoutWhy(tries) } : { error }, { status });
}

/**
 * 503 when every backend is out of rotation: answer at once with when to come back. When
 * an operator holds every backend out, nothing says when they come back, so no
 * `Retry-After` is promised.
 */
export function answerNoBackend(backends: readonly Backend[], nowMs: number): Response {
  let soonest = Infinity;
  let held = 0;
  for (const backend of backends) {
    soonest = Math.min(soonest, backend.health.expectedBackMs(nowMs));
    if (backend.health.heldByAdmin) held++;
  }
  if (backends.length > 0 && held === backends.length) {
    return Response.json(
      { error: "no backend available: every backend is disabled or draining by an operator" },
      { status: 503 },
    );
  }
  const waitS = Number.isFinite(soonest) ? Math.max(1, Math.ceil((soonest - nowMs) / 1000)) : 1;
  const why = held > 0
    ? "every backend is marked failed or held out by an operator"
    : "every backend is marked failed";
  return Response.json(
    { error: `no backend available: ${why}`, retryAfterSeconds: waitS },
    { status: 503, headers: { "retry-after": String(waitS) } },
  );
}

/**
 * Whether an error that reaches `Deno.serve` (a response body that failed after its head
 * went out) is a backend's failure, which the balancer has already counted when the
 * transport reported it: not an internal error of the balancer.
 */
export function isBackendFailure(error: unknown): boolean {
  return error instanceof UpstreamError;
}

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
/**
 * Whether a timeout during lag is the backend's after all: lag means answers are read late,
 * but other backends' answers to newer tries were read while this backend answered none. Without
 * this, a backend slower than the timeout was never ejected while 1,000 connections kept the
 * loop late: a third of all requests waited the whole timeout and got 503 (bench/README.md,
 * "A slow backend and the gate").
 */
function slowAmidAnswers(failed: FailedTry): boolean {
  const since = failed.tryStartMs;
  return !failed.backend.answeredSince(since) && failed.othersAnsweredSince(since);
}

function timeoutExcuse(kind: TryFailureKind, answeredNewer: boolean): string | undefined {
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
 * may have been sent is ({@linkcode replayOf}), and always on a different
 * backend: the transport never sends it again to the same one.
 */
function reusedConnectionExcuse(error: unknown): string | undefined {
  if (!(error instanceof ReusedConnectionClosed)) return undefined;
  return "not held against the backend: it may have closed an idle connection as the request came";
}

/** Whether the request may have reached the backend (and so may have had an effect). */
function maybeSent(kind: TryFailureKind): boolean {
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
