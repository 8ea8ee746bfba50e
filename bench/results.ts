/**
 * What a comparison leaves: the tables on the terminal, `<stamp>.json` with every measurement,
 * the medians, the host and tool versions, and `<stamp>.svg`; and `--chart`, which redraws an
 * SVG from an earlier JSON.
 *
 * @module
 */

import { versionOf } from "../harness/programs.ts";
import { renderChart } from "./chart.ts";
import { message, WRK_TIMEOUT_S } from "./measure.ts";
import type { BenchOptions } from "./options.ts";
import {
  baselineTable,
  idleTable,
  mainTable,
  type Measurement,
  summarise,
  type Summary,
} from "./report.ts";
import { type Scenario, scenarioByName } from "./scenarios.ts";
import type { Subject } from "./subjects.ts";

/** A finished comparison, summarised. */
export interface Results {
  readonly options: BenchOptions;
  readonly started: Date;
  readonly finished: Date;
  /** wrk, rounds, durations, CPUs and backends, in one line. */
  readonly settings: string;
  readonly notes: readonly string[];
  readonly scenarios: readonly Scenario[];
  readonly subjects: readonly Subject[];
  readonly summaries: Summary[];
  readonly measurements: readonly Measurement[];
  /** What serves the healthy backends. */
  readonly backends: "nginx" | "deno";
}

/** Medians and ratios of `measurements`, with the run's settings line. */
export function summariseRun(
  options: BenchOptions,
  started: Date,
  notes: readonly string[],
  subjects: readonly Subject[],
  measurements: readonly Measurement[],
  backends: "nginx" | "deno",
): Results {
  const scenarios = options.scenarios.map((n) => scenarioByName(n)!);
  const summaries = summarise(measurements, scenarios, subjects.map((s) => s.name));
  const settings = `wrk -t1 --timeout ${WRK_TIMEOUT_S}s, ${options.rounds} round(s) × ` +
    `${options.durationS} s (+${options.warmupS} s warm-up), medians; ` +
    `${navigator.hardwareConcurrency} CPUs, loopback; backends: ${backends}`;
  const finished = new Date();
  return {
    options,
    started,
    finished,
    settings,
    notes,
    scenarios,
    subjects,
    summaries,
    measurements,
    backends,
  };
}

/** The settings, the main, idle and resilience tables, and the notes. */
export function printResults(results: Results): void {
  const { options, summaries, scenarios } = results;
  console.log(`\n${results.settings}\n`);
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
  for (const note of results.notes) console.log(`\nnote: ${note}`);
}

/** Writes `<outDir>/<stamp>.json` and `.svg` and says so. */
export async function writeResults(results: Results, stamp: string): Promise<void> {
  const { options } = results;
  await Deno.mkdir(options.outDir, { recursive: true });
  const jsonPath = `${options.outDir}/${stamp}.json`;
  const svgPath = `${options.outDir}/${stamp}.svg`;
  await Deno.writeTextFile(jsonPath, JSON.stringify(await resultsJson(results), null, 2) + "\n");
  await Deno.writeTextFile(
    svgPath,
    renderChart({
      ...chartText(results.started.toISOString(), results.settings),
      scenarios: results.scenarios,
      subjects: results.subjects.map((s) => s.name),
      summaries: results.summaries,
    }),
  );
  console.log(`\nwrote ${jsonPath}\nwrote ${svgPath}`);
}

/** The JSON file's content (version 1), host and tool versions included. */
async function resultsJson(results: Results) {
  return {
    version: 1,
    startedAt: results.started.toISOString(),
    finishedAt: results.finished.toISOString(),
    command: `deno run -A bench/run.ts ${Deno.args.join(" ")}`.trim(),
    settings: results.settings,
    options: results.options,
    host: {
      cpus: navigator.hardwareConcurrency,
      os: Deno.osRelease(),
      deno: Deno.version.deno,
      wrk: await versionOf("wrk -v"),
      nginx: await versionOf("nginx -v"),
      haproxy: await versionOf("haproxy -v"),
      backends: results.backends,
    },
    notes: results.notes,
    scenarios: results.scenarios,
    subjects: results.subjects.map((s) => ({ name: s.name, description: s.description })),
    summaries: results.summaries,
    measurements: results.measurements,
  };
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
export async function redraw(jsonPath: string): Promise<number> {
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
