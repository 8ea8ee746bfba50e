/**
 * A backend: its configuration (immutable) and the state the balancer keeps about it.
 *
 * @module
 */

import { type Cause, Health, type HealthSettings, type TryFailure } from "./health.ts";
import { Latency } from "./latency.ts";

/** How a backend is configured. */
export interface BackendConfig {
  /** Base URL, `http://host:port` with an optional path prefix and no trailing slash. */
  readonly url: string;
  /** Relative share of traffic for weighted policies, a whole number ≥ 1. Default 1. */
  readonly weight: number;
  /** Set when DNS discovery found it: the configured URL it came from (`discovery.ts`). */
  readonly from?: string;
  /**
   * Set for an SRV target: its record's priority (RFC 2782: lower values first). Targets of a
   * higher value stand by while any target of a lower value of the same name is available.
   */
  readonly priority?: number;
}

/** The last failed try, for the status document. */
export interface LastError {
  readonly detail: string;
  readonly atMs: number;
}

/** The last active probe of a backend. */
export interface ProbeRecord {
  /** Whether the status was in the expected range. */
  readonly ok: boolean;
  /** The status received, or `null` when there was no answer. */
  readonly status: number | null;
  /** Why it failed, when it did. */
  readonly error: string | null;
  readonly latencyMs: number;
  /** When it finished, milliseconds since the epoch. */
  readonly atMs: number;
}

/** A configured backend together with what the balancer has learnt about it. */
export class Backend {
  /**
   * The pool it serves in, for labels (`balancer/pools.ts` sets it; a backend moved by a
   * reload follows): `default` for the top-level backends.
   */
  pool = "default";
  /** Tries waiting on this backend, counted until their response body has been sent. */
  inFlight = 0;
  /** Tries sent to this backend. */
  requests = 0;
  /** Tries that failed (connection, timeout, invalid answer or 5xx), counted or not. */
  failures = 0;
  /** WebSocket connections open through this backend now. */
  websockets = 0;
  /** The last failed try, if any. */
  lastError: LastError | null = null;
  /** The last active probe, if probes are on; set through `recordProbe`. */
  probe: ProbeRecord | null = null;
  /** Active probes that passed, for `roundabout_probes_total`. */
  probesPassed = 0;
  /** Active probes that failed (wrong status, no answer, timeout). */
  probesFailed = 0;
  /** Short stable name derived from the URL, e.g. `127.0.0.1:8001`, for `/backends/{id}`. */
  readonly id: string;
  readonly health: Health;
  /** Response times: a peak-sensitive moving average and recent percentiles. */
  readonly latency: Latency = new Latency();
  /** When the newest try answered below 500 started, on the balancer's clock. */
  #newestAnswerStartMs = -Infinity;

  /** @param settings health settings, from `healthSettings(options)` (balancer/options.ts). */
  constructor(readonly config: BackendConfig, settings: HealthSettings) {
    this.health = new Health(settings);
    this.id = backendId(config.url);
  }

  /** Notes an active probe's result: the last one for the status, and a count by result. */
  recordProbe(record: ProbeRecord): void {
    this.probe = record;
    if (record.ok) this.probesPassed++;
    else this.probesFailed++;
  }

  /**
   * Applies a reload to a backend that stays: a new weight and new health settings, keeping
   * its health state, latency and figures.
   *
   * @throws {RangeError} if `config` is for another URL.
   */
  reconfigure(config: BackendConfig, settings: HealthSettings): void {
    if (config.url !== this.config.url) {
      throw new RangeError(
        `Cannot reconfigure backend ${this.config.url} as ${config.url}: the URL is its identity`,
      );
    }
    (this as { config: BackendConfig }).config = config;
    this.health.reconfigure(settings);
  }

  // The request path's counting: the only writers of `inFlight` and `requests`.

  /** A try is sent to this backend: one more request, one more in flight. */
  startTry(): void {
    this.inFlight++;
    this.requests++;
  }

  /**
   * A try is over: its response body was sent, the client left, or it failed. Bound once per
   * backend, so handing it to a promise costs no closure per request.
   */
  readonly endTry = (): void => {
    this.inFlight--;
  };

  /** A WebSocket through this backend opened (`balancer/websocket.ts`). */
  websocketOpened(): void {
    this.websockets++;
  }

  /** A WebSocket through this backend closed. */
  websocketClosed(): void {
    this.websockets--;
  }

  /** Base URL as configured, used in `x-app-url`. */
  get url(): string {
    return this.config.url;
  }

  /**
   * Backends of lower SRV priority from the same name (`Pool` sets it); while one of them is
   * available this one stands by. Unset for all others, so they pay one check per pick.
   */
  standbyBehind: readonly Backend[] | undefined;

