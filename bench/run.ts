/**
 * The benchmark: Roundabout against going direct, nginx, HAProxy and a naive Deno proxy,
 * measured with wrk on loopback, subjects interleaved round by round so that drift hits all
 * alike. Prints tables and writes bench/results/<timestamp>.json and .svg.
 *
 * ```sh
 * deno run -A bench/run.ts --quick          # smoke run, about a minute
 * deno run -A bench/run.ts                  # everything: 3 rounds × 10 s
 * deno run -A bench/run.ts --profile        # where roundabout-fetch spends its CPU
 * ```
 *
 * See bench/README.md for what each scenario and column means.
 *
 * @module
 */

import { assertPortsFree, Backends, PORT_OFFSETS } from "./backends.ts";
import { renderChart } from "./chart.ts";
import { type BenchOptions, parseOptions, USAGE } from "./options.ts";
import { holdIdleConnections } from "./idle.ts";
import { cpuSeconds, rssKiB, RssSampler } from "../harness/procfs.ts";
import { isShuttingDown, stopAll, stopAllOnSignals } from "../harness/processes.ts";
import { formatSummary, readProfiles, summariseProfiles } from "./profile_summary.ts";
import {
  baselineTable,
  fmtMs,
  fmtRps,
  idleTable,
  mainTable,
  type Measurement,
  summarise,
} from "./report.ts";
import { IDLE_HOLD_S, type Scenario, scenarioByName } from "./scenarios.ts";
import { START_TIMEOUT_MS, type Subject, subjectByName } from "./subjects.ts";
import { REPO_DIR } from "../harness/deno_run.ts";
import { installed, versionOf } from "../harness/programs.ts";
import { runWrk, WRK_GRACE_S, wrkArgs, type WrkRun, wrkScript } from "../harness/wrk.ts";

/** wrk's per-request timeout: long enough that the 3 s slow backend is measured, not dropped. */
const WRK_TIMEOUT_S = 10;

