/**
 * Command-line flags of bench/run.ts, validated once: every problem is reported at once.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { QUICK_SCENARIOS, SCENARIOS } from "./scenarios.ts";
import { SUBJECTS } from "./subjects.ts";

/** What a benchmark run does. */
export interface BenchOptions {
  /** Seconds wrk measures each subject per scenario per round. Default 10 (3 with --quick). */
  readonly durationS: number;
  /** Seconds of untimed load before each measurement (JIT, connection pools). Default 1. */
  readonly warmupS: number;
  /** Rounds; every round measures every subject once per scenario. Default 3 (1 with --quick). */
  readonly rounds: number;
  /** Scenario names, in run order. Default all (two with --quick). */
  readonly scenarios: readonly string[];
  /** Subject names, in report order. Default all. */
  readonly subjects: readonly string[];
  /** Backends listen on base+1…base+5, the subject on base+10. Default 18100. */
  readonly basePort: number;
  /** Where the JSON and SVG go. Default bench/results. */
  readonly outDir: string;
  /** Profile mode: CPU-profile the Deno subjects instead of comparing. */
  readonly profile: boolean;
  /** Functions listed by the profile summary. Default 25. */
  readonly top: number;
  /** Only redraw the SVG of an earlier run from its JSON file. */
  readonly chart?: string;
  /**
   * CPUs the subject is pinned to (`taskset -c`), e.g. `0` or `0,1`; unset: not pinned. Run
   * the bench itself under `taskset -c 1` to keep wrk and the backends off the subject's CPU.
   */
  readonly subjectCpus?: string;
}

export const USAGE = `Usage: deno run -A bench/run.ts [flags]

Measures Roundabout against direct, nginx, haproxy and a naive Deno proxy with wrk.

  --duration 10s       measured time per subject, scenario and round (default 10s)
  --warmup 1s          unmeasured load before each measurement (default 1s, 0s for none)
  --rounds 3           rounds; subjects are interleaved within each round (default 3)
  --scenarios a,b      scenarios to run (default all): ${SCENARIOS.map((s) => s.name).join(", ")}
  --subjects x,y       subjects to run (default all): ${SUBJECTS.map((s) => s.name).join(", ")}
  --quick              smoke run: 1 round of 3s, scenarios ${
  QUICK_SCENARIOS.join(",")
} (about a minute)
  --base-port 18100    backends use base+1..base+5, the subject base+10
  --out bench/results  where <timestamp>.json and <timestamp>.svg are written
  --profile            CPU-profile each chosen Deno subject under load (default: roundabout-fetch,
                       post-small-c64, 10s) and print its top functions by self time
  --top 25             functions listed by --profile
  --chart FILE.json    only redraw FILE.svg from an earlier run's JSON
  --subject-cpus 0     pin each subject to these CPUs (taskset -c); start the bench itself
                       with "taskset -c 1" so that wrk and the backends keep to the others
  --help               this text
`;

/** Seconds in `10s`, `500ms`, `1m` or a bare number of seconds; NaN when malformed. */
export function parseDurationS(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) return NaN;
  const n = Number(match[1]);
  return match[2] === "ms" ? n / 1000 : match[2] === "m" ? n * 60 : n;
}

const FLAGS = {
  duration: { type: "string" },
  warmup: { type: "string", default: "1s" },
  rounds: { type: "string" },
  scenarios: { type: "string" },
  subjects: { type: "string" },
  quick: { type: "boolean", default: false },
  "base-port": { type: "string", default: "18100" },
  out: { type: "string" },
  profile: { type: "boolean", default: false },
  top: { type: "string", default: "25" },
  chart: { type: "string" },
  "subject-cpus": { type: "string" },
  help: { type: "boolean", default: false },
} as const;

/** The flags as given, before validation. */
type Flags = ReturnType<typeof parseArgs<{ options: typeof FLAGS }>>["values"];

