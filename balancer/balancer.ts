/**
 * The balancer as a plain `(Request, info) => Response` handler, the seed's loop: refuse what
 * must not be forwarded (`refusals.ts`), pick a backend (`picker.ts`), try it (`tries.ts`),
 * decide from what the try meant (`outcomes.ts`: answer, move on, or give up), answer
 * (`answer.ts`).
 *
 * @module
 */

import { AdmissionGate, admissionGateFor, NotAdmitted } from "./admission.ts";
import type { Backend } from "../backends/backend.ts";
import { AnswerHeaders, keepAnswer, releaseWhenSent } from "./answer.ts";
import type { BalancerParts } from "./balancer_parts.ts";
import { prepareBody } from "./body.ts";
import { Exchange, type RequestRecord, shareAmongRequests, type Shared } from "./exchange.ts";
import { backgroundTimers, type Clock } from "../lib/time.ts";
import { Timeline } from "../lib/timeline.ts";
import {
  answerFailure,
  answerNoBackend,
  replayOf,
  type TryRecord,
  type Verdict,
} from "./outcomes.ts";
import { type FieldList, upstreamHeaders } from "../lib/headers.ts";
import type { BalancerOptions } from "./options.ts";
import { NO_TRIES, Picker } from "./picker.ts";
import { answerAdmissionTimeout, answerBodyRefusal, clientGone, refuse } from "./refusals.ts";
import { Tries } from "./tries.ts";
import { bridgeWebSocket, isWebSocketUpgrade, WebSocketBridges } from "./websocket.ts";
import { newStickySecret, type Stickiness, type StickySpec } from "./sticky.ts";
import { createStickiness } from "./sticky_modes.ts";

export type { BalancerParts } from "./balancer_parts.ts";
export type { TryRecord } from "./outcomes.ts";
export type { RequestRecord } from "./exchange.ts";

const NO_RECORDS: readonly TryRecord[] = [];

/** Routes requests to backends. */
export class Balancer {
  readonly options: BalancerOptions;
  readonly backends: readonly Backend[];
  readonly #clock: Clock;
  readonly #onRequest?: (record: RequestRecord) => void;
  readonly #shared: Shared;
  readonly #websockets: WebSocketBridges;
  /** FIFO admission (`maxInFlight`); absent when off, so the request path skips it. */
  readonly admission?: AdmissionGate;
  /** Whether each request's phases are timed (`timeline`, with someone observing). */
  readonly #timeline: boolean;
  readonly #parts: BalancerParts;
  readonly #picker: Picker;
  readonly #tries: Tries;
  readonly #answerHeaders: AnswerHeaders;

  constructor(parts: BalancerParts) {
    this.#parts = parts;
    const options = parts.options;
    this.options = options;
    this.backends = parts.backends;
    this.#clock = parts.clock;
    this.#onRequest = parts.onRequest;
    const observed = parts.onRequest !== undefined;
    this.#shared = shareAmongRequests(parts);
    this.#websockets = parts.websockets ?? new WebSocketBridges();
    this.#timeline = options.timeline === true && observed;
    if (parts.admission !== undefined) this.admission = parts.admission ?? undefined;
    else if (options.maxInFlight > 0) {
      this.admission = admissionGateFor(options, parts.clock, parts.timers ?? backgroundTimers);
    }
    const sticky = stickinessOf(parts);
    const explains = parts.explainPicks === true && observed;
    this.#picker = new Picker(parts.policy, parts.backends, options, sticky, explains);
    this.#tries = new Tries({ ...parts, observed });
    this.#answerHeaders = new AnswerHeaders(options, sticky, observed);
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
    return this.#picker.policyName;
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
    const picker = this.#picker;
    const first = picker.first(exchange, exchange.startMs);
    if (first === undefined) return answerNoBackend(this.backends, exchange.startMs);
    if (picker.explains) picker.explain(exchange, first, exchange.startMs, NO_TRIES);
    // The one header read for WebSocket (`websocket.ts`): plain requests go on unchanged.
    const upgrade = request.headers.get("upgrade");
    if (upgrade !== null && isWebSocketUpgrade(request, upgrade)) {
      return this.#bridge(request, first, fields!);
    }
    const gate = this.admission;
    if (gate === undefined) return this.#forward(exchange, first, fields!, length);
    return this.#admitted(gate, exchange, first, fields!, length);
  }

  /** A WebSocket upgrade, bridged to `first` or the next backend that accepts it. */
  #bridge(request: Request, first: Backend, fields: FieldList): Promise<Response> {
    const tries = this.#tries;
    return bridgeWebSocket(request, first, fields, {
      timeoutMs: this.options.timeoutMs,
      target: tries.target(request.url),
      clock: this.#clock,
      bridges: this.#websockets,
      next: (tried) => this.#picker.pick(this.#clock(), tried),
      markFailed: (backend, kind, detail, startMs) =>
        tries.markFailed(backend, kind, detail, startMs),
    });
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
      const again = this.#picker.first(exchange, nowMs);
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
        response = await this.#tries.send(exchange, backend, fields);
      } catch (error) {
        const verdict = this.#tries.judgeFailure(exchange, error);
        if (verdict.next === "stop") return this.#giveUp(exchange, verdict);
        exchange.lastVerdict = verdict;
        backend = verdict.next === "move-on" ? this.#next(exchange) : undefined;
        continue;
      }
      const verdict = this.#tries.judgeAnswer(exchange, response);
      if (verdict === undefined) return this.#deliver(exchange, response);
      // A 5xx: the last one goes to the client, an earlier one is kept meanwhile.
      backend = verdict.next === "move-on" ? this.#next(exchange) : undefined;
      if (backend === undefined) return this.#deliver(exchange, response);
      await this.#keep(exchange, response);
    }
    const kept = exchange.kept;
    if (kept) return this.#answerHeaders.apply(kept, exchange.keptFrom!, exchange);
    return this.#giveUp(exchange, exchange.lastVerdict!);
  }

  /** The next backend for a request that moves on (`Picker.next`). */
  #next(exchange: Exchange): Backend | undefined {
    return this.#picker.next(exchange, this.#clock());
  }

  /** The current try's answer goes to the client; the try ends once it is sent. */
  #deliver(exchange: Exchange, response: Response): Response {
    const backend = exchange.backend;
    const answer = this.#answerHeaders.apply(response, backend, exchange);
    return releaseWhenSent(answer, backend, exchange.info);
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
}

/** Sticky sessions (`sticky.ts`) when setting `sticky` asks for them; none otherwise. */
function stickinessOf(parts: BalancerParts): Stickiness | undefined {
  const options = parts.options;
  if (options.sticky === undefined) return undefined;
  return createStickiness(options.sticky, {
    backends: parts.backends,
    secret: options.stickySecret ?? parts.stickySecret ?? newStickySecret(),
    tls: parts.tls === true,
    trustedProxies: options.trustedProxies,
  });
}
