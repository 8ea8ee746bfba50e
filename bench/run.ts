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

import { installed } from "../harness/programs.ts";
import { stopAll, stopAllOnSignals } from "../harness/processes.ts";
import { assertPortsFree, Backends } from "./backends.ts";
import { compare } from "./compare.ts";
import { message } from "./measure.ts";
import { type BenchOptions, parseOptions, USAGE } from "./options.ts";
import { profile } from "./profile.ts";
import { printResults, redraw, summariseRun, writeResults } from "./results.ts";
import { type Subject, subjectByName } from "./subjects.ts";

function timestamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-` +
    `${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}`;
}

/** The flags, or the exit code when there is nothing to run (`--help`, bad flags). */
function cliOptions(args: string[]): BenchOptions | number {
  const parsed = parseOptions(args);
  if (parsed === "help") {
    console.log(USAGE);
    return 0;
  }
  if (Array.isArray(parsed)) {
    console.error(`bench: ${parsed.join("; ")} (see --help)`);
    return 2;
  }
  return parsed;
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

/** What this machine offers: nginx for the backends, and the subjects that can run. */
async function survey(
  options: BenchOptions,
  notes: string[],
): Promise<{ hasNginx: boolean; subjects: Subject[] }> {
  const hasNginx = await installed("nginx");
  if (!hasNginx) {
    notes.push(
      "nginx not installed: backends are bench/deno_backend.ts servers, which may be " +
        "slower than the proxies they serve (sudo apt-get install nginx)",
    );
  }
  const subjects = await usableSubjects(options.subjects, notes);
  for (const note of notes) console.log(`note: ${note}`);
  return { hasNginx, subjects };
}

/** Checks the run's ports and starts the shared backends. */
async function startBackends(
  options: BenchOptions,
  dir: string,
  hasNginx: boolean,
  notes: string[],
): Promise<Backends> {
  await assertPortsFree(options.basePort);
  const backends = await Backends.start(dir, options.basePort, hasNginx);
  if (hasNginx) {
    notes.push(
      "POST /echo on the nginx backends answers a fixed small JSON body " +
        '({"ok":true,"echo":"fixed"}); it does not echo the request body',
    );
  }
  return backends;
}

async function main(): Promise<number> {
  const options = cliOptions(Deno.args);
  if (typeof options === "number") return options;
  if (options.chart) return await redraw(options.chart);
  if (!(await installed("wrk"))) {
    console.error("wrk not found: install it with `sudo apt-get install wrk`");
    return 2;
  }

  const started = new Date();
  const stamp = timestamp(started);
  const notes: string[] = [];
  const { hasNginx, subjects } = await survey(options, notes);
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
    const backends = await startBackends(options, dir, hasNginx, notes);
    if (options.profile) {
      await profile(options, dir, subjects, backends, stamp);
      return 0;
    }
    const measurements = await compare(options, dir, subjects, notes, backends);
    keepDir = measurements.some((m) => m.error);
    await backends.stop();
    const results = summariseRun(options, started, notes, subjects, measurements, backends.kind);
    printResults(results);
    await writeResults(results, stamp);
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
