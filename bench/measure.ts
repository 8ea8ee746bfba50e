/**
 * One measurement: a subject started fresh in front of a scenario's backends, warmed up, put
 * under wrk's load (or held with idle connections) while its CPU and memory are read, then
 * stopped. Also the one-line progress report of a measurement.
 *
 * @module
 */

import { benchCert } from "../harness/certs.ts";
import { cpuSeconds, rssKiB, RssSampler } from "../harness/procfs.ts";
import { runWrk, wrkArgs, type WrkRun, wrkScript } from "../harness/wrk.ts";
import { type Backends, PORT_OFFSETS } from "./backends.ts";
import { holdIdleConnections } from "./idle.ts";
import type { BenchOptions } from "./options.ts";
import { fmtMs, fmtRps, type Measurement } from "./report.ts";
import { IDLE_HOLD_S, type Scenario } from "./scenarios.ts";
import type { Running, Subject } from "./subjects.ts";

/** wrk's per-request timeout: long enough that the 3 s slow backend is measured, not dropped. */
export const WRK_TIMEOUT_S = 10;

/** What every measurement shares. */
export interface RunContext {
  readonly options: BenchOptions;
  readonly dir: string;
  readonly backends: Backends;
  readonly denoFlags?: readonly string[];
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function wrkRun(ctx: RunContext, scenario: Scenario, url: string, durationS: number): WrkRun {
  return {
    url: url + scenario.path,
    connections: scenario.connections,
    durationS,
    script: wrkScript(scenario.script),
    timeoutS: WRK_TIMEOUT_S,
    logPath: `${ctx.dir}/wrk.log`,
  };
}

/** Which measurement a result belongs to. */
type MeasurementId = Pick<Measurement, "round" | "scenario" | "subject">;

/** Starts `subject`, warms it up, measures it once, stops it. Never throws. */
export async function measure(
  ctx: RunContext,
  subject: Subject,
  scenario: Scenario,
  round: number,
): Promise<Measurement> {
  const id = { round, scenario: scenario.name, subject: subject.name };
  let running;
  try {
    running = await subject.start({
      dir: ctx.dir,
      port: ctx.options.basePort + PORT_OFFSETS.subject,
      backends: ctx.backends.urls(scenario.backends),
      denoFlags: ctx.denoFlags,
      cpus: ctx.options.subjectCpus,
      tls: scenario.tls ? await benchCert(ctx.dir) : undefined,
    });
  } catch (error) {
    return { ...id, error: `could not start: ${message(error)}` };
  }
  if (scenario.kind === "idle") {
    try {
      return { ...id, ...await measureIdle(scenario, running.url, running.proc?.pid) };
    } catch (error) {
      return { ...id, error: message(error) };
    } finally {
      await running.proc?.stop();
    }
  }
  return await measureLoad(ctx, id, scenario, running);
}

/** Warm-up, then the measured wrk run with CPU and peak RSS; stops the subject. Never throws. */
async function measureLoad(
  ctx: RunContext,
  id: MeasurementId,
  scenario: Scenario,
  running: Running,
): Promise<Measurement> {
  let sampler: RssSampler | undefined;
  try {
    if (ctx.options.warmupS > 0 && scenario.warmup !== false) {
      await runWrk(wrkRun(ctx, scenario, running.url, ctx.options.warmupS));
    }
    const run = wrkRun(ctx, scenario, running.url, ctx.options.durationS);
    const pid = running.proc?.pid;
    const cpuBefore = pid ? cpuSeconds(pid) : undefined;
    sampler = pid ? new RssSampler(pid) : undefined;
    const result = await runWrk(run);
    const peakKiB = sampler?.stop();
    const cpuS = pid ? cpuSeconds(pid) - cpuBefore! : undefined;
    if (running.proc?.exited) {
      return { ...id, error: `exited during the run:\n${running.proc.tail()}` };
    }
    const ok = result.requests - result.statusErrors;
    return {
      ...id,
      rps: ok / result.durationS,
      requests: result.requests,
      statusErrors: result.statusErrors,
      socketErrors: result.socketErrors,
      p50Ms: result.latencyMs.p50,
      p90Ms: result.latencyMs.p90,
      p99Ms: result.latencyMs.p99,
      p999Ms: result.latencyMs.p999,
      maxMs: result.latencyMs.max,
      cpuS,
      // Per successful request: fast error answers are not work done.
      cpuSPer1k: cpuS !== undefined && ok > 0 ? (cpuS / ok) * 1000 : undefined,
      peakRssMiB: peakKiB !== undefined ? peakKiB / 1024 : undefined,
      wrk: wrkArgs(run).join(" "),
      command: running.proc?.options.cmd.join(" "),
    };
  } catch (error) {
    return { ...id, error: message(error) };
  } finally {
    sampler?.stop();
    await running.proc?.stop();
  }
}

/**
 * An idle scenario: RSS once the subject is up, then its peak while `scenario.connections`
 * keep-alive connections that each served one GET stay open and idle for `IDLE_HOLD_S`.
 */
async function measureIdle(
  scenario: Scenario,
  url: string,
  pid: number | undefined,
): Promise<Partial<Measurement>> {
  const rssBeforeKiB = pid ? rssKiB(pid) : undefined;
  let sampler: RssSampler | undefined;
  const result = await holdIdleConnections(url, scenario.path, scenario.connections, async () => {
    sampler = pid ? new RssSampler(pid) : undefined;
    await new Promise((resolve) => setTimeout(resolve, IDLE_HOLD_S * 1000));
  });
  const peakKiB = sampler?.stop();
  let afterCloseKiB: number | undefined;
  if (pid && scenario.afterCloseS !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, scenario.afterCloseS! * 1000));
    afterCloseKiB = rssKiB(pid);
  }
  return {
    requests: result.served + result.failed,
    socketErrors: result.failed,
    peakRssMiB: peakKiB !== undefined ? peakKiB / 1024 : undefined,
    rssBeforeMiB: rssBeforeKiB !== undefined ? rssBeforeKiB / 1024 : undefined,
    endRssMiB: sampler !== undefined ? sampler.lastKiB / 1024 : undefined,
    afterCloseRssMiB: afterCloseKiB !== undefined ? afterCloseKiB / 1024 : undefined,
    wrk: `(no wrk) ${scenario.connections} idle keep-alive connections, one GET ` +
      `${scenario.path} each, held ${IDLE_HOLD_S} s` +
      (result.firstError ? `; first failure: ${result.firstError}` : ""),
  };
}

