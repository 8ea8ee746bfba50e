/**
 * The balancer as a plain `(Request, info) => Response` handler: choose a backend, send the
 * try, move on when it fails and moving on is safe, and explain the outcome.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import {
  declaredTooLarge,
  prepareBody,
  type PreparedBody,
  StreamedBody,
  TOO_LARGE,
  UNREADABLE,
} from "./body.ts";
import type { Clock } from "../lib/time.ts";
import {
  classifyFailure,
  type Failure,
  failureStatus,
  maybeSent,
  OVERLOAD_RETRY_AFTER_S,
  reusedConnectionExcuse,
  timeoutExcuse,
} from "./outcomes.ts";
import {
  type FieldList,
  IDEMPOTENCY_KEY,
  isIdempotentMethod,
  upstreamHeaders,
} from "../lib/headers.ts";
import type { BalancerOptions } from "./options.ts";
import type { TryFailure } from "../backends/health.ts";
import type { LagMonitor } from "./overload.ts";
import { leastRecentlyFailed, type Policy } from "../policies/policy.ts";
import type { Transport, UpstreamError } from "../transports/transport.ts";

/** One try of a request, as reported to observers and in error bodies. */
export interface TryRecord {
  readonly backend: string;
  /** `ok`, the failure kind, or `status` for a 5xx answer. */
  readonly outcome: "ok" | "status" | Failure["kind"];
  readonly status?: number;
  readonly error?: string;
  readonly durationMs: number;
}

/** A finished request, for access logs and metrics. */
export interface RequestRecord {
  readonly startMs: number;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** The backend whose answer the client got, if any. */
  readonly backend?: string;
  readonly tries: readonly TryRecord[];
  readonly durationMs: number;
}

/** What the balancer needs, all injected. */
export interface BalancerParts {
  readonly options: BalancerOptions;
  readonly backends: readonly Backend[];
  readonly policy: Policy;
  readonly transport: Transport;
  readonly clock: Clock;
  /** Called once per finished request; leave unset to skip the bookkeeping. */
  readonly onRequest?: (record: RequestRecord) => void;
  /** Called when a failed try takes a backend out of rotation (an ejection). */
  readonly onEject?: (backend: Backend) => void;
  /** The process's event-loop lag; unset, no timeout is ever taken for overload. */
  readonly lag?: Pick<LagMonitor, "lagMs">;
}

const NO_TRIES: readonly Backend[] = [];

/** Which backend's answer the client got, for the request record (only when one is kept). */
interface Answered {
  backend?: string;
}

/** Routes requests to backends. */
export class Balancer {
  readonly options: BalancerOptions;
  readonly backends: readonly Backend[];
  readonly #policy: Policy;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #onRequest?: (record: RequestRecord) => void;
  readonly #onEject?: (backend: Backend) => void;
  readonly #trusted: ReadonlySet<string>;
  readonly #lag?: Pick<LagMonitor, "lagMs">;
  /** The switches of `options`, read once per request each. */
  readonly #clientHost: boolean;
  readonly #rewriteLocation: boolean;
  readonly #exposeBackend: boolean;
  readonly #errorDetails: boolean;

  constructor(parts: BalancerParts) {
    this.options = parts.options;
    this.backends = parts.backends;
    this.#policy = parts.policy;
    this.#transport = parts.transport;
    this.#clock = parts.clock;
    this.#onRequest = parts.onRequest;
    this.#onEject = parts.onEject;
    this.#trusted = new Set(parts.options.trustedProxies);
    this.#lag = parts.lag;
    this.#clientHost = parts.options.upstreamHost === "client";
    this.#rewriteLocation = parts.options.rewriteLocation;
    this.#exposeBackend = parts.options.exposeBackend;
    this.#errorDetails = parts.options.errorDetails;
  }

  /** The selection policy's name, for the status document. */
  get policyName(): string {
    return this.#policy.name;
  }

