/**
 * One request on its way through the balancer, as {@linkcode Exchange}: the state every
 * step of `Balancer.handle` reads and writes, in place of parameters.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { PreparedBody } from "./body.ts";
import type { Clock } from "../lib/time.ts";
import type { ClientInfo } from "../lib/headers.ts";
import { RequestIds } from "../lib/request_id.ts";
import type { PhaseMarks, Timeline } from "../lib/timeline.ts";
import type { Slot } from "./admission.ts";
import type { FailedTry, FailureContext, PickWhy, Replay, TryRecord, Verdict } from "./outcomes.ts";
import type { BalancerOptions } from "./options.ts";
import type { LagMonitor } from "./overload.ts";
import { pathAndQuery, type RefusalLimits } from "./refusals.ts";

/** A finished request, for access logs and metrics: every answer, refusals included. */
export interface RequestRecord {
  readonly startMs: number;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** The backend whose answer the client got, if any. */
  readonly backend?: string;
  readonly tries: readonly TryRecord[];
  readonly durationMs: number;
  /** The `x-request-id` the backend and the client saw. */
  readonly requestId: string;
  /** The client's address (the TCP peer). */
  readonly client: string;
  /** The request body's declared length (`content-length`); `null` when not declared. */
  readonly bytesIn: number | null;
  readonly userAgent: string | null;
  /** Set when the admission gate answered 503 after a wait (`maxInFlight`). */
  readonly admissionRejected?: boolean;
  /** When each phase ended, ms since the request arrived (the `timeline` setting). */
  readonly phases?: PhaseMarks;
  /** The pool that served it (`default` for the top-level backends; absent reads the same). */
  readonly pool?: string;
}

const NO_RECORDS: readonly TryRecord[] = [];

/** What every request of one configuration shares, made once per {@linkcode Balancer}. */
export interface Shared {
  readonly clock: Clock;
  /** Peers whose `x-forwarded-*` fields are kept. */
  readonly trusted: ReadonlySet<string>;
  /** The listener's scheme: `https` when it terminates TLS. */
  readonly proto: "http" | "https";
  readonly timeoutMs: number;
  readonly limits: RefusalLimits;
  readonly errorDetails: boolean;
  readonly lagMs: () => number;
  readonly requestIds: RequestIds;
  readonly backends: readonly Backend[];
  /** The pool's name, for records. */
  readonly pool: string;
}

/** The part of a balancer's configuration every request reads, made once per balancer. */
export function shareAmongRequests(parts: {
  readonly options: BalancerOptions;
  readonly backends: readonly Backend[];
  readonly clock: Clock;
  readonly hostlessOrigin?: string;
  readonly tls?: boolean;
  readonly lag?: Pick<LagMonitor, "lagMs">;
  readonly pool?: string;
}): Shared {
  const { options, lag } = parts;
  return {
    clock: parts.clock,
    trusted: new Set(options.trustedProxies),
    proto: parts.tls ? "https" : "http",
    timeoutMs: options.timeoutMs,
    limits: {
      hostlessOrigin: parts.hostlessOrigin,
      maxTargetBytes: options.maxTargetBytes,
      maxHeaderBytes: options.maxHeaderBytes,
      maxBodyBytes: options.maxBodyBytes,
      bodyIdleTimeoutMs: options.bodyIdleTimeoutMs,
      health: options.healthOnListener
        ? { backends: parts.backends, clock: parts.clock }
        : undefined,
    },
    errorDetails: options.errorDetails,
    lagMs: lag === undefined ? () => 0 : () => lag.lagMs(),
    requestIds: new RequestIds(),
    backends: parts.backends,
    pool: parts.pool ?? "default",
  };
}

/**
 * One request on its way through the balancer: what every step needs, so that no step takes
 * a list of parameters. It is also the client's description for `upstreamHeaders`, and the
 * failed try `outcomes.ts` judges. Its lists are made only when something goes into them: a
 * request answered by its first backend, with nobody observing, makes none.
 */
