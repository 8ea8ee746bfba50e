/**
 * One running Roundabout put together from a checked configuration: the balancer, its
 * access log and metrics, the admin API, and the live configuration that reloads change.
 * `balance` and `up` run one; tests start one in-process.
 *
 * @module
 */

import type { Metrics } from "../admin/metrics.ts";
import type { WorkerRole } from "../admin/app.ts";
import type { RunningAdmin } from "../admin/server.ts";
import { accessLogger } from "../balancer/access_log.ts";
import type { RequestRecord } from "../balancer/balancer.ts";
import { type Clock, systemClock } from "../lib/time.ts";
import { mallocTrim, type TrimMemory } from "../lib/malloc_trim.ts";
import { type HeapReducer, heapReducer } from "../lib/heap_reduce.ts";
import { LiveConfig } from "../config/live.ts";
import type { Settings } from "../config/model.ts";
import type { Layer, Resolved } from "../config/sources.ts";
import { TRANSPORTS } from "../transports/mod.ts";
import type { FileWatch } from "../config/watch.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import type { Transport } from "../transports/transport.ts";

/** What an instance is made from. */
export interface InstanceOptions {
  /** The checked start-up configuration. */
  readonly resolved: Resolved;
  /** The sources, lowest precedence first, re-read on each reload. */
  readonly sources: () => Layer[];
  /** Event log, one line each. */
  readonly log: (line: string) => void;
  /** Where access log lines go. */
  readonly accessLog: (line: string) => void;
  /** Whether stdout is a terminal (`accessLog: auto` picks text then). Default false. */
  readonly isTerminal?: boolean;
  /** A config file to watch: a change reloads. Unset: no watching. */
  readonly watch?: string;
  /** Debounce of the file watch, in milliseconds. Default 200. */
  readonly watchDebounceMs?: number;
  /** Default the system clock. */
  readonly clock?: Clock;
  /** Default the one `settings.transport` names. */
  readonly transport?: Transport;
  /**
   * Set when this instance is one of several workers (`--workers N`): it shares the port
   * (reusePort), starts round robin at its index, and its admin API says which it is.
   */
  readonly worker?: WorkerRole;
  /**
   * The key of sticky cookies while `stickySecret` is unset: the process's, so that every
   * worker accepts the others' cookies. Default a random one made by the balancer.
   */
  readonly stickySecret?: string;
}

/** A running instance. */
export interface Instance {
  readonly running: RunningBalancer;
  readonly live: LiveConfig;
  /** The admin API, when configured. */
  readonly admin?: RunningAdmin;
  /** Counted only when the admin API is on (nothing else reads them). */
  readonly metrics?: Metrics;
  /**
   * Stops the watch and the admin API, stops accepting, lets in-flight requests finish for
   * up to `graceMs` (default the configured grace), stops probes, closes upstream
   * connections.
   *
   * @returns whether every in-flight request finished in time.
   */
  stop(graceMs?: number): Promise<boolean>;
}

/** The admin API's modules: Hono, the dashboard page, the metrics and their exposition. */
type AdminModules = [typeof import("../admin/metrics.ts"), typeof import("../admin/server.ts")];

/**
 * The admin API's modules, loaded only when it is configured: without it a balancer never
 * loads Hono, the dashboard or the metrics (about 4 MiB less resident at start; see
 * bench/README.md). Literal specifiers, so `deno compile` embeds them.
 */
function loadAdmin(): Promise<AdminModules> {
  return Promise.all([import("../admin/metrics.ts"), import("../admin/server.ts")]);
}

/**
 * Starts an instance.
 *
 * @throws {ListenError} when an address cannot be bound (the balancer's or the admin
 * API's), naming it by its flags; nothing is left running then.
 */
export async function startInstance(options: InstanceOptions): Promise<Instance> {
  const settings = options.resolved.settings;
  const clock = options.clock ?? systemClock;
  const adminModules = settings.admin.port === undefined ? undefined : await loadAdmin();
  // Only a config file is watched; node:path, which the watch uses, costs about 1.5 MiB.
  const watchModule = options.watch === undefined ? undefined : await import("../config/watch.ts");
  const metrics = adminModules === undefined ? undefined : new adminModules[0].Metrics();
  const sinkFor = (s: Settings) =>
    combine(
      metrics?.onRequest,
      accessLogger(s.accessLog, options.accessLog, options.isTerminal ?? false),
    );
  // The balancer's lines wait until the admin API is bound: a taken admin port must not
  // follow "listening on …" (nothing is left listening then).
  const held: string[] = [];
  let holding = true;
  const log = (line: string) => holding ? held.push(line) : options.log(line);
  const running = listen({ ...options, log }, clock, sinkFor(settings), metrics);
  const live = new LiveConfig({
    initial: options.resolved,
    sources: options.sources,
    running,
    sinkFor,
    log: options.log,
  });
  const stopping = new AbortController();
  const admin = adminModules === undefined ? undefined : startAdminApi(
    adminModules[1].startAdmin,
    { ...options, log },
    { live, running, metrics: metrics!, clock, stopping },
  );
  holding = false;
  for (const line of held) options.log(line);
  const watch = options.watch === undefined
    ? undefined
    : watchConfig(watchModule!.watchFile, options.watch, live, options);
  let stopped: Promise<boolean> | undefined;
  return {
    running,
    live,
    admin,
    metrics,
    stop(graceMs = live.settings.shutdownGraceMs) {
      stopped ??= (async () => {
        watch?.close();
        stopping.abort();
        await admin?.shutdown();
        return await running.shutdown(graceMs);
      })();
      return stopped;
    },
  };
}

