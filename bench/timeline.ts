/**
 * Where slow requests spend their time at high concurrency: the balancer with its request
 * timeline on (`--timeline --access-log json`) under wrk, the slowest requests listed with the
 * milliseconds of each phase, for each variant (by default without the admission gate, the old
 * behaviour, and with the default gate). Variants run interleaved, round by round.
 *
 * ```sh
 * deno run -A bench/timeline.ts                                   # 1,000 connections, 8 s
 * deno run -A bench/timeline.ts --connections 1000 --duration 8s --rounds 2 --top 10
 * deno run -A bench/timeline.ts --variants "ungated=--max-in-flight 0;gate64=--max-in-flight 64"
 * ```
 *
 * What the table cannot show: the time before the balancer's handler runs (`Deno.serve`
 * accepting and reading the request) and wrk's own queueing; compare the slowest `sent` with
 * wrk's max to see how much that is.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { denoRun } from "../harness/deno_run.ts";
import { installed } from "../harness/programs.ts";
import { portOpen, Proc, stopAll, stopAllOnSignals } from "../harness/processes.ts";
import { runWrk, wrkScript } from "../harness/wrk.ts";
import { assertPortsFree, Backends, PORT_OFFSETS } from "./backends.ts";
import { BALANCER_MAIN } from "./subjects.ts";

/** A request's phases from its JSON access log line (ms since the handler took it up). */
interface Phases {
  /** Not a phase: the answer's status, from the same line. */
  status?: number;
  admitted?: number;
  tryStarted?: number;
  connected?: number;
  written?: number;
  firstByte?: number;
  head?: number;
  bodyRead?: number;
  sent?: number;
}

/** The phases in order, as the columns name them; each column is its own duration. */
const COLUMNS: ReadonlyArray<[string, keyof Phases]> = [
  ["admission wait", "admitted"],
  ["to try start", "tryStarted"],
  ["connection", "connected"],
  ["write", "written"],
  ["to first byte", "firstByte"],
  ["head parsed", "head"],
  ["body read", "bodyRead"],
  ["sent", "sent"],
];

/**
 * Each phase's duration: from the previous phase that was marked to this one. A try that
 * failed has no marks after where it was stuck: the time from its last mark to the answer is
 * shown under the first phase it never finished (`to first byte` for a try that timed out
 * waiting for its answer), and the phases after it as `undefined`. No admission mark means no
 * wait.
 */
function durations(p: Phases): (number | undefined)[] {
  let previous = 0;
  const result = COLUMNS.map(([, phase]) => {
    const mark = p[phase];
    if (mark === undefined) return phase === "admitted" ? 0 : undefined;
    const duration = Math.max(0, mark - previous);
    previous = Math.max(previous, mark);
    return duration;
  });
  const last = result.length - 1; // "sent"
  const stuck = result.findIndex((duration, i) => i > 0 && i < last && duration === undefined);
  if (stuck !== -1) {
    result[stuck] = result[last];
    result[last] = undefined;
  }
  return result;
}

/** Unmeasured load before each measurement, in seconds (as `run.ts --warmup`). */
const WARMUP_S = 1;

const USAGE = `usage: deno run -A bench/timeline.ts [--connections N] [--duration Ns] [--rounds N]
  [--top N] [--variants "name=flags;name=flags"] [--backends healthy|one-slow] [--base-port P]`;

interface Options {
  connections: number;
  durationS: number;
  rounds: number;
  top: number;
  variants: Array<{ name: string; args: string[] }>;
  basePort: number;
  /** `healthy`, or `one-slow`: the third backend answers after 3 s (the timeout is 2 s). */
  backends: "healthy" | "one-slow";
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      connections: { type: "string", default: "1000" },
      duration: { type: "string", default: "8s" },
      rounds: { type: "string", default: "1" },
      top: { type: "string", default: "10" },
      variants: { type: "string", default: "ungated=--max-in-flight 0;gated=" },
      "base-port": { type: "string", default: "18600" },
      backends: { type: "string", default: "healthy" },
    },
  });
  const whole = (name: string, text: string) => {
    const n = Number(text.replace(/s$/, ""));
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`--${name} "${text}": expected a whole number ≥ 1`);
    }
    return n;
  };
  return {
    connections: whole("connections", values.connections!),
    durationS: whole("duration", values.duration!),
    rounds: whole("rounds", values.rounds!),
    top: whole("top", values.top!),
    basePort: whole("base-port", values["base-port"]!),
    backends: backendSet(values.backends!),
    variants: values.variants!.split(";").filter((v) => v.trim() !== "").map((v) => {
      const [name, flags = ""] = v.split("=");
      return { name: name.trim(), args: flags.split(" ").filter((f) => f !== "") };
    }),
  };
}

function backendSet(text: string): "healthy" | "one-slow" {
  if (text === "healthy" || text === "one-slow") return text;
  throw new Error(`--backends "${text}": expected healthy or one-slow`);
}

