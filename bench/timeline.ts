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
import { printTable, readPhases } from "./timeline_report.ts";

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