/** Starts the balancer on the configured address. */
function listen(
  options: InstanceOptions,
  clock: Clock,
  onRequest: ((record: RequestRecord) => void) | undefined,
  metrics: Metrics | undefined,
): RunningBalancer {
  const settings = options.resolved.settings;
  try {
    // The files passed their checks when the configuration was resolved (config/pem_files.ts).
    const caCerts = settings.backendCa === undefined
      ? undefined
      : [Deno.readTextFileSync(settings.backendCa)];
    const { cert, key, redirectPort } = settings.tls;
    return startBalancer({
      hostname: settings.listen.hostname,
      port: settings.listen.port,
      backends: settings.backends,
      options: settings.options,
      pools: settings.pools,
      routes: settings.routes,
      transport: options.transport ?? TRANSPORTS[settings.transport]({ caCerts }),
      caCerts,
      ...(cert !== undefined && key !== undefined
        ? {
          tls: {
            cert: Deno.readTextFileSync(cert),
            key: Deno.readTextFileSync(key),
            redirectPort,
          },
        }
        : {}),
      clock,
      onRequest,
      onEject: metrics?.onEject,
      // Only the admin API's recent requests read the explanations.
      explainPicks: metrics !== undefined,
      stickySecret: options.stickySecret,
      trimMemory: settings.memoryTrim ? trimMemoryOrSay(options.log) : undefined,
      reduceHeap: settings.memoryTrim ? heapReducerOrSay(options.log) : undefined,
      log: options.log,
      ...(options.worker ? { reusePort: true, firstPick: options.worker.index } : {}),
    });
  } catch (error) {
    const { hostname, port } = settings.listen;
    throw new ListenError(`--hostname ${hostname} --port ${port}`, error);
  }
}

/** glibc's malloc_trim when this process may call it; else says why not, once at start. */
function trimMemoryOrSay(log: (line: string) => void): TrimMemory | undefined {
  const { trim, unavailable } = mallocTrim();
  if (unavailable !== undefined) {
    log(`memory trim off: ${unavailable} (--no-memory-trim silences this)`);
  }
  return trim;
}

/** V8's heap compaction when this process was given it; else says why not, once at start. */
function heapReducerOrSay(log: (line: string) => void): HeapReducer | undefined {
  const { reducer, unavailable } = heapReducer();
  if (unavailable !== undefined) {
    log(`idle heap compaction off: ${unavailable} (--no-memory-trim silences this)`);
  }
  return reducer;
}

/** What the admin API reads and controls. */
interface AdminWiring {
  readonly live: LiveConfig;
  readonly running: RunningBalancer;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Aborted when the instance stops: the admin API's waits end at once. */
  readonly stopping: AbortController;
}

/** Starts the admin API; if it cannot, stops the balancer before throwing. */
function startAdminApi(
  startAdmin: typeof import("../admin/server.ts").startAdmin,
  options: InstanceOptions,
  parts: AdminWiring,
): RunningAdmin {
  const { admin: settings } = options.resolved.settings;
  let admin: RunningAdmin;
  try {
    admin = startAdmin({
      hostname: settings.hostname,
      port: settings.port!,
      token: settings.token,
      metricsPublic: settings.metricsPublic,
      log: options.log,
      live: parts.live,
      running: parts.running,
      metrics: parts.metrics,
      clock: parts.clock,
      stopping: parts.stopping.signal,
      worker: options.worker,
    });
  } catch (error) {
    parts.running.shutdown().catch(() => {});
    if (error instanceof RangeError) throw error;
    throw new ListenError(
      `--admin-hostname ${settings.hostname} --admin-port ${settings.port}`,
      error,
    );
  }
  options.log(`admin API on ${admin.url}${settings.token ? " (bearer token required)" : ""}`);
  return admin;
}

/** Reloads the configuration whenever the file at `path` changes. */
function watchConfig(
  watchFile: typeof import("../config/watch.ts").watchFile,
  path: string,
  live: LiveConfig,
  options: InstanceOptions,
): FileWatch {
  return watchFile(path, () => {
    live.reload(`${path} (changed)`).catch((error) => options.log(`reload failed: ${error}`));
  }, options.watchDebounceMs);
}

function combine(
  a: ((record: RequestRecord) => void) | undefined,
  b: ((record: RequestRecord) => void) | undefined,
): ((record: RequestRecord) => void) | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return (record) => {
    a(record);
    b(record);
  };
}

/** An address that could not be bound, and which flags name it. */
export class ListenError extends Error {
  constructor(
    /** e.g. `--hostname 127.0.0.1 --port 8080` */
    readonly where: string,
    override readonly cause: unknown,
  ) {
    super(`${where}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "ListenError";
  }
}