export class Exchange implements ClientInfo, FailedTry, FailureContext, Slot {
  readonly startMs: number;
  readonly peer: string;
  readonly trusted: boolean;
  readonly proto: "http" | "https";
  readonly signal: AbortSignal;
  /** Sent upstream and to the client as `x-request-id`. */
  readonly requestId: string;
  body: PreparedBody = null;
  replay: Replay = "never";
  /** The backend of the current try, and when that try started. */
  backend!: Backend;
  tryStartMs = 0;
  /** Tries sent so far; the number of the one whose 5xx answer was counted last. */
  tryCount = 0;
  countedAnswer = 0;
  /** Backends tried before the current one, for the policy's next pick. */
  tried: Backend[] | undefined;
  /** Every try so far, when observed or failed. */
  tries: TryRecord[] | undefined;
  /** The last failed try's verdict; the last 5xx answer kept in case nothing better comes. */
  lastVerdict: Verdict | undefined;
  kept: Response | undefined;
  keptFrom: Backend | undefined;
  /** Which backend's answer the client got. */
  answeredBy: string | undefined;
  /** Why the current try's backend was picked, when the balancer explains picks. */
  why: PickWhy | undefined;
  /** The admission gate answered 503 after a wait (see `Balancer.#admitted`). */
  admissionRejected = false;
  /** Its admission slot (`admission.ts`): when admitted, and whether it still counts. */
  admittedMs = 0;
  holdsSlot = false;
  /** The request's phase marks, when the `timeline` setting is on. */
  timeline: Timeline | undefined = undefined;
  /** The backend stickiness chose for the first try (`sticky.ts`), when it chose one. */
  sticky: Backend | undefined;

  constructor(
    readonly request: Request,
    readonly info: Deno.ServeHandlerInfo,
    readonly shared: Shared,
  ) {
    this.startMs = shared.clock();
    this.peer = (info.remoteAddr as Deno.NetAddr).hostname;
    this.trusted = shared.trusted.has(this.peer);
    this.proto = shared.proto;
    this.signal = request.signal;
    this.requestId = shared.requestIds.of(request.headers.get("x-request-id"));
  }

  /** For `upstreamHeaders`: the authority of an HTTP/2 request is only in its URL. */
  get url(): string {
    return this.request.url;
  }
  get timeoutMs(): number {
    return this.shared.timeoutMs;
  }
  get limits(): RefusalLimits {
    return this.shared.limits;
  }
  get errorDetails(): boolean {
    return this.shared.errorDetails;
  }
  lagMs(): number {
    return this.shared.lagMs();
  }
  othersAnsweredSince(startMs: number): boolean {
    for (const backend of this.shared.backends) {
      if (backend !== this.backend && backend.answeredSince(startMs)) return true;
    }
    return false;
  }

  /** The finished request, answered with `status` at `nowMs`, for observers. */
  toRecord(status: number, nowMs: number): RequestRecord {
    const request = this.request;
    return {
      startMs: this.startMs,
      method: request.method,
      path: pathAndQuery(request.url),
      status,
      backend: this.answeredBy,
      tries: this.tries ?? NO_RECORDS,
      durationMs: nowMs - this.startMs,
      requestId: this.requestId,
      client: this.peer,
      bytesIn: declaredLength(request.headers.get("content-length")),
      userAgent: request.headers.get("user-agent"),
      admissionRejected: this.admissionRejected,
      phases: this.timeline?.marks,
      pool: this.shared.pool,
    };
  }

  /** Adds the current try, ended at `nowMs`, to the request's record. */
  record(
    outcome: TryRecord["outcome"],
    status: number | undefined,
    error: string | undefined,
    nowMs: number,
  ): void {
    const durationMs = nowMs - this.tryStartMs;
    const backend = this.backend.url;
    const why = this.why;
    (this.tries ??= []).push(
      why === undefined
        ? { backend, outcome, status, error, durationMs }
        : { backend, outcome, status, error, durationMs, why },
    );
  }
}

/** A `content-length` as a number of bytes, or `null` when absent or not a length. */
function declaredLength(text: string | null): number | null {
  if (text === null || !/^\d{1,15}$/.test(text)) return null;
  return Number(text);
}
