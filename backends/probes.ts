/**
 * Active health checks: `GET <backend url><path>` on every backend, on a schedule of their
 * own, feeding each backend's {@linkcode Health} (`fall` failing probes take it out, `rise`
 * passing ones bring it back).
 *
 * One shared scheduler, not one timer loop per backend: a round starts every `intervalMs`
 * (fixed rate, re-armed when the round starts, so a slow probe does not stretch the
 * interval) and probes every backend concurrently. One timer per balancer is one handle to
 * clear on shutdown, a round gives the status document results taken at the same moment,
 * and tests drive it round by round with {@linkcode Prober.runOnce} or with fake
 * {@linkcode Timers}. A backend whose previous probe is still running is skipped that
 * round, so a backend never has two probes at once. Probes never touch the request path:
 * they only update the health state that policies read.
 *
 * @module
 */

import type { Backend } from "./backend.ts";
import { type Clock, systemTimers, type Timers } from "../lib/time.ts";
import { formatDuration } from "../lib/duration.ts";

/** Active health check settings. */
export interface ActiveHealthOptions {
  /** Path to GET on every backend, e.g. `/health`. Unset (the default) turns probes off. */
  readonly path?: string;
  /** Time between two probes of one backend, in milliseconds. Default 5000 (5 s). */
  readonly intervalMs: number;
  /** How long a probe may take, in milliseconds. Default 1000 (1 s). */
  readonly timeoutMs: number;
  /** Lowest status that passes. Default 200. */
  readonly expectStatusMin: number;
  /** Highest status that passes. Default 399. */
  readonly expectStatusMax: number;
  /** Consecutive passing probes that return a failed backend to rotation. Default 2. */
  readonly rise: number;
  /** Consecutive failing probes that take a backend out of rotation. Default 3. */
  readonly fall: number;
}

/**
 * Sends one probe and resolves with the status received; rejects when there is no answer.
 * It must consume or cancel the body, and stop when `signal` aborts.
 */
export type ProbeFn = (url: string, signal: AbortSignal) => Promise<number>;

/** A probe over `fetch` with its own keep-alive client; `close()` releases it. */
export function fetchProbe(
  caCerts: readonly string[] = [],
): { probe: ProbeFn; close(): void } {
  const client = Deno.createHttpClient({ http1: true, http2: false, caCerts: [...caCerts] });
  return {
    async probe(url, signal) {
      const response = await fetch(url, {
        signal,
        redirect: "manual",
        headers: { "user-agent": "roundabout-health-check", "accept-encoding": "identity" },
        client,
      });
      // Only the status matters; cancelling frees the connection without reading on.
      await response.body?.cancel();
      return response.status;
    },
    close: () => client.close(),
  };
}

/** What a {@linkcode Prober} works with. */
export interface ProberParts {
  readonly backends: readonly Backend[];
  /** `path` must be set. */
  readonly options: ActiveHealthOptions;
  readonly clock: Clock;
  /** How to send a probe. Default {@linkcode fetchProbe}, closed by `stop()`. */
  readonly probe?: ProbeFn;
  /** PEM CA certificates the default probe trusts for https:// backends, besides the roots. */
  readonly caCerts?: readonly string[];
  /** Timers for the schedule and the probe timeout. Default {@linkcode systemTimers}. */
  readonly timers?: Timers;
  /** Called after a probe changed a backend's state (for the event log). */
  readonly onChange?: (backend: Backend) => void;
}

/** Probes every backend on a schedule. */
export class Prober {
  readonly #backends: readonly Backend[];
  readonly #options: ActiveHealthOptions;
  readonly #path: string;
  readonly #clock: Clock;
  readonly #probe: ProbeFn;
  readonly #close: (() => void) | undefined;
  readonly #timers: Timers;
  readonly #onChange?: (backend: Backend) => void;
  /** Probes under way, by backend, with the controller that stops them. */
  readonly #running = new Map<Backend, { done: Promise<void>; controller: AbortController }>();
  #timer: number | undefined;
  #stopped = false;

  constructor(parts: ProberParts) {
    if (!parts.options.path) {
      throw new TypeError("Cannot start probes: options.active.path is not set");
    }
    this.#backends = parts.backends;
    this.#options = parts.options;
    this.#path = parts.options.path.startsWith("/") ? parts.options.path : `/${parts.options.path}`;
    this.#clock = parts.clock;
    if (parts.probe) {
      this.#probe = parts.probe;
    } else {
      const made = fetchProbe(parts.caCerts);
      this.#probe = made.probe;
      this.#close = made.close;
    }
    this.#timers = parts.timers ?? systemTimers;
    this.#onChange = parts.onChange;
  }

  /** Starts the schedule: a first round at once, then one every `intervalMs`. */
  start(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = this.#timers.setTimeout(this.#tick, 0);
  }

  /**
   * Probes every backend now (except those with a probe still running) and resolves once
   * every probe of this round is recorded. Tests call it instead of waiting for the timer.
   */
  async runOnce(): Promise<void> {
    if (this.#stopped) return;
    const round: Promise<void>[] = [];
    for (const backend of this.#backends) {
      if (this.#running.has(backend)) continue;
      const controller = new AbortController();
      const done = this.#probeOne(backend, controller).finally(() => this.#running.delete(backend));
      this.#running.set(backend, { done, controller });
      round.push(done);
    }
    await Promise.all(round);
  }

  /** Stops the schedule, aborts probes under way and waits for them; closes the client. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    const running = [...this.#running.values()];
    for (const { controller } of running) controller.abort();
    await Promise.all(running.map((r) => r.done));
    this.#close?.();
  }

  readonly #tick = (): void => {
    if (this.#stopped) return;
    this.#timer = this.#timers.setTimeout(this.#tick, this.#options.intervalMs);
    this.runOnce().catch(() => {/* #probeOne records every failure itself */});
  };

  async #probeOne(backend: Backend, controller: AbortController): Promise<void> {
    const { timeoutMs, expectStatusMin, expectStatusMax } = this.#options;
    const timer = this.#timers.setTimeout(
      () => controller.abort(new DOMException("probe timed out", "TimeoutError")),
      timeoutMs,
    );
    const startMs = this.#clock();
    let status: number | null = null;
    let error: string | null = null;
    try {
      status = await this.#probe(backend.url + this.#path, controller.signal);
    } catch (caught) {
      error = controller.signal.reason instanceof DOMException &&
          controller.signal.reason.name === "TimeoutError"
        ? `no answer within ${formatDuration(timeoutMs)}`
        : describe(caught);
    } finally {
      this.#timers.clearTimeout(timer);
    }
    // Stopping aborts probes: that says nothing about the backend.
    if (this.#stopped) return;
    const atMs = this.#clock();
    const ok = status !== null && status >= expectStatusMin && status <= expectStatusMax;
    backend.recordProbe({ ok, status, error, latencyMs: atMs - startMs, atMs });
    const detail = status === null
      ? `probe GET ${this.#path}: ${error}`
      : `probe GET ${this.#path}: status ${status}` +
        (ok ? "" : ` (expected ${expectStatusMin}-${expectStatusMax})`);
    const before = backend.health.history(atMs).at(-1);
    backend.health.recordProbe(ok, { source: "probe", detail, atMs });
    if (backend.health.history(atMs).at(-1) !== before) this.#onChange?.(backend);
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause.message : "";
  if (cause.includes("(Connect)")) return "cannot connect";
  if (cause) return `connection broken (${cause.length > 80 ? `${cause.slice(0, 77)}...` : cause})`;
  return error.message;
}