/** Parsed options, `"help"`, or every problem found (each one line). */
export function parseOptions(args: readonly string[]): BenchOptions | "help" | string[] {
  let values: Flags;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: FLAGS,
    }));
  } catch (error) {
    return [(error instanceof Error ? error.message : String(error)).split("\n")[0]];
  }
  if (values.help) return "help";
  const problems: string[] = [];
  const numbers = numberFlags(values, problems);
  const names = nameFlags(values, problems);
  if (problems.length > 0) return problems;
  // In this order: the results JSON lists the options as they are here.
  return {
    durationS: numbers.durationS,
    warmupS: numbers.warmupS,
    rounds: numbers.rounds,
    scenarios: names.scenarios,
    subjects: names.subjects,
    basePort: numbers.basePort,
    outDir: values.out ?? new URL("./results", import.meta.url).pathname,
    profile: values.profile,
    top: numbers.top,
    chart: values.chart,
    subjectCpus: values["subject-cpus"],
  };
}

/** Durations, rounds, the base port and `--top`, with their defaults; problems are added. */
function numberFlags(values: Flags, problems: string[]) {
  const { quick, profile } = values;
  const durationS = parseDurationS(values.duration ?? (quick ? "3s" : "10s"));
  if (!Number.isInteger(durationS) || durationS < 1 || durationS > 600) {
    problems.push(
      `--duration must be whole seconds from 1s to 10m, e.g. 10s: got "${values.duration}"`,
    );
  }
  const warmupS = parseDurationS(values.warmup);
  if (!Number.isInteger(warmupS) || warmupS < 0 || warmupS > 60) {
    problems.push(`--warmup must be whole seconds from 0s to 60s, e.g. 1s: got "${values.warmup}"`);
  }
  const roundsText = values.rounds ?? (quick || profile ? "1" : "3");
  const rounds = Number(roundsText);
  if (!/^\d+$/.test(roundsText) || rounds < 1 || rounds > 50) {
    problems.push(`--rounds must be a whole number from 1 to 50: got "${roundsText}"`);
  }
  const basePort = Number(values["base-port"]);
  if (!/^\d+$/.test(values["base-port"]) || basePort < 1024 || basePort > 65_000) {
    problems.push(`--base-port must be a port from 1024 to 65000: got "${values["base-port"]}"`);
  }
  const cpus = values["subject-cpus"];
  if (cpus !== undefined && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(cpus)) {
    problems.push(`--subject-cpus must be a CPU list such as 0 or 0,1 or 0-3: got "${cpus}"`);
  }
  const top = Number(values.top);
  if (!/^\d+$/.test(values.top) || top < 1) {
    problems.push(`--top must be a whole number ≥ 1: got "${values.top}"`);
  }
  return { durationS, warmupS, rounds, basePort, top };
}

/** `--scenarios` and `--subjects` (defaults by mode), in their declared order. */
function nameFlags(values: Flags, problems: string[]) {
  const { quick, profile } = values;
  const list = (flag: string, text: string | undefined, known: string[], fallback: string[]) => {
    if (text === undefined) return fallback;
    const names = text.split(",").map((s) => s.trim()).filter(Boolean);
    const unknown = names.filter((n) => !known.includes(n));
    if (unknown.length > 0 || names.length === 0) {
      problems.push(
        `--${flag}: unknown ${unknown.join(", ") || "(empty list)"}; ` +
          `expected some of ${known.join(", ")}`,
      );
    }
    return names;
  };
  const scenarioNames = SCENARIOS.map((s) => s.name);
  const subjectNames = SUBJECTS.map((s) => s.name);
  const scenarios = list(
    "scenarios",
    values.scenarios,
    scenarioNames,
    profile ? ["post-small-c64"] : quick ? [...QUICK_SCENARIOS] : scenarioNames,
  );
  const subjects = list(
    "subjects",
    values.subjects,
    subjectNames,
    profile ? ["roundabout-fetch"] : subjectNames,
  );
  if (profile) {
    const notDeno = subjects.filter((n) => !SUBJECTS.find((s) => s.name === n)?.deno);
    if (notDeno.length > 0) {
      problems.push(`--profile works on Deno subjects only: not ${notDeno.join(", ")}`);
    }
  }
  return {
    // Keep the declared order, whatever order the flags named them in.
    scenarios: scenarioNames.filter((n) => scenarios.includes(n)),
    subjects: subjectNames.filter((n) => subjects.includes(n)),
  };
}