/** One variant measured once: wrk's summary and every request's phases. */
async function measureVariant(
  options: Options,
  dir: string,
  backends: Backends,
  variant: { name: string; args: string[] },
  round: number,
): Promise<void> {
  const port = options.basePort + PORT_OFFSETS.subject;
  const logPath = `${dir}/${variant.name}-${round}.log`;
  const proc = new Proc({
    name: variant.name,
    logPath,
    cmd: denoRun(BALANCER_MAIN, [
      "balance",
      "--port",
      String(port),
      "--hostname",
      "127.0.0.1",
      ...backends.urls(options.backends).flatMap((url) => ["--backend", url]),
      "--timeout",
      "2s",
      "--retry-downtime",
      "10s",
      "--access-log",
      "json",
      "--timeline",
      ...variant.args,
    ]),
  });
  try {
    for (let i = 0; i < 300 && !(await portOpen(port)); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const load = (durationS: number) =>
      runWrk({
        url: `http://127.0.0.1:${port}/echo`,
        connections: options.connections,
        durationS,
        script: wrkScript("post.lua"),
        timeoutS: 10,
        logPath: `${dir}/wrk.log`,
      });
    // Warm-up as in run.ts (JIT, connection pools): its requests are not in the table.
    await load(WARMUP_S);
    const warmupBytes = (await Deno.stat(logPath)).size;
    const wrk = await load(options.durationS);
    await proc.stop("SIGTERM", 5000);
    const { phases, answers } = await readPhases(logPath, warmupBytes);
    const errors = wrk.statusErrors + wrk.socketErrors;
    console.log(
      `\n${variant.name} (round ${round}, ${variant.args.join(" ") || "defaults"}): ` +
        `${Math.round(wrk.requests / wrk.durationS)} req/s, wrk p50 ${wrk.latencyMs.p50} ms, ` +
        `p99 ${wrk.latencyMs.p99} ms, max ${wrk.latencyMs.max} ms, errors ${errors}; ` +
        `${phases.length} requests timed`,
    );
    console.log(`answers (status, outcome of each try): ${answers}`);
    printTable(phases, options.top);
  } finally {
    await proc.stop();
  }
}

async function readPhases(
  logPath: string,
  fromByte: number,
): Promise<{ phases: Phases[]; answers: string }> {
  // Lines are whole once written: the first one after the warm-up starts at `fromByte` or later.
  const text = new TextDecoder().decode((await Deno.readFile(logPath)).subarray(fromByte));
  const phases: Phases[] = [];
  const outcomes = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const record = JSON.parse(line);
      if (record.phases?.sent === undefined) continue;
      const tries = (record.tries as { outcome: string }[]).map((t) => t.outcome);
      const outcome = `${record.status} ${tries.join(",") || "-"}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      phases.push({ ...record.phases, status: record.status });
    } catch {
      // A line cut by the stop: not a record.
    }
  }
  const counts = [...outcomes].sort((a, b) => b[1] - a[1]).map(([what, n]) => `${what}: ${n}`);
  return { phases, answers: counts.join("; ") };
}

/** The slowest `top` requests by `sent`, each phase's ms; then each phase's p50 and p99. */
function printTable(all: Phases[], top: number): void {
  // 499s are the requests in flight when wrk stopped, not slow ones: left out of the list.
  const slowest = all.filter((p) => p.status !== 499).sort((a, b) => b.sent! - a.sent!)
    .slice(0, top);
  const header = ["", "status", "total ms", ...COLUMNS.map(([name]) => name)];
  const rows = slowest.map((
    p,
    i,
  ) => [`${i + 1}`, `${p.status}`, fmt(p.sent), ...durations(p).map(fmt)]);
  const all_ = all.map(durations);
  const quantile = (q: number) => {
    const at = (values: (number | undefined)[]) => {
      const known = values.filter((v) => v !== undefined).sort((a, b) => a - b);
      return fmt(known[Math.floor(q * (known.length - 1))]);
    };
    const label = q === 0.5 ? "p50" : "p99";
    return [
      label,
      "",
      at(all.map((p) => p.sent)),
      ...COLUMNS.map((_, i) => at(all_.map((d) => d[i]))),
    ];
  };
  const lines = [header, ...rows];
  if (all.length > 0) lines.push(quantile(0.5), quantile(0.99));
  console.log(markdown(lines));
  const failed = all.filter((p) => p.status! >= 400).length;
  if (failed > 0) console.log(`${failed} of ${all.length} timed requests answered ≥ 400`);
}

function fmt(ms: number | undefined): string {
  if (ms === undefined) return "–";
  return ms >= 100 ? String(Math.round(ms)) : ms.toFixed(1);
}

function markdown(lines: string[][]): string {
  const widths = lines[0].map((_, i) => Math.max(...lines.map((line) => line[i].length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i])).join(" | ")} |`;
  const rule = `| ${widths.map((w) => "-".repeat(w - 1) + ":").join(" | ")} |`;
  return [row(lines[0]), rule, ...lines.slice(1).map(row)].join("\n");
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(Deno.args);
  } catch (error) {
    console.error(`timeline: ${error instanceof Error ? error.message : error}\n${USAGE}`);
    return 2;
  }
  if (!(await installed("wrk"))) {
    console.error("timeline: wrk is not installed (sudo apt-get install wrk)");
    return 2;
  }
  const removeHandlers = stopAllOnSignals();
  const dir = await Deno.makeTempDir({ prefix: "roundabout-timeline-" });
  try {
    await assertPortsFree(options.basePort);
    const backends = await Backends.start(dir, options.basePort, await installed("nginx"));
    console.log(
      `timeline: ${options.connections} connections, ${options.durationS} s, POST /echo, ` +
        `${options.backends} backends, ` +
        `phases in ms (each its own duration; total = until the answer was sent); ` +
        `load average ${
          (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ")
        }`,
    );
    for (let round = 1; round <= options.rounds; round++) {
      for (const variant of options.variants) {
        await measureVariant(options, dir, backends, variant, round);
      }
    }
    await backends.stop();
    if (Deno.env.get("TIMELINE_KEEP") === undefined) await Deno.remove(dir, { recursive: true });
    else console.log(`logs kept in ${dir}`);
    return 0;
  } catch (error) {
    console.error(`timeline: ${error instanceof Error ? error.message : error} (logs in ${dir})`);
    return 1;
  } finally {
    await stopAll();
    removeHandlers();
  }
}

if (import.meta.main) Deno.exit(await main());