/** What every measurement shares. */
interface RunContext {
  readonly options: BenchOptions;
  readonly dir: string;
  readonly backends: Backends;
  readonly denoFlags?: readonly string[];
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function timestamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-` +
    `${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

function fmtDuration(seconds: number): string {
  const s = Math.round(seconds);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
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

/** Starts `subject`, warms it up, measures it once, stops it. Never throws. */
async function measure(
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
  return {
    requests: result.served + result.failed,
    socketErrors: result.failed,
    peakRssMiB: peakKiB !== undefined ? peakKiB / 1024 : undefined,
    rssBeforeMiB: rssBeforeKiB !== undefined ? rssBeforeKiB / 1024 : undefined,
    wrk: `(no wrk) ${scenario.connections} idle keep-alive connections, one GET ` +
      `${scenario.path} each, held ${IDLE_HOLD_S} s` +
      (result.firstError ? `; first failure: ${result.firstError}` : ""),
  };
}

function progressLine(m: Measurement): string {
  if (m.error) {
    const lines = m.error.split("\n").map((l) => l.trim()).filter(Boolean);
    return `FAILED: ${lines[0]}${lines.length > 1 ? ` … ${lines.at(-1)}` : ""}`;
  }
  if (m.rps === undefined && m.rssBeforeMiB !== undefined) {
    return `rss before ${m.rssBeforeMiB.toFixed(1)} MiB, peak while idle ` +
      `${m.peakRssMiB?.toFixed(1)} MiB, errors ${m.socketErrors ?? 0}`;
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

/** Subjects that can run here, with a note for each one that cannot. */
async function usableSubjects(names: readonly string[], notes: string[]): Promise<Subject[]> {
  const usable: Subject[] = [];
  for (const name of names) {
    const subject = subjectByName(name)!;
    const why = await subject.unavailable();
    if (why) notes.push(`skipped ${name}: ${why}`);
    else usable.push(subject);
  }
  return usable;
}

/** The comparison: every round, every scenario, every subject (rotated per round). */
async function compare(
  options: BenchOptions,
  dir: string,
  subjects: Subject[],
  notes: string[],
  backends: Backends,
): Promise<Measurement[]> {
  const scenarios = options.scenarios.map((n) => scenarioByName(n)!);
  const ctx: RunContext = { options, dir, backends };
  const plan: Array<{ round: number; scenario: Scenario; subject: Subject }> = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const scenario of scenarios) {
      // Rotate the order each round so no subject always runs first (or right after another).
      const shift = (round - 1) % subjects.length;
      const order = [...subjects.slice(shift), ...subjects.slice(0, shift)];
      for (const subject of order) {
        if (subject.handles(scenario)) plan.push({ round, scenario, subject });
      }
    }
  }
  const perRunS = options.warmupS + options.durationS;
  // The hard limits: start, warm-up and measured wrk runs each with their overrun, stop.
  const limitS = START_TIMEOUT_MS / 1000 + perRunS + 2 * (WRK_TIMEOUT_S + WRK_GRACE_S) + 3;
  console.log(
    `${plan.length} measurements of ${options.durationS} s (+${options.warmupS} s warm-up): ` +
      `about ${fmtDuration(plan.length * (perRunS + 2))}, at most ` +
      `${fmtDuration(plan.length * limitS)}\n`,
  );

  const measurements: Measurement[] = [];
  // A subject that fails to start is tried again at its next turn (the tree may be mid-edit,
  // a transport may not exist yet); each distinct reason is noted once.
  const noted = new Set<string>();
  for (const [i, { round, scenario, subject }] of plan.entries()) {
    if (isShuttingDown()) break;
    const dead = backends.dead();
    if (dead) throw new Error(`a backend died, stopping: ${dead}`);
    const m = await measure(ctx, subject, scenario, round);
    if (isShuttingDown()) break;
    console.log(
      `[${i + 1}/${plan.length}] round ${round} ${scenario.name} ${subject.name}: ${
        progressLine(m)
      }`,
    );
    if (m.error) {
      const why = m.error.split("\n").map((l) => l.trim()).filter(Boolean).slice(0, 4).join(" | ");
      if (!noted.has(`${subject.name} ${why}`)) {
        noted.add(`${subject.name} ${why}`);
        notes.push(`${subject.name} failed (${scenario.name}, round ${round}): ${why}`);
      }
    }
    measurements.push(m);
  }
  return measurements;
}

/** Profile mode: each Deno subject under each scenario with --cpu-prof; prints summaries. */
async function profile(
  options: BenchOptions,
  dir: string,
  subjects: Subject[],
  backends: Backends,
  stamp: string,
): Promise<void> {
  await Deno.mkdir(options.outDir, { recursive: true });
  for (const subject of subjects) {
    for (const name of options.scenarios) {
      const scenario = scenarioByName(name)!;
      if (!subject.handles(scenario)) continue;
      const profDir = `${dir}/prof-${subject.name}-${scenario.name}`;
      await Deno.mkdir(profDir, { recursive: true });
      const ctx: RunContext = {
        options,
        dir,
        backends,
        denoFlags: ["--cpu-prof", `--cpu-prof-dir=${profDir}`],
      };
      console.log(`profiling ${subject.name} under ${scenario.name} for ${options.durationS} s…`);
      const m = await measure(ctx, subject, scenario, 1);
      console.log(`  ${progressLine(m)}`);
      const profiles = await readProfiles([profDir]);
      if (profiles.length === 0) {
        console.log(
          `  no .cpuprofile written: the subject must exit cleanly on SIGTERM for --cpu-prof ` +
            `to write one (log: ${dir}/${subject.name}.log)`,
        );
        continue;
      }
      for await (const entry of Deno.readDir(profDir)) {
        const target = `${options.outDir}/${stamp}-${subject.name}-${scenario.name}.cpuprofile`;
        await Deno.copyFile(`${profDir}/${entry.name}`, target);
        console.log(`  profile: ${target} (open in Chrome DevTools › Performance)`);
      }
      console.log("");
      console.log(formatSummary(summariseProfiles(profiles, `file://${REPO_DIR}/`), options.top));
      console.log("");
    }
  }
}

/** Chart title and small print, the same for a run and a redraw. */
function chartText(startedAt: string, settings: string) {
  return {
    title: `Roundabout benchmark, ${startedAt.slice(0, 16).replace("T", " ")} UTC`,
    subtitle: [
      settings,
      "req/s counts only answers with status < 400; p99 from wrk (closed loop: " +
      "a slow subject also receives fewer requests)",
    ],
  };
}

/** `--chart FILE.json`: writes FILE.svg from an earlier run's results. */
async function redraw(jsonPath: string): Promise<number> {
  let results;
  try {
    results = JSON.parse(await Deno.readTextFile(jsonPath));
  } catch (error) {
    console.error(`bench: cannot read ${jsonPath}: ${message(error)}`);
    return 2;
  }
  const svgPath = jsonPath.replace(/\.json$/, "") + ".svg";
  await Deno.writeTextFile(
    svgPath,
    renderChart({
      ...chartText(results.startedAt, results.settings ?? ""),
      scenarios: results.scenarios,
      subjects: results.subjects.map((s: { name: string }) => s.name),
      summaries: results.summaries,
    }),
  );
  console.log(`wrote ${svgPath}`);
  return 0;
}

async function main(): Promise<number> {
  const parsed = parseOptions(Deno.args);
  if (parsed === "help") {
    console.log(USAGE);
    return 0;
  }
  if (Array.isArray(parsed)) {
    console.error(`bench: ${parsed.join("; ")} (see --help)`);
    return 2;
  }
  const options = parsed;
  if (options.chart) return await redraw(options.chart);
  if (!(await installed("wrk"))) {
    console.error("wrk not found: install it with `sudo apt-get install wrk`");
    return 2;
  }

  const started = new Date();
  const stamp = timestamp(started);
  const notes: string[] = [];
  const hasNginx = await installed("nginx");
  if (!hasNginx) {
    notes.push(
      "nginx not installed: backends are bench/deno_backend.ts servers, which may be " +
        "slower than the proxies they serve (sudo apt-get install nginx)",
    );
  }
  const subjects = await usableSubjects(options.subjects, notes);
  for (const note of notes) console.log(`note: ${note}`);
  if (subjects.length === 0) {
    console.error("bench: no subject can run here");
    return 1;
  }
  console.log(`subjects: ${subjects.map((s) => s.name).join(", ")}`);
  console.log(`scenarios: ${options.scenarios.join(", ")}`);

  const dir = await Deno.makeTempDir({ prefix: "roundabout-bench-" });
  const removeSignalHandlers = stopAllOnSignals(() => console.error(`logs kept in ${dir}`));
  let keepDir = false;
  try {
    await assertPortsFree(options.basePort);
    const backends = await Backends.start(dir, options.basePort, hasNginx);
    if (hasNginx) {
      notes.push(
        "POST /echo on the nginx backends answers a fixed small JSON body " +
          '({"ok":true,"echo":"fixed"}); it does not echo the request body',
      );
    }

    if (options.profile) {
      await profile(options, dir, subjects, backends, stamp);
      return 0;
    }

    const measurements = await compare(options, dir, subjects, notes, backends);
    keepDir = measurements.some((m) => m.error);
    await backends.stop();

    const scenarios = options.scenarios.map((n) => scenarioByName(n)!);
    const summaries = summarise(measurements, scenarios, subjects.map((s) => s.name));
    const finished = new Date();
    const settings = `wrk -t1 --timeout ${WRK_TIMEOUT_S}s, ${options.rounds} round(s) × ` +
      `${options.durationS} s (+${options.warmupS} s warm-up), medians; ` +
      `${navigator.hardwareConcurrency} CPUs, loopback; backends: ${backends.kind}`;

    console.log(`\n${settings}\n`);
    // Idle scenarios have no req/s or latency: they have a table of their own.
    const loaded = summaries.filter((s) => scenarioByName(s.scenario)?.kind !== "idle");
    if (loaded.length > 0) console.log(mainTable(loaded));
    const idle = idleTable(summaries, scenarios);
    if (idle) console.log(`\nidle keep-alive connections (memory)\n\n${idle}`);
    const resilience = baselineTable(summaries, scenarios);
    if (resilience) {
      console.log(`\nagainst the all-healthy run\n\n${resilience}`);
      const missing = [
        ...new Set(scenarios.map((sc) => sc.baseline).filter((b) => b !== undefined)),
      ]
        .filter((b) => !options.scenarios.includes(b));
      if (missing.length > 0) {
        console.log(
          `(×healthy needs the baseline scenario too: add ${missing.join(", ")} ` +
            `to --scenarios)`,
        );
      }
    }
    for (const note of notes) console.log(`\nnote: ${note}`);

    await Deno.mkdir(options.outDir, { recursive: true });
    const jsonPath = `${options.outDir}/${stamp}.json`;
    const svgPath = `${options.outDir}/${stamp}.svg`;
    await Deno.writeTextFile(
      jsonPath,
      JSON.stringify(
        {
          version: 1,
          startedAt: started.toISOString(),
          finishedAt: finished.toISOString(),
          command: `deno run -A bench/run.ts ${Deno.args.join(" ")}`.trim(),
          settings,
          options,
          host: {
            cpus: navigator.hardwareConcurrency,
            os: Deno.osRelease(),
            deno: Deno.version.deno,
            wrk: await versionOf("wrk -v"),
            nginx: await versionOf("nginx -v"),
            haproxy: await versionOf("haproxy -v"),
            backends: backends.kind,
          },
          notes,
          scenarios,
          subjects: subjects.map((s) => ({ name: s.name, description: s.description })),
          summaries,
          measurements,
        },
        null,
        2,
      ) + "\n",
    );
    await Deno.writeTextFile(
      svgPath,
      renderChart({
        ...chartText(started.toISOString(), settings),
        scenarios,
        subjects: subjects.map((s) => s.name),
        summaries,
      }),
    );
    console.log(`\nwrote ${jsonPath}\nwrote ${svgPath}`);
    if (keepDir) console.log(`some measurements failed: logs kept in ${dir}`);
    return 0;
  } catch (error) {
    keepDir = true;
    console.error(`bench: ${message(error)}\nlogs kept in ${dir}`);
    return 1;
  } finally {
    await stopAll();
    removeSignalHandlers();
    if (!keepDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main());