  /** The request handler for `Deno.serve`. */
  handle = async (request: Request, info: Deno.ServeHandlerInfo): Promise<Response> => {
    const startMs = this.#clock();
    const tries: TryRecord[] = [];
    const options = this.options;
    const peer = (info.remoteAddr as Deno.NetAddr).hostname;
    const client = { peer, trusted: this.#trusted.has(peer) };
    // Refusals come first: a request over a limit reaches no backend, nor the policy.
    const headers = upstreamHeaders(request.headers, client, options.maxHeaderBytes);
    const length = request.headers.get("content-length");
    // The answering backend is written here only when an observer will read it.
    const answered: Answered | undefined = this.#onRequest ? {} : undefined;
    let response: Response;
    if (headers === undefined) {
      response = tooLarge(431, "request header fields", options.maxHeaderBytes);
    } else if (declaredTooLarge(length, options)) {
      response = tooLarge(413, "request body", options.maxBodyBytes);
    } else {
      const first = this.#pick(startMs, NO_TRIES);
      response = first === undefined
        ? this.#allEjected(startMs)
        : await this.#forward(request, info, headers, length, first, tries, answered);
    }
    if (this.#onRequest) {
      this.#onRequest({
        startMs,
        method: request.method,
        path: pathAndQuery(request.url),
        status: response.status,
        backend: answered!.backend,
        tries,
        durationMs: this.#clock() - startMs,
      });
    }
    return response;
  };

  async #forward(
    request: Request,
    info: Deno.ServeHandlerInfo,
    headers: FieldList,
    length: string | null,
    first: Backend,
    tries: TryRecord[],
    answered: Answered | undefined,
  ): Promise<Response> {
    const body = await prepareBody(request, length, this.options);
    if (body === TOO_LARGE) return tooLarge(413, "request body", this.options.maxBodyBytes);
    if (body === UNREADABLE) return unreadableBody(request.signal);
    const path = pathAndQuery(request.url);
    const replayAfterSend = canReplayAfterSend(request, body, this.options);
    const tried: Backend[] = [];
    let lastFailure: Failure | undefined;
    let lastAnswer: Response | undefined;
    let lastAnswerFrom: Backend = first;
    let backend: Backend | undefined = first;
    // The client's Host, sent upstream in place of the backend's (`upstreamHost: client`).
    const host = this.#clientHost ? request.headers.get("host") ?? undefined : undefined;

    while (backend !== undefined) {
      tried.push(backend);
      const tryStart = this.#clock();
      const current = backend;
      // Set once the try has been counted as failed (a 5xx), so its body cannot count again.
      let counted = false;
      backend.inFlight++;
      backend.requests++;
      let response: Response;
      try {
        response = await this.#transport.send({
          baseUrl: backend.url,
          path,
          method: request.method,
          host,
          headers,
          body,
          signal: request.signal,
          timeoutMs: this.options.timeoutMs,
          bodyIdleTimeoutMs: this.options.bodyIdleTimeoutMs || undefined, // 0: off
          // A body the backend cuts or leaves idle after its head went to the client: the
          // client's response ends abnormally (the stream errors), and the backend is blamed.
          onBodyError: (error: UpstreamError) => {
            if (counted || error.kind === "client-gone") return;
            this.#markFailed(current, error.kind, error.message, tryStart);
          },
        });
      } catch (error) {
        backend.inFlight--;
        // The client's body was refused on its way (too large, or its client went quiet):
        // the client's doing, not the backend's.
        if (body instanceof StreamedBody && body.refusal !== undefined) {
          const refusal = body.refusal;
          if (refusal === "unreadable") return unreadableBody(request.signal);
          return refusal === "idle"
            ? bodyTimeout(this.options.bodyIdleTimeoutMs)
            : tooLarge(413, "request body", this.options.maxBodyBytes);
        }
        const failure = classifyFailure(
          error,
          request.signal,
          this.options.timeoutMs,
          this.#lag?.lagMs(),
        );
        if (failure.kind === "client-gone") return clientGone();
        if (failure.kind === "overload") {
          // The balancer's own lag, not the backend's: not counted, not retried (failure.ts).
          tries.push(this.#tried(backend, failure.kind, undefined, failure.detail, tryStart));
          return overloaded(failure, tries, this.#errorDetails);
        }
        const excuse = timeoutExcuse(failure.kind, backend.answeredSince(tryStart)) ??
          reusedConnectionExcuse(error);
        const detail = excuse ? `${failure.detail} (${excuse})` : failure.detail;
        if (excuse) backend.recordExcusedFailure(detail, this.#clock());
        else this.#markFailed(backend, failure.kind, failure.detail, tryStart);
        tries.push(this.#tried(backend, failure.kind, undefined, detail, tryStart));
        lastFailure = failure;
        backend = maybeSent(failure.kind) && !replayAfterSend ? undefined : this.#next(tried, body);
        continue;
      }
      // The try stays in flight until its body is sent (see `releaseWhenSent`).
      if (response.status < 500) {
        const nowMs = this.#clock();
        backend.recordSuccess(nowMs, nowMs - tryStart);
        // Only observers read a successful try's record: no allocation without one.
        if (this.#onRequest) {
          tries.push(this.#tried(backend, "ok", response.status, undefined, tryStart));
        }
        return releaseWhenSent(this.#answer(response, backend, request, answered), backend, info);
      }
      counted = true;
      this.#markFailed(backend, "5xx", `status ${response.status}`, tryStart);
      tries.push(this.#tried(backend, "status", response.status, undefined, tryStart));
      const next = replayAfterSend ? this.#next(tried, body) : undefined;
      if (next === undefined) {
        return releaseWhenSent(this.#answer(response, backend, request, answered), backend, info);
      }
      // Keep this answer in case every later try fails without one: a real 5xx beats a
      // made-up 502. Its body is small in practice; it is read under the same timeout.
      lastAnswerFrom = backend;
      lastAnswer = await keepAnswer(
        response,
        this.options.replayLimitBytes,
        AbortSignal.any([request.signal, AbortSignal.timeout(this.options.timeoutMs)]),
      );
      backend.inFlight--;
      backend = next;
    }
    if (lastAnswer) return this.#answer(lastAnswer, lastAnswerFrom, request, answered);
    return failureResponse(lastFailure!, tries, this.#errorDetails);
  }

  /**
   * A backend's response as the client gets it: the same object, its headers changed in
   * place (the transport has already dropped hop-by-hop fields): `x-app-url` naming the
   * backend (`exposeBackend`), and `Location`/`Content-Location` that point at the
   * backend's own URL rewritten to the client's (`rewriteLocation`).
   */
  #answer(
    response: Response,
    backend: Backend,
    request: Request,
    answered: Answered | undefined,
  ): Response {
    if (answered !== undefined) answered.backend = backend.url;
    const headers = response.headers;
    if (this.#exposeBackend) headers.set("x-app-url", backend.url);
    if (this.#rewriteLocation) {
      const location = headers.get("location");
      if (location !== null) rewriteToClient(headers, "location", location, backend, request);
      const content = headers.get("content-location");
      if (content !== null) rewriteToClient(headers, "content-location", content, backend, request);
    }
    return response;
  }

  #next(tried: readonly Backend[], body: PreparedBody): Backend | undefined {
    // A one-shot stream may already be partly sent: never send it twice.
    if (body instanceof ReadableStream) return undefined;
    return this.#pick(this.#clock(), tried);
  }

  /**
   * The policy's choice; when no backend is available, the panic setting decides: nothing
   * (`fail-fast`, a 503) or the out-of-rotation backend whose failure is oldest. Either way
   * a request tries each backend at most once, so it can never spin.
   */
  #pick(nowMs: number, tried: readonly Backend[]): Backend | undefined {
    const chosen = this.#policy.pick(this.backends, nowMs, tried);
    if (chosen !== undefined || this.options.panic !== "least-recently-failed") return chosen;
    return leastRecentlyFailed(this.backends, tried);
  }

  #tried(
    backend: Backend,
    outcome: TryRecord["outcome"],
    status: number | undefined,
    error: string | undefined,
    startMs: number,
  ): TryRecord {
    return { backend: backend.url, outcome, status, error, durationMs: this.#clock() - startMs };
  }

  #markFailed(backend: Backend, kind: TryFailure, detail: string, startMs: number): void {
    const nowMs = this.#clock();
    // A failure's cost for latency-aware policies is at least the per-try timeout.
    const penaltyMs = this.options.timeoutMs;
    if (backend.recordFailure(kind, detail, nowMs, nowMs - startMs, penaltyMs)) {
      this.#onEject?.(backend);
    }
  }

  /** Every backend is out of rotation: answer at once with when to come back. */
  #allEjected(nowMs: number): Response {
    let soonest = Infinity;
    for (const backend of this.backends) {
      soonest = Math.min(soonest, backend.health.expectedBackMs(nowMs));
    }
    const waitS = Number.isFinite(soonest) ? Math.max(1, Math.ceil((soonest - nowMs) / 1000)) : 1;
    return Response.json(
      { error: "no backend available: every backend is marked failed", retryAfterSeconds: waitS },
      { status: 503, headers: { "retry-after": String(waitS) } },
    );
  }
}

function canReplayAfterSend(
  request: Request,
  body: PreparedBody,
  options: BalancerOptions,
): boolean {
  if (body instanceof ReadableStream) return false;
  return options.retryNonIdempotent || isIdempotentMethod(request.method) ||
    request.headers.has(IDEMPOTENCY_KEY);
}

/** The path and query of a request URL, e.g. `/a?b=1`. Never the client's host. */
export function pathAndQuery(url: string): string {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  return slash === -1 ? "/" : url.slice(slash);
}

/**
 * Keeps the try counted in flight until the response body has been sent, or the client
 * left, or the body failed: `info.completed` settles in all three cases. One promise
 * reaction with a handler bound once per backend, instead of a stream wrapped around every
 * body. Outside `Deno.serve` (no `completed`), the try ends with its headers.
 */
function releaseWhenSent(
  response: Response,
  backend: Backend,
  info: Deno.ServeHandlerInfo,
): Response {
  const completed = info.completed as Promise<void> | undefined;
  if (completed === undefined) backend.release();
  else completed.then(backend.release, backend.release);
  return response;
}

/**
 * Rewrites the field `name`, whose value is `value`, when it points at `backend`'s own base
 * URL: that prefix becomes the scheme and host the client used (from the request URL, which
 * `Deno.serve` builds from the client's `Host`), as nginx's `proxy_redirect default`. One
 * string comparison with a prefix kept per backend; nothing is parsed unless it matches.
 */
function rewriteToClient(
  headers: Headers,
  name: string,
  value: string,
  backend: Backend,
  request: Request,
): void {
  const base = backend.url;
  if (!value.startsWith(base)) return;
  // Only the whole base: `http://b:8001` must not match `http://b:80012/...`.
  const next = value.charCodeAt(base.length);
  // end, "/", "?", "#"
  if (!(Number.isNaN(next) || next === 47 || next === 63 || next === 35)) return;
  const url = request.url;
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  const origin = slash === -1 ? url : url.slice(0, slash);
  const rest = value.slice(base.length);
  headers.set(name, origin + (rest === "" || rest.charCodeAt(0) !== 47 ? `/${rest}` : rest));
}

async function keepAnswer(
  response: Response,
  limit: number,
  signal: AbortSignal,
): Promise<Response | undefined> {
  const length = Number(response.headers.get("content-length") ?? 0);
  if (response.body === null || length > limit) {
    await response.body?.cancel();
    return undefined;
  }
  // A hanging body must not hold the request: the signal cancels the read.
  const reader = response.body.getReader();
  const stop = () => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  try {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel();
        return undefined;
      }
      chunks.push(value);
    }
    if (signal.aborted) return undefined;
    return new Response(new Blob(chunks as BlobPart[]), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  } catch {
    return undefined;
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

/**
 * 502 or 504: no backend answered. With `details`, the body lists every try (backend
 * addresses and errors); without, it says what happened in words only.
 */
function failureResponse(
  failure: Failure,
  tries: readonly TryRecord[],
  details: boolean,
): Response {
  const status = failureStatus(failure.kind);
  const error = status === 504 ? "upstream timed out" : "upstream unreachable";
  return Response.json(details ? { error, tried: tries } : { error }, { status });
}

/**
 * 503: the balancer itself is too busy; `Retry-After` asks the client to back off. The
 * detail is about the balancer's event loop; the tries name backends, so only with `details`.
 */
function overloaded(failure: Failure, tries: readonly TryRecord[], details: boolean): Response {
  return Response.json(
    details
      ? { error: "balancer overloaded", detail: failure.detail, tried: tries }
      : { error: "balancer overloaded", detail: failure.detail },
    { status: 503, headers: { "retry-after": String(OVERLOAD_RETRY_AFTER_S) } },
  );
}

/** 413 or 431: the request is over one of the size limits; no backend saw it. */
function tooLarge(status: 413 | 431, what: string, limitBytes: number): Response {
  return Response.json(
    { error: `${what} larger than ${limitBytes} bytes`, limitBytes },
    { status },
  );
}

/** 408: the client stopped sending its (streamed) body. */
function bodyTimeout(idleMs: number): Response {
  return Response.json({ error: `request body idle for ${idleMs}ms` }, { status: 408 });
}

/**
 * 400: the client's body could not be read (malformed chunked coding, or the connection
 * ended before the declared length); 499 when the client is known to be gone. Deno.serve
 * usually closes the connection at the malformed bytes, so the client rarely gets to read
 * this answer; it is what the access log records.
 */
function unreadableBody(signal: AbortSignal): Response {
  if (signal.aborted) return clientGone();
  return Response.json(
    {
      error: "request body could not be read: malformed chunked coding or cut short; " +
        "send a well-formed body",
    },
    { status: 400 },
  );
}

function clientGone(): Response {
  return new Response(null, { status: 499 });
}
