/**
 * `balance --workers N`: N Web Workers in one process, each a complete Roundabout instance
 * (balancer, transport, probes, access log, admin API) listening on the same host and port
 * with SO_REUSEPORT, so that the kernel spreads client connections across them. This main
 * thread owns the process: signals, the config file watch, start-up errors and crashes.
 *
 * State across workers, the documented answer: nothing is shared but one constant, the key
 * of sticky cookies when none is configured (made here, so that every worker accepts the
 * cookies the others set; `balancer/sticky.ts`). Each worker has its own
 * round-robin counter (worker i starts at backend i, so the first picks spread), its own
 * passive health, latency figures, in-flight counts and active probes. Hence:
 *
 * - a dead backend is discovered by each worker separately: up to N first failures (each
 *   moved on to another backend where a retry is allowed), then each worker skips it;
 * - active probe traffic is N times the configured rate;
 * - the cyclic order holds per worker, not across the process; a keep-alive client
 *   connection stays on one worker, so one client sees one worker's order.
 *
 * nginx does the same (per-worker upstream state unless a shared `zone`); Envoy balances per
 * thread too but runs health checks centrally. Sharing state would put cross-thread
 * messages or shared memory on every request, which is the cost the workers exist to avoid.
 *
 * Reloads have one trigger, here: SIGHUP and the config file watch (one watch, one debounce)
 * are forwarded to every worker, and `POST /reload` on any worker's admin API is forwarded
 * to the others. Each worker re-reads the sources itself.
 *
 * @module
 */

import type { Settings } from "../config/model.ts";
import { ConfigError } from "../config/problems.ts";
import { watchFile } from "../config/watch.ts";
import { untilStopped } from "./lifecycle.ts";
import { UsageError } from "./usage.ts";
import { newStickySecret } from "../balancer/sticky.ts";

/** Messages from the main thread to a worker. */
export type ToWorker =
  | {
    readonly type: "start";
    readonly index: number;
    readonly count: number;
    /** The `balance` command line and environment, re-read by the worker on reloads. */
    readonly args: readonly string[];
    readonly env: Readonly<Record<string, string>>;
    /** Workers after the first: the port the first one got (when the port given is 0). */
    readonly listenPort?: number;
    /** Worker i's admin port: the configured one + i (unset: as configured). */
    readonly adminPort?: number;
    readonly isTerminal: boolean;
    /** The process's key for sticky cookies while `stickySecret` is unset: one for all. */
    readonly stickySecret: string;
  }
  | { readonly type: "reload"; readonly reason: string }
  | { readonly type: "stop"; readonly signal: string };

/** Messages from a worker to the main thread. */
export type FromWorker =
  | { readonly type: "ready"; readonly url: string; readonly port: number }
  /** Could not start (bad configuration, address in use): one line per problem, exit 2. */
  | { readonly type: "refused"; readonly problems: readonly string[] }
  | { readonly type: "reload-others"; readonly reason: string }
  | { readonly type: "stopped" };

/** What `balance` hands over when `workers` is more than 1. */
export interface WorkersPlan {
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** The settings `balance` resolved (the workers resolve them again themselves). */
  readonly settings: Settings;
  /** The config file to watch, if any. */
  readonly configPath?: string;
}

/**
 * Starts the workers (the first alone, so that a port of 0 is chosen once), runs until
 * SIGINT/SIGTERM or a worker crash, and resolves with the exit status.
 *
 * @throws {UsageError | ConfigError} when a worker cannot start: one line each, exit 2.
 */
export async function runWorkers(plan: WorkersPlan): Promise<number> {
  const count = plan.settings.workers;
  const log = (line: string) => console.error(`[balancer] ${line}`);
  checkAdminPorts(plan.settings.admin.port, count);
  const crashed = Promise.withResolvers<string>();
  const pool = new WorkerPool(plan, crashed.resolve);
  const url = await pool.start();
  log(`listening on ${url} with ${count} workers`);
  const stopForwarding = forwardReloads(pool, plan.configPath);
  const status = await Promise.race([
    untilStopped(async (signal) => {
      log(`${signal}: stopping ${count} workers`);
      await pool.stop(signal);
      log("every worker stopped");
    }).then(() => 0),
    crashed.promise.then(async (message) => {
      // The other workers may be fine and busy: let their requests finish, then exit
      // non-zero, since the process no longer serves what it was told to.
      console.error(`roundabout: ${message}; stopping the other workers`);
      await pool.stop("worker crash");
      return 1;
    }),
  ]);
  stopForwarding();
  pool.terminate();
  return status;
}

/** Worker i serves its admin API on the configured port + i: all of them must exist. */
function checkAdminPorts(adminPort: number | undefined, count: number): void {
  if (adminPort !== undefined && adminPort > 0 && adminPort + count - 1 > 65_535) {
    throw new UsageError(
      `--admin-port ${adminPort}: worker ${count - 1} would serve its admin API on port ` +
        `${adminPort + count - 1}; expected a port up to ${65_536 - count} with ${count} workers`,
    );
  }
}

