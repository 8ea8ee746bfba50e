/**
 * Writing Prometheus' text format (0.0.4), and the families that are about the process
 * rather than the traffic: event-loop lag, build info, config reloads, and the standard
 * `process_*` metrics, all read when scraped.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { LagMonitor } from "../balancer/overload.ts";
import type { MemoryTrimmer } from "../balancer/memory_trim.ts";
import type { IdleHeapReducer } from "../balancer/idle_heap_reducer.ts";
import process from "node:process";
import { VERSION } from "../lib/version.ts";

/** What the scrape reads of the event-loop lag monitor. */
export type LagFigures = Pick<LagMonitor, "lagMs" | "overloaded" | "episodes">;

/** A family's `# HELP` and `# TYPE` lines. */
export function family(
  out: string[],
  name: string,
  type: "counter" | "gauge" | "histogram",
  help: string,
): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

/** A label value escaped as the text format requires (backslash, quote, newline). */
export function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** What the scrape reads of the live configuration's reloads. */
export interface ReloadFigures {
  readonly succeeded: number;
  readonly failed: number;
  /** Wall-clock time of the last configuration applied (the start-up one at first). */
  readonly lastSuccessMs: number;
}

/** The labels naming a backend's series, for one scrape (see {@linkcode seriesLabels}). */
export type SeriesLabels = (url: string, pool: string) => string;

/**
 * How this scrape labels backend series: `backend="URL"`, plus `pool="NAME"` on every series
 * once the configuration has named pools (the default pool's say `pool="default"`), so that
 * one scrape never mixes series with and without the label. A configuration without pools
 * exposes exactly what it always did.
 */
export function seriesLabels(backends: readonly Backend[]): SeriesLabels {
  return backends.some((backend) => backend.pool !== "default") ? withPool : withoutPool;
}

function withoutPool(url: string): string {
  return `backend="${label(url)}"`;
}

function withPool(url: string, pool: string): string {
  return `backend="${label(url)}",pool="${label(pool)}"`;
}

/** `roundabout_build_info{version}`: always 1, the version in a label. */
export function buildInfoFamily(out: string[]): void {
  family(out, "roundabout_build_info", "gauge", "Always 1; the running version in a label.");
  out.push(`roundabout_build_info{version="${label(VERSION)}"} 1`);
}

/** The reload counters and the time of the last good one. */
export function reloadFamilies(out: string[], reloads: ReloadFigures): void {
  family(
    out,
    "roundabout_config_reloads_total",
    "counter",
    "Configuration reloads (SIGHUP, file change, POST /reload, POST /config) by result.",
  );
  out.push(
    `roundabout_config_reloads_total{result="success"} ${reloads.succeeded}`,
    `roundabout_config_reloads_total{result="failure"} ${reloads.failed}`,
  );
  family(
    out,
    "roundabout_config_last_reload_success_timestamp_seconds",
    "gauge",
    "When the configuration in force was applied (start-up or the last good reload).",
  );
  out.push(
    `roundabout_config_last_reload_success_timestamp_seconds ${reloads.lastSuccessMs / 1000}`,
  );
}

/**
 * Whether `/proc/self/fd` can be listed: Deno lets a program read `/proc/self` only with
 * every permission (`--allow-all`), which `roundabout` is not normally given. Tried once.
 */
let fdsReadable = true;

/**
 * The standard process metrics, as Prometheus' client libraries name them. CPU time, memory
 * and start time come from the runtime (no permission needed); open files from
 * `/proc/self/fd`, and only when Deno allows reading it.
 */
export function processFamilies(out: string[]): void {
  const cpu = process.cpuUsage();
  family(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent, seconds.");
  out.push(`process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`);
  family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  out.push(`process_resident_memory_bytes ${Deno.memoryUsage().rss}`);
  family(
    out,
    "process_start_time_seconds",
    "gauge",
    "Start time of the process since the Unix epoch, seconds.",
  );
  out.push(`process_start_time_seconds ${Math.round(performance.timeOrigin) / 1000}`);
  const fds = countFds();
  if (fds !== undefined) {
    family(out, "process_open_fds", "gauge", "Number of open file descriptors.");
    out.push(`process_open_fds ${fds}`);
  }
}

function countFds(): number | undefined {
  if (!fdsReadable) return undefined;
  try {
    let count = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) count++;
    return count;
  } catch {
    fdsReadable = false; // not Linux, or not --allow-all
    return undefined;
  }
}

