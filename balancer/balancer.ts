// Over 300 lines: the seed's loop reads top to bottom in one file; the WebSocket hook is 15 of them.
/**
 * The balancer as a plain `(Request, info) => Response` handler, the seed's loop: refuse what
 * must not be forwarded (`refusals.ts`), pick a backend, try it, decide from what the try
 * meant (`outcomes.ts`: answer, move on, or give up), answer.
 *
 * @module
 */

import { AdmissionGate, admissionGateFor, NotAdmitted } from "./admission.ts";
import type { Backend } from "../backends/backend.ts";
import { keepAnswer, releaseWhenSent, rewriteToClient } from "./answer.ts";
import { prepareBody } from "./body.ts";
import { explainPick } from "./explain.ts";
import { Exchange, type RequestRecord, shareAmongRequests, type Shared } from "./exchange.ts";
import { backgroundTimers, type Clock, type Timers } from "../lib/time.ts";
import { Timeline } from "../lib/timeline.ts";
import {
  answerFailure,
  answerNoBackend,
  judgeAnswer,
  judgeFailure,
  replayOf,
  type TryFailureKind,
  type TryRecord,
  type Verdict,
} from "./outcomes.ts";
import { authorityOf, type FieldList, upstreamHeaders } from "../lib/headers.ts";
import type { BalancerOptions } from "./options.ts";
import type { TryFailure } from "../backends/health.ts";
import type { LagMonitor } from "./overload.ts";
import { leastRecentlyFailed, type Policy } from "../policies/policy.ts";
import {
  answerAdmissionTimeout,
  answerBodyRefusal,
  clientGone,
  pathAndQuery,
  refuse,
} from "./refusals.ts";
import { stripPath } from "./routes.ts";
import type { Transport, UpstreamError } from "../transports/transport.ts";
import { bridgeWebSocket, isWebSocketUpgrade, WebSocketBridges } from "./websocket.ts";
import { createStickiness, newStickySecret, type Stickiness, type StickySpec } from "./sticky.ts";

export type { TryRecord } from "./outcomes.ts";
export type { RequestRecord } from "./exchange.ts";

/** What the balancer needs, all injected. */
export interface BalancerParts {
  readonly options: BalancerOptions;
  readonly backends: readonly Backend[];
  readonly policy: Policy;
  readonly transport: Transport;
  readonly clock: Clock;
  /**
   * The origin `Deno.serve` gives a request without authority on this listener (see
   * `hostlessOrigin` in `refusals.ts`); unset, no Host is required.
   */
  readonly hostlessOrigin?: string;
  /** Whether the listener terminates TLS: `x-forwarded-proto: https`. Default false. */
  readonly tls?: boolean;
  /** Called once per finished request; leave unset to skip the bookkeeping. */
  readonly onRequest?: (record: RequestRecord) => void;
  /** Called when a failed try takes a backend out of rotation (an ejection). */
  readonly onEject?: (backend: Backend) => void;
  /** The process's event-loop lag; unset, no timeout is ever taken for overload. */
  readonly lag?: Pick<LagMonitor, "lagMs">;
  /** Where open WebSocket bridges are kept for shutdown. Default a set of this balancer's. */
  readonly websockets?: WebSocketBridges;
  /** Timers for the admission gate (default the platform's, unref'd). */
  readonly timers?: Timers;
  /**
   * Records why each try went to its backend and which were passed over (`explain.ts`), for
   * the admin API's recent requests; needs `onRequest`. Default false: no cost per pick.
   */
  readonly explainPicks?: boolean;
  /** The pool these backends are, for records. Default `default`. */
  readonly pool?: string;
  /**
   * The admission gate, shared by every pool and route of a listener; `null` for none.
   * Unset, one of its own when `options.maxInFlight` asks for one.
   */
  readonly admission?: AdmissionGate | null;
  /** The path prefix (without its trailing `/`) removed from forwarded paths (a route's). */
  readonly stripPrefix?: string;
  /** The key of sticky cookies when `options.stickySecret` is unset. Default a new one. */
  readonly stickySecret?: string;
}