/**
 * Forwards SIGHUP and changes of the config file (one watch, one debounce) to every worker
 * as a reload; returns the function that stops forwarding.
 */
function forwardReloads(pool: WorkerPool, configPath: string | undefined): () => void {
  const onHangup = () => pool.reload("SIGHUP");
  Deno.addSignalListener("SIGHUP", onHangup);
  const watch = configPath === undefined
    ? undefined
    : watchFile(configPath, () => pool.reload(`${configPath} (changed)`));
  return () => {
    Deno.removeSignalListener("SIGHUP", onHangup);
    watch?.close();
  };
}

/** The workers of one process, seen from the main thread. */
class WorkerPool {
  readonly #workers: WorkerThread[] = [];
  /** Made once, so that every worker accepts the cookies the others set. */
  readonly #stickySecret = newStickySecret();

  constructor(readonly plan: WorkersPlan, readonly onCrash: (message: string) => void) {}

  /**
   * Starts every worker and resolves with the URL they serve; if one cannot start, stops
   * the others and rejects with its reason.
   */
  async start(): Promise<string> {
    try {
      const first = await this.#spawn(0).ready;
      const port = this.plan.settings.listen.port === 0 ? first.port : undefined;
      for (let i = 1; i < this.plan.settings.workers; i++) this.#spawn(i, port);
      await Promise.all(this.#workers.map((worker) => worker.ready));
      return first.url;
    } catch (error) {
      this.terminate();
      throw error;
    }
  }

  /** Tells every worker (but `except`) to reload. */
  reload(reason: string, except?: number): void {
    for (const worker of this.#workers) {
      if (worker.index !== except) worker.post({ type: "reload", reason });
    }
  }

  /** Tells every worker to stop (saying why) and waits until all of them have. */
  async stop(signal: string): Promise<void> {
    for (const worker of this.#workers) worker.post({ type: "stop", signal });
    await Promise.all(this.#workers.map((worker) => worker.stopped));
  }

  terminate(): void {
    for (const worker of this.#workers) worker.terminate();
  }

  #spawn(index: number, listenPort?: number): WorkerThread {
    const worker = new WorkerThread(index, {
      onReloadOthers: (reason) => this.reload(reason, index),
      onCrash: this.onCrash,
    });
    this.#workers.push(worker);
    const adminPort = this.plan.settings.admin.port;
    worker.post({
      type: "start",
      index,
      count: this.plan.settings.workers,
      args: this.plan.args,
      env: this.plan.env,
      listenPort,
      adminPort: adminPort !== undefined && adminPort > 0 && index > 0
        ? adminPort + index
        : undefined,
      isTerminal: Deno.stdout.isTerminal(),
      stickySecret: this.#stickySecret,
    });
    return worker;
  }
}

/** One worker, seen from the main thread. */
class WorkerThread {
  readonly #worker: Worker;
  #started = false;
  /** Settles once the worker serves, or with why it could not start. */
  readonly ready: Promise<{ url: string; port: number }>;
  /** Resolves once the worker has stopped (or crashed). */
  readonly stopped: Promise<void>;

  constructor(
    readonly index: number,
    events: { onReloadOthers(reason: string): void; onCrash(message: string): void },
  ) {
    // A static URL, so that `deno compile --include cli/worker.ts` puts it in the binary.
    this.#worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    let ready!: (value: { url: string; port: number }) => void;
    let refused!: (error: Error) => void;
    let stopped!: () => void;
    this.ready = new Promise((resolve, reject) => [ready, refused] = [resolve, reject]);
    this.ready.catch(() => {}); // awaited by runWorkers; never an unhandled rejection
    this.stopped = new Promise((resolve) => stopped = resolve);
    this.#worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      switch (message.type) {
        case "ready":
          this.#started = true;
          ready({ url: message.url, port: message.port });
          break;
        case "refused":
          refused(
            message.problems.length === 1
              ? new UsageError(message.problems[0])
              : new ConfigError(message.problems),
          );
          break;
        case "reload-others":
          events.onReloadOthers(message.reason);
          break;
        case "stopped":
          stopped();
          break;
      }
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      // Handled here: the default would rethrow it in the main thread with a stack trace.
      event.preventDefault();
      const what = `worker ${index} ${
        this.#started ? "crashed" : "failed to start"
      }: ${event.message}`;
      stopped();
      if (this.#started) events.onCrash(what);
      else refused(new Error(what));
    };
  }

  post(message: ToWorker): void {
    this.#worker.postMessage(message);
  }

  terminate(): void {
    this.#worker.terminate();
  }
}
