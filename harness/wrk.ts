/**
 * Runs wrk and reads the exact numbers its Lua `done()` hook prints (post.lua and get.lua
 * beside this file) instead of parsing wrk's rounded text. Shared by the benchmark (bench/)
 * and the soak tool (tools/).
 *
 * @module
 */

import { Proc } from "./processes.ts";

/** The wrk scripts beside this file: a small JSON POST, or a plain GET. */
export type WrkScript = "post.lua" | "get.lua";

/** Absolute path of a wrk script. */
export function wrkScript(name: WrkScript): string {
  return new URL(name, import.meta.url).pathname;
}

/** What one wrk run measured. */
export interface WrkResult {
  /** Completed responses, whatever their status. */
  readonly requests: number;
  /** How long wrk ran, in seconds. */
  readonly durationS: number;
  /** Response bytes read. */
  readonly bytes: number;
  /** Responses with status ≥ 400 (wrk's "Non-2xx or 3xx responses"). */
  readonly statusErrors: number;
  /** connect + read + write + timeout errors. */
  readonly socketErrors: number;
  /** Requests that got no answer within wrk's `--timeout`. */
  readonly timeouts: number;
  /** Latency of completed requests, in milliseconds. */
  readonly latencyMs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p999: number;
    readonly max: number;
  };
}

/** One wrk invocation. */
export interface WrkRun {
  readonly url: string;
  readonly connections: number;
  readonly durationS: number;
  /** Absolute path of the Lua script. */
  readonly script: string;
  /** Requests slower than this are counted as timeouts and left out of the latencies. */
  readonly timeoutS: number;
  readonly logPath: string;
}

/** The command line for `run`, as a person would type it. */
export function wrkArgs(run: WrkRun): string[] {
  return [
    "wrk",
    "-t1",
    `-c${run.connections}`,
    `-d${run.durationS}s`,
    "--timeout",
    `${run.timeoutS}s`,
    "--latency",
    "-s",
    run.script,
    run.url,
  ];
}

/** Parses the `BENCH_JSON {...}` line the Lua scripts print. */
export function parseWrkOutput(output: string): WrkResult {
  const line = output.split("\n").find((l) => l.startsWith("BENCH_JSON "));
  if (!line) throw new Error(`wrk printed no BENCH_JSON line:\n${output.slice(-2000)}`);
  const raw = JSON.parse(line.slice("BENCH_JSON ".length));
  const e = raw.errors;
  const ms = (us: number) => us / 1000;
  return {
    requests: raw.requests,
    durationS: raw.duration_us / 1e6,
    bytes: raw.bytes,
    statusErrors: e.status,
    socketErrors: e.connect + e.read + e.write + e.timeout,
    timeouts: e.timeout,
    latencyMs: {
      p50: ms(raw.latency_us.p50),
      p90: ms(raw.latency_us.p90),
      p99: ms(raw.latency_us.p99),
      p999: ms(raw.latency_us.p999),
      max: ms(raw.latency_us.max),
    },
  };
}

/** Seconds wrk may overrun `durationS + timeoutS` before it is killed. */
export const WRK_GRACE_S = 5;

/**
 * Runs wrk to the end and returns its numbers; it is killed when it still runs `graceS`
 * seconds after `durationS + timeoutS`.
 */
export async function runWrk(run: WrkRun, graceS = WRK_GRACE_S): Promise<WrkResult> {
  const proc = new Proc({ name: "wrk", cmd: wrkArgs(run), logPath: run.logPath, nofile: 65536 });
  const status = await proc.wait((run.durationS + run.timeoutS + graceS) * 1000);
  const output = proc.tail(200);
  if (!status.success) throw new Error(`wrk failed (code ${status.code}):\n${proc.tail()}`);
  return parseWrkOutput(output);
}