  /** Whether a policy may choose this backend at `nowMs`. */
  available(nowMs: number): boolean {
    return this.health.available(nowMs) &&
      (this.standbyBehind === undefined ||
        !this.standbyBehind.some((b) => b.health.available(nowMs)));
  }

  /** Whether it stands by at `nowMs` behind an available backend of lower SRV priority. */
  standby(nowMs: number): boolean {
    return this.standbyBehind?.some((b) => b.health.available(nowMs)) ?? false;
  }

  /** Its weight at `nowMs`, scaled down during slow start. Every policy reads this. */
  effectiveWeight(nowMs: number): number {
    return this.config.weight * this.health.weightFactor(nowMs);
  }

  /** A try got an answer below 500 after `latencyMs` (time to response headers). */
  recordSuccess(nowMs: number, latencyMs: number): void {
    this.health.recordSuccess(nowMs);
    this.latency.record(nowMs, latencyMs, latencyMs);
    const startMs = nowMs - latencyMs;
    if (startMs > this.#newestAnswerStartMs) this.#newestAnswerStartMs = startMs;
  }

  /**
   * Whether a try that started after `startMs` has been answered (below 500): the backend
   * was answering while a try of that age waited (see `judgeFailure` in `balancer/outcomes.ts`).
   */
  answeredSince(startMs: number): boolean {
    return this.#newestAnswerStartMs > startMs;
  }

  /**
   * A failed try that is not held against the backend (an excuse of `judgeFailure`): counted among
   * its failures and shown as its last error, but no ejection and no latency penalty.
   */
  recordExcusedFailure(detail: string, nowMs: number): void {
    this.failures++;
    this.lastError = { detail, atMs: nowMs };
  }

  /**
   * A try failed after `durationMs`. The moving average learns `penaltyMs` for a counted
   * failure (a backend that fails fast must not look fast), the real time for a 5xx that
   * does not count, and nothing otherwise; percentiles get the real time of answers only.
   *
   * @returns whether the failure ejected the backend.
   */
  recordFailure(
    kind: TryFailure,
    detail: string,
    nowMs: number,
    durationMs: number,
    penaltyMs: number,
  ): boolean {
    this.failures++;
    this.lastError = { detail, atMs: nowMs };
    const counted = this.health.counts(kind);
    const answered = kind === "5xx" ? durationMs : undefined;
    if (counted) this.latency.record(nowMs, Math.max(penaltyMs, durationMs), answered);
    else if (answered !== undefined) this.latency.record(nowMs, durationMs, answered);
    return this.health.recordFailure({ source: "request", detail, atMs: nowMs }, kind);
  }

  /** Joins a running pool (a new address from DNS): slow start, or out until probes pass. */
  join(cause: Cause, awaitProbes: boolean): void {
    this.health.join(cause, awaitProbes);
  }

  // Operator actions (the admin API, and a reload that removes or restores a backend): the
  // only ways besides outcomes to change its health, so the history always says who did it.

  /** Stops new requests to the backend; those in flight finish. */
  drain(cause: Cause): void {
    this.health.drain(cause);
  }

  /** Takes the backend out of rotation until {@linkcode enable}. */
  disable(cause: Cause): void {
    this.health.disable(cause);
  }

  /** Returns the backend to rotation (slow start applies); a failing probe verdict stays. */
  enable(cause: Cause): void {
    this.health.enable(cause);
  }
}

/**
 * A short stable id for a backend URL: host and port, plus the path prefix with `/` as `~`,
 * e.g. `127.0.0.1:8001` or `api.internal~v2`. IPv6 brackets are dropped. Safe in a URL
 * path segment.
 */
export function backendId(url: string): string {
  const parsed = new URL(url);
  const host = parsed.host.replace(/[\[\]]/g, "");
  const path = parsed.pathname === "/" ? "" : parsed.pathname.replaceAll("/", "~");
  return host + path;
}

/**
 * Checks and normalises a backend base URL: http or https (or srv+http, srv+https with no
 * port: see discovery.ts), a host, no credentials, query or fragment, no trailing slash. Returns the URL or, when it is unusable, why.
 */
export function normaliseBackendUrl(text: string): { url: string } | { problem: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: "is not an http(s) URL such as http://127.0.0.1:8001" };
  }
  const srv = url.protocol === "srv+http:" || url.protocol === "srv+https:";
  if (url.protocol !== "http:" && url.protocol !== "https:" && !srv) {
    return { problem: "is not an http(s) URL such as http://127.0.0.1:8001" };
  }
  if (url.hostname === "") return { problem: "has no host" };
  // SRV records give the ports (discovery.ts).
  if (srv && url.port) return { problem: "must not have a port: its SRV records give them" };
  if (url.username || url.password) return { problem: "must not contain credentials" };
  if (url.search || url.hash) return { problem: "must not contain a query or fragment" };
  const path = url.pathname.replace(/\/+$/, "");
  return { url: `${url.protocol}//${url.host}${path}` };
}
