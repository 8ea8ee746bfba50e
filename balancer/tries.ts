/**
 * One try of a request at one backend, for the loop in `balancer.ts`: sending it through the
 * transport, and acting on what it meant (`outcomes.ts` decides that): the try counted in
 * flight and ended, the backend's failure counted (an ejection reported) or excused, the try
 * added to the request's record. Made once per `Balancer`.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { TryFailure } from "../backends/health.ts";
import { authorityOf, type FieldList } from "../lib/headers.ts";
import type { Clock } from "../lib/time.ts";
import type { Transport, UpstreamError } from "../transports/transport.ts";
import type { Exchange } from "./exchange.ts";
import type { BalancerOptions } from "./options.ts";
import { judgeAnswer, judgeFailure, type TryFailureKind, type Verdict } from "./outcomes.ts";
import { pathAndQuery } from "./refusals.ts";
import { stripPath } from "./routes.ts";

/** What {@linkcode Tries} needs from its balancer. */
export interface TryParts {
  readonly options: BalancerOptions;
  readonly transport: Transport;
  readonly clock: Clock;
  /** The path prefix (without its trailing `/`) removed from forwarded paths (a route's). */
  readonly stripPrefix?: string;
  /** Called when a failed try takes a backend out of rotation (an ejection). */
  readonly onEject?: (backend: Backend) => void;
  /** Whether someone reads the request's record: a successful try is recorded only then. */
  readonly observed: boolean;
}

/** Sends tries and keeps their books. */
export class Tries {
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  /** `bodyIdleTimeoutMs`, or `undefined` when 0 (off). */
  readonly #bodyIdleTimeoutMs: number | undefined;
  /** `upstreamHost: client`: the client's Host goes upstream in place of the backend's. */
  readonly #clientHost: boolean;
  readonly #stripPrefix: string | undefined;
  readonly #onEject: ((backend: Backend) => void) | undefined;
  readonly #observed: boolean;

  constructor(parts: TryParts) {
    const options = parts.options;
    this.#transport = parts.transport;
    this.#clock = parts.clock;
    this.#timeoutMs = options.timeoutMs;
    this.#bodyIdleTimeoutMs = options.bodyIdleTimeoutMs || undefined;
    this.#clientHost = options.upstreamHost === "client";
    this.#stripPrefix = parts.stripPrefix;
    this.#onEject = parts.onEject;
    this.#observed = parts.observed;
  }

  /**
   * Sends one try to `backend`. The try counts in flight from here until its answer is sent
   * (see `releaseWhenSent`), or until it fails (see {@linkcode Tries.judgeFailure}).
   */
  send(exchange: Exchange, backend: Backend, fields: FieldList): Promise<Response> {
    exchange.backend = backend;
    const tryStartMs = exchange.tryStartMs = this.#clock();
    const tryNumber = ++exchange.tryCount;
    const request = exchange.request;
    backend.startTry();
    return this.#transport.send({
      baseUrl: backend.url,
      path: this.target(request.url),
      method: request.method,
      // The client's Host, sent upstream in place of the backend's (`upstreamHost: client`);
      // under HTTP/2 the URL's authority, as `:authority` has no Host field.
      host: this.#clientHost ? request.headers.get("host") ?? authorityOf(request.url) : undefined,
      headers: fields,
      body: exchange.body,
      signal: exchange.signal,
      timeoutMs: this.#timeoutMs,
      bodyIdleTimeoutMs: this.#bodyIdleTimeoutMs,
      // A body the backend cuts or leaves idle after its head went to the client: the
      // client's response ends abnormally (the stream errors) and the backend is blamed,
      // here only (`Deno.serve`'s onError sees the same error and stays quiet about it).
      // Not twice for a 5xx, counted when it arrived; not for a client that left.
      timeline: exchange.timeline,
      onBodyError: (error: UpstreamError) => {
        if (exchange.countedAnswer === tryNumber || error.kind === "client-gone") return;
        this.markFailed(backend, error.kind, error.message, tryStartMs);
      },
    });
  }

  /** The path and query sent upstream: the request's, without a route's stripped prefix. */
  target(url: string): string {
    const target = pathAndQuery(url);
    return this.#stripPrefix === undefined ? target : stripPath(target, this.#stripPrefix);
  }

  /** The verdict on a try that got no answer, acted on: the try ends, its backend is blamed or excused. */
  judgeFailure(exchange: Exchange, error: unknown): Verdict {
    const backend = exchange.backend;
    backend.endTry();
    const verdict = judgeFailure(error, exchange);
    if (verdict.blame === "counted") {
      this.markFailed(backend, verdict.kind as TryFailure, verdict.detail, exchange.tryStartMs);
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
  judgeAnswer(exchange: Exchange, response: Response): Verdict | undefined {
    const verdict = judgeAnswer(response.status, exchange.replay);
    const backend = exchange.backend;
    if (verdict === undefined) {
      const nowMs = this.#clock();
      backend.recordSuccess(nowMs, nowMs - exchange.tryStartMs);
      // Only observers read a successful try's record: no allocation without one.
      if (this.#observed) exchange.record("ok", response.status, undefined, this.#clock());
      return undefined;
    }
    exchange.countedAnswer = exchange.tryCount;
    this.markFailed(backend, "5xx", `status ${response.status}`, exchange.tryStartMs);
    exchange.record("status", response.status, undefined, this.#clock());
    return verdict;
  }

  /** Counts a failed try against `backend`; an ejection it causes is reported. */
  markFailed(backend: Backend, kind: TryFailure, detail: string, startMs: number): void {
    const nowMs = this.#clock();
    // A failure's cost for latency-aware policies is at least the per-try timeout.
    const penaltyMs = this.#timeoutMs;
    if (backend.recordFailure(kind, detail, nowMs, nowMs - startMs, penaltyMs)) {
      this.#onEject?.(backend);
    }
  }
}