/** The balancer's own load: lag, whether it is overloaded, and how often it was. */
export function lagFamilies(out: string[], lag: LagFigures): void {
  family(
    out,
    "roundabout_event_loop_lag_seconds",
    "gauge",
    "Worst event-loop lag of the last few seconds.",
  );
  out.push(`roundabout_event_loop_lag_seconds ${lag.lagMs() / 1000}`);
  family(out, "roundabout_overloaded", "gauge", "1 while the balancer counts itself overloaded.");
  out.push(`roundabout_overloaded ${lag.overloaded ? 1 : 0}`);
  family(
    out,
    "roundabout_overload_episodes_total",
    "counter",
    "Times the balancer became overloaded.",
  );
  out.push(`roundabout_overload_episodes_total ${lag.episodes}`);
}

/** What the scrape reads of the memory trimmer (`balancer/memory_trim.ts`). */
export type TrimFigures = Pick<MemoryTrimmer, "trims" | "released" | "on">;

/** Memory handed back to the system: how often it was tried, and whether it still is. */
export function trimFamilies(out: string[], trims: TrimFigures): void {
  family(
    out,
    "roundabout_memory_trims_total",
    "counter",
    "Times freed C-heap memory was handed back to the system (malloc_trim), by whether " +
      "any was.",
  );
  out.push(`roundabout_memory_trims_total{released="true"} ${trims.released}`);
  out.push(`roundabout_memory_trims_total{released="false"} ${trims.trims - trims.released}`);
  family(out, "roundabout_memory_trim_on", "gauge", "1 while freed memory is handed back.");
  out.push(`roundabout_memory_trim_on ${trims.on ? 1 : 0}`);
}

/** What the scrape reads of the idle heap compaction (`balancer/idle_heap_reducer.ts`). */
export type CompactionFigures = Pick<IdleHeapReducer, "reductions" | "on">;

/** The V8 heap compacted once idle: how often, and whether it still is. */
export function compactionFamilies(out: string[], compactions: CompactionFigures): void {
  family(
    out,
    "roundabout_memory_heap_compactions_total",
    "counter",
    "Times the V8 heap was compacted and shrunk once the balancer went idle after traffic " +
      "had grown it.",
  );
  out.push(`roundabout_memory_heap_compactions_total ${compactions.reductions}`);
  family(
    out,
    "roundabout_memory_heap_compaction_on",
    "gauge",
    "1 while the V8 heap is compacted when idle.",
  );
  out.push(`roundabout_memory_heap_compaction_on ${compactions.on ? 1 : 0}`);
}

/** `roundabout_backend_in_flight`, per backend. */
export function inFlightFamily(
  out: string[],
  backends: readonly Backend[],
  labels: SeriesLabels,
): void {
  family(out, "roundabout_backend_in_flight", "gauge", "Tries waiting on the backend now.");
  for (const backend of backends) {
    out.push(
      `roundabout_backend_in_flight{${labels(backend.url, backend.pool)}} ${backend.inFlight}`,
    );
  }
}

/** `roundabout_websockets_open`, per backend. */
export function websocketsFamily(
  out: string[],
  backends: readonly Backend[],
  labels: SeriesLabels,
): void {
  family(out, "roundabout_websockets_open", "gauge", "WebSocket connections open through it.");
  for (const backend of backends) {
    out.push(
      `roundabout_websockets_open{${labels(backend.url, backend.pool)}} ${backend.websockets}`,
    );
  }
}

/** `roundabout_probes_total{backend,result}`: active probes by result, from 0. */
export function probesFamily(
  out: string[],
  backends: readonly Backend[],
  labels: SeriesLabels,
): void {
  family(out, "roundabout_probes_total", "counter", "Active health probes by result.");
  for (const backend of backends) {
    const b = labels(backend.url, backend.pool);
    out.push(
      `roundabout_probes_total{${b},result="pass"} ${backend.probesPassed}`,
      `roundabout_probes_total{${b},result="fail"} ${backend.probesFailed}`,
    );
  }
}