const NO_TRIES: readonly Backend[] = [];
const NO_RECORDS: readonly TryRecord[] = [];

/** Routes requests to backends. */
export class Balancer {
  readonly options: BalancerOptions;
  readonly backends: readonly Backend[];
  readonly #policy: Policy;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #onRequest?: (record: RequestRecord) => void;
  readonly #onEject?: (backend: Backend) => void;
  readonly #shared: Shared;
  readonly #websockets: WebSocketBridges;
  /** FIFO admission (`maxInFlight`); absent when off, so the request path skips it. */
  readonly admission?: AdmissionGate;
  /** The switches of `options`, read once per request each. */
  readonly #clientHost: boolean;
  readonly #rewriteLocation: boolean;
  readonly #exposeBackend: boolean;
  readonly #explainPicks: boolean;
  readonly #timeline: boolean;
  readonly #stripPrefix: string | undefined;
  readonly #parts: BalancerParts;
  /** Sticky sessions (`sticky.ts`); absent when off, so the request path skips them. */
  readonly #sticky?: Stickiness;

  constructor(parts: BalancerParts) {
    this.#parts = parts;
    const options = parts.options;
    this.options = options;
    this.backends = parts.backends;
    this.#policy = parts.policy;
    this.#transport = parts.transport;
    this.#clock = parts.clock;
    this.#onRequest = parts.onRequest;
    this.#onEject = parts.onEject;
    this.#shared = shareAmongRequests(parts);
    this.#websockets = parts.websockets ?? new WebSocketBridges();
    this.#clientHost = options.upstreamHost === "client";
    this.#rewriteLocation = options.rewriteLocation;
    this.#exposeBackend = options.exposeBackend;
    this.#explainPicks = parts.explainPicks === true && parts.onRequest !== undefined;
    this.#timeline = options.timeline === true && parts.onRequest !== undefined;
    this.#stripPrefix = parts.stripPrefix;
    if (parts.admission !== undefined) this.admission = parts.admission ?? undefined;
    else if (options.maxInFlight > 0) {
      this.admission = admissionGateFor(options, parts.clock, parts.timers ?? backgroundTimers);
    }
    if (options.sticky !== undefined) {
      this.#sticky = createStickiness(options.sticky, {
        backends: parts.backends,
        secret: options.stickySecret ?? parts.stickySecret ?? newStickySecret(),
        tls: parts.tls === true,
        trustedProxies: options.trustedProxies,
      });
    }
  }

  /** The pool's name (`default` for the top level). */
  get pool(): string {
    return this.#parts.pool ?? "default";
  }

  /**
   * The same pool, policy and admission gate as seen through a route: its own per-try
   * timeout, its prefix stripped. Made once per configuration, not per request.
   */
  forRoute(route: { readonly timeoutMs?: number; readonly stripPrefix?: string }): Balancer {
    return new Balancer({
      ...this.#parts,
      options: { ...this.options, timeoutMs: route.timeoutMs ?? this.options.timeoutMs },
      stripPrefix: route.stripPrefix,
      admission: this.admission ?? null,
    });
  }

  /** The selection policy's name, for the status document. */
  get policyName(): string {
    return this.#policy.name;
  }

  /** Setting `sticky`, for the status document; `undefined` when off. */
  get sticky(): StickySpec | undefined {
    return this.options.sticky;
  }

  /** The request handler for `Deno.serve`: every answer, refusals included, is recorded. */
  handle = async (request: Request, info: Deno.ServeHandlerInfo): Promise<Response> => {
    if (this.#timeline) return this.#handleTimed(request, info);
    const exchange = new Exchange(request, info, this.#shared);
    const response = await this.#respond(exchange);
    response.headers.set("x-request-id", exchange.requestId);
    this.#onRequest?.(exchange.toRecord(response.status, this.#clock()));
    return response;
  };

  /** {@linkcode handle} with the phases timed: recorded once the answer has been sent. */
  async #handleTimed(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    const exchange = new Exchange(request, info, this.#shared);
    const timeline = exchange.timeline = new Timeline();
    const response = await this.#respond(exchange);
    response.headers.set("x-request-id", exchange.requestId);
    const record = exchange.toRecord(response.status, this.#clock());
    const sent = () => {
      timeline.mark("sent");
      this.#onRequest!(record);
    };
    const completed = info.completed as Promise<void> | undefined;
    if (completed === undefined) sent();
    else completed.then(sent, sent);
    return response;
  }

  /** Refuse what must not be forwarded, pick the first backend, forward. */
  #respond(exchange: Exchange): Response | Promise<Response> {
    const request = exchange.request;
    const fields = upstreamHeaders(request.headers, exchange, this.options.maxHeaderBytes);
    const length = request.headers.get("content-length");
    const refusal = refuse(request, fields, length, exchange.limits);
    if (refusal !== undefined) return refusal;
    const first = this.#first(exchange, exchange.startMs);
    if (first === undefined) return answerNoBackend(this.backends, exchange.startMs);
    if (this.#explainPicks) this.#explain(exchange, first, exchange.startMs, NO_TRIES);
    // The one header read for WebSocket (`websocket.ts`): plain requests go on unchanged.
    const upgrade = request.headers.get("upgrade");
    if (upgrade !== null && isWebSocketUpgrade(request, upgrade)) {
      return bridgeWebSocket(request, first, fields!, {
        timeoutMs: this.options.timeoutMs,
        target: this.#target(request.url),
        clock: this.#clock,
        bridges: this.#websockets,
        next: (tried) => this.#pick(this.#clock(), tried),
        markFailed: (backend, kind, detail, startMs) =>
          this.#markFailed(backend, kind, detail, startMs),
      });
    }
    const gate = this.admission;
    if (gate === undefined) return this.#forward(exchange, first, fields!, length);
    return this.#admitted(gate, exchange, first, fields!, length);
  }

  /**
   * Forwards within the admission gate: the slot is held until the answer's head is ready
   * (not while its body streams), and given back on every exit. A request that waited picks
   * again, as the backends' load changed meanwhile.
   */
  async #admitted(
    gate: AdmissionGate,
    exchange: Exchange,
    first: Backend,
    fields: FieldList,
    length: string | null,
  ): Promise<Response> {
    const wait = gate.enter(exchange, exchange.startMs, exchange.signal);
    if (wait !== undefined) {
      try {
        await wait;
      } catch (error) {
        if (!(error instanceof NotAdmitted) || error.reason === "client-gone") return clientGone();
        exchange.admissionRejected = true;
        return answerAdmissionTimeout(error.waitedMs);
      }
      exchange.timeline?.mark("admitted");
      const nowMs = this.#clock();
      const again = this.#first(exchange, nowMs);
      if (again === undefined) {
        gate.leave(exchange);
        return answerNoBackend(this.backends, nowMs);
      }
      first = again;
    }
    try {
      return await this.#forward(exchange, first, fields, length);
    } finally {
      gate.leave(exchange);
    }
  }

  /**
   * The seed's loop: read the body (once a backend is there to take it), then try a
   * backend, decide from what the try meant, and move on or answer.
   */
  async #forward(
    exchange: Exchange,
    first: Backend,
    fields: FieldList,
    length: string | null,
  ): Promise<Response> {
    const body = await prepareBody(exchange.request, length, this.options);
    if (typeof body === "string") return answerBodyRefusal(body, exchange.signal, exchange.limits);
    exchange.body = body;
    exchange.replay = replayOf(exchange.request, body, this.options.retryNonIdempotent);
    let backend: Backend | undefined = first;
    while (backend !== undefined) {
      let response: Response;
      try {
        response = await this.#send(exchange, backend, fields);
      } catch (error) {
        const verdict = this.#judgeFailure(exchange, error);
        if (verdict.next === "stop") return this.#giveUp(exchange, verdict);
        exchange.lastVerdict = verdict;
        backend = verdict.next === "move-on" ? this.#next(exchange) : undefined;
        continue;
      }
      const verdict = this.#judgeAnswer(exchange, response);
      if (verdict === undefined) return this.#deliver(exchange, response);
      // A 5xx: the last one goes to the client, an earlier one is kept meanwhile.
      backend = verdict.next === "move-on" ? this.#next(exchange) : undefined;
      if (backend === undefined) return this.#deliver(exchange, response);
      await this.#keep(exchange, response);
    }
    const kept = exchange.kept;
    if (kept) return this.#answer(kept, exchange.keptFrom!, exchange);
    return this.#giveUp(exchange, exchange.lastVerdict!);
  }

  /**
   * Sends one try to `backend`. The try counts in flight from here until its answer is sent
   * (see `releaseWhenSent`), or until it fails (see {@linkcode Balancer.#judgeFailure}).
   */
  #send(exchange: Exchange, backend: Backend, fields: FieldList): Promise<Response> {
    exchange.backend = backend;
    const tryStartMs = exchange.tryStartMs = this.#clock();
    const tryNumber = ++exchange.tryCount;
    const request = exchange.request;
    backend.startTry();
    return this.#transport.send({
      baseUrl: backend.url,
      path: this.#target(request.url),
      method: request.method,
      // The client's Host, sent upstream in place of the backend's (`upstreamHost: client`);
      // under HTTP/2 the URL's authority, as `:authority` has no Host field.
      host: this.#clientHost ? request.headers.get("host") ?? authorityOf(request.url) : undefined,
      headers: fields,
      body: exchange.body,
      signal: exchange.signal,
      timeoutMs: this.options.timeoutMs,
      bodyIdleTimeoutMs: this.options.bodyIdleTimeoutMs || undefined, // 0: off
      // A body the backend cuts or leaves idle after its head went to the client: the
      // client's response ends abnormally (the stream errors) and the backend is blamed,
      // here only (`Deno.serve`'s onError sees the same error and stays quiet about it).
      // Not twice for a 5xx, counted when it arrived; not for a client that left.
      timeline: exchange.timeline,
      onBodyError: (error: UpstreamError) => {
        if (exchange.countedAnswer === tryNumber || error.kind === "client-gone") return;
        this.#markFailed(backend, error.kind, error.message, tryStartMs);
      },
    });
  }

  /** The path and query sent upstream: the request's, without a route's stripped prefix. */
  #target(url: string): string {
    const target = pathAndQuery(url);
    return this.#stripPrefix === undefined ? target : stripPath(target, this.#stripPrefix);
  }

  /** The verdict on a try that got no answer, acted on: the try ends, its backend is blamed or excused. */
  #judgeFailure(exchange: Exchange, error: unknown): Verdict {
    const backend = exchange.backend;
    backend.endTry();
    const verdict = judgeFailure(error, exchange);
    if (verdict.blame === "counted") {
      this.#markFailed(backend, verdict.kind as TryFailure, verdict.detail, exchange.tryStartMs);
    } else if (verdict.blame === "excused") {
      backend.recordExcusedFailure(verdict.detail, this.#clock());
    }
    if (verdict.recorded) {
      const kind = verdict.kind as TryFailureKind;
      exchange.record(kind, undefined, verdict.detail, this.#clock());
    }
    return verdict;
  }

  /** The verdict on an answer, acted on: `undefined` (a success) or a counted 5xx. */
  #judgeAnswer(exchange: Exchange, response: Response): Verdict | undefined {
    const verdict = judgeAnswer(response.status, exchange.replay);
    const backend = exchange.backend;
    if (verdict === undefined) {
      const nowMs = this.#clock();
      backend.recordSuccess(nowMs, nowMs - exchange.tryStartMs);
      // Only observers read a successful try's record: no allocation without one.
      if (this.#onRequest) exchange.record("ok", response.status, undefined, this.#clock());
      return undefined;
    }
    exchange.countedAnswer = exchange.tryCount;
    this.#markFailed(backend, "5xx", `status ${response.status}`, exchange.tryStartMs);
    exchange.record("status", response.status, undefined, this.#clock());
    return verdict;
  }

  /** The current try's answer goes to the client; the try ends once it is sent. */
  #deliver(exchange: Exchange, response: Response): Response {
    const backend = exchange.backend;
    return releaseWhenSent(this.#answer(response, backend, exchange), backend, exchange.info);
  }

  /**
   * Keeps a 5xx answer in case every later try fails without one: a real 5xx beats a
   * made-up 502. Its body is small in practice; it is read under the same timeout.
   */
  async #keep(exchange: Exchange, response: Response): Promise<void> {
    const backend = exchange.backend;
    exchange.keptFrom = backend;
    exchange.kept = await keepAnswer(
      response,
      this.options.replayLimitBytes,
      AbortSignal.any([exchange.signal, AbortSignal.timeout(this.options.timeoutMs)]),
    );
    backend.endTry();
  }

  /** No backend's answer is left: the client gets what the verdict says. */
  #giveUp(exchange: Exchange, verdict: Verdict): Response {
    return answerFailure(verdict, exchange.tries ?? NO_RECORDS, exchange);
  }

  /**
   * A backend's response as the client gets it: the same object, its headers changed in
   * place (the transport has already dropped hop-by-hop fields): `x-app-url` naming the
   * backend (`exposeBackend`), and `Location`/`Content-Location` that point at the
   * backend's own URL rewritten to the client's (`rewriteLocation`).
   */
  #answer(response: Response, backend: Backend, exchange: Exchange): Response {
    if (this.#onRequest) exchange.answeredBy = backend.url;
    const headers = response.headers;
    if (this.#exposeBackend) headers.set("x-app-url", backend.url);
    const sticky = this.#sticky;
    if (sticky !== undefined) sticky.onAnswer(headers, backend, exchange.sticky);
    if (this.#rewriteLocation) {
      const request = exchange.request;
      const location = headers.get("location");
      if (location !== null) rewriteToClient(headers, "location", location, backend, request);
      const content = headers.get("content-location");
      if (content !== null) rewriteToClient(headers, "content-location", content, backend, request);
    }
    return response;
  }

  /** The next backend for a request that moves on, the current one now among those tried. */
  #next(exchange: Exchange): Backend | undefined {
    const tried = exchange.tried ??= [];
    tried.push(exchange.backend);
    const nowMs = this.#clock();
    const next = this.#pick(nowMs, tried);
    if (this.#explainPicks && next !== undefined) this.#explain(exchange, next, nowMs, tried);
    return next;
  }

  /** Notes why `chosen` takes the next try (only when explaining picks). */
  #explain(exchange: Exchange, chosen: Backend, nowMs: number, tried: readonly Backend[]): void {
    const last = exchange.tries?.[exchange.tries.length - 1];
    const previous = tried.length > 0 && last?.backend === tried[tried.length - 1].url
      ? last
      : undefined;
    const why = explainPick(this.#policy, this.backends, chosen, nowMs, tried, previous);
    const sticky = tried.length === 0 && chosen === exchange.sticky ? this.#sticky : undefined;
    exchange.why = sticky ? { ...why, reason: `sticky (${sticky.description})` } : why;
  }

  /** The first try's backend: the sticky one while it is available, else the policy's. */
  #first(exchange: Exchange, nowMs: number): Backend | undefined {
    const sticky = this.#sticky;
    if (sticky === undefined) return this.#pick(nowMs, NO_TRIES);
    const preferred = exchange.sticky = sticky.preferred(exchange, nowMs);
    return preferred ?? this.#pick(nowMs, NO_TRIES);
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

  #markFailed(backend: Backend, kind: TryFailure, detail: string, startMs: number): void {
    const nowMs = this.#clock();
    // A failure's cost for latency-aware policies is at least the per-try timeout.
    const penaltyMs = this.options.timeoutMs;
    if (backend.recordFailure(kind, detail, nowMs, nowMs - startMs, penaltyMs)) {
      this.#onEject?.(backend);
    }
  }
}