/** A measurement in one line: its numbers, or why it failed. */
export function progressLine(m: Measurement): string {
  if (m.error) {
    const lines = m.error.split("\n").map((l) => l.trim()).filter(Boolean);
    return `FAILED: ${lines[0]}${lines.length > 1 ? ` … ${lines.at(-1)}` : ""}`;
  }
  if (m.rps === undefined && m.rssBeforeMiB !== undefined) {
    return `rss before ${m.rssBeforeMiB.toFixed(1)} MiB, peak while idle ` +
      `${m.peakRssMiB?.toFixed(1)} MiB, at the end ${m.endRssMiB?.toFixed(1)} MiB, ` +
      (m.afterCloseRssMiB !== undefined
        ? `after closing ${m.afterCloseRssMiB.toFixed(1)} MiB, `
        : "") +
      `errors ${m.socketErrors ?? 0}`;
  }
  const errors = (m.statusErrors ?? 0) + (m.socketErrors ?? 0);
  return [
    `${fmtRps(m.rps)} req/s`,
    `p50 ${fmtMs(m.p50Ms)} ms`,
    `p99 ${fmtMs(m.p99Ms)} ms`,
    `errors ${errors}`,
    m.cpuSPer1k !== undefined ? `cpu ${m.cpuSPer1k.toFixed(3)} s/1k` : undefined,
    m.rssBeforeMiB !== undefined ? `rss before ${m.rssBeforeMiB.toFixed(1)} MiB` : undefined,
    m.peakRssMiB !== undefined ? `rss ${m.peakRssMiB.toFixed(1)} MiB` : undefined,
  ].filter(Boolean).join(", ");
}
