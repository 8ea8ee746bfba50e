/**
 * Soak run: at least a million requests through one balancer process, watching its memory.
 *
 * ```sh
 * deno task soak                                     # 1,000,000 requests, 64 connections
 * deno task soak --requests 5000000 --connections 128 --transport fetch
 * ```
 *
 * Backends are one nginx serving three ports (`harness/nginx_backend.conf`) when nginx is
 * installed, else three `roundabout mock normal` processes. The balancer runs as
 * `roundabout balance --access-log off --transport http1` (the faster client; `--transport
 * fetch` for the default one) with its admin API, so its own request counter can be checked
 * against wrk's. wrk drives GET requests: a 5 s calibration gives the rate, the main run
 * lasts long enough for the rest, and short top-up runs follow until the total is reached.
 * The balancer's resident memory (VmRSS) is sampled at the start, every 10 s, and at the end.
 * Loopback only; every child is stopped at the end and on Ctrl-C. Runs with `-A`: reading
 * another process's /proc entries needs every permission in Deno 2.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startNginxBackends } from "../harness/nginx_backends.ts";
import { type Proc, stopAll, stopAllOnSignals } from "../harness/processes.ts";
import { cpuSeconds } from "../harness/procfs.ts";
import { installed } from "../harness/programs.ts";
import { runWrk, type WrkResult, wrkScript } from "../harness/wrk.ts";
import {
  count,
  exitOnHelpOrProblems,
  freePorts,
  mockApp,
  roundabout,
  scrape,
  sleep,
  total,
} from "./_common.ts";
import { MemoryWatch, mib, signed } from "./soak_memory.ts";

const USAGE = `Usage: deno task soak [--requests 1000000] [--connections 64]
                      [--transport http1|fetch] [--backends auto|nginx|deno]`;

interface SoakOptions {
  readonly requests: number;
  readonly connections: number;
  readonly transport: string;
  readonly backends: "auto" | "nginx" | "deno";
}

function options(args: string[]): SoakOptions {
  const { values } = parseArgs({
    args,
    options: {
      requests: { type: "string", default: "1000000" },
      connections: { type: "string", default: "64" },
      transport: { type: "string", default: "http1" },
      backends: { type: "string", default: "auto" },
      help: { type: "boolean", short: "h" },
    },
  });
  const requests = Number(values.requests);
  const connections = Number(values.connections);
  const problems = [
    !Number.isInteger(requests) || requests < 1_000
      ? `--requests ${values.requests}: expected a whole number of at least 1000`
      : "",
    !Number.isInteger(connections) || connections < 1 || connections > 10_000
      ? `--connections ${values.connections}: expected a whole number from 1 to 10000`
      : "",
    !["auto", "fetch", "http1"].includes(values.transport)
      ? "--transport: expected auto, fetch or http1"
      : "",
    !["auto", "nginx", "deno"].includes(values.backends)
      ? "--backends: expected auto, nginx or deno"
      : "",
  ].filter((p) => p !== "");
  exitOnHelpOrProblems(USAGE, values.help, problems);
  return {
    requests,
    connections,
    transport: values.transport,
    backends: values.backends as SoakOptions["backends"],
  };
}

/** Starts the three backends; returns their URLs and the path every one serves cheaply. */
async function startBackends(
  dir: string,
  wanted: SoakOptions["backends"],
): Promise<{ urls: string[]; path: string; kind: string }> {
  const ports = freePorts(3);
  const urls = ports.map((port) => `http://127.0.0.1:${port}`);
  const useNginx = wanted === "nginx" || (wanted === "auto" && await installed("nginx"));
  if (useNginx) {
    // nginx workers run as an unprivileged user when started by root: let them in.
    await Deno.chmod(dir, 0o755);
    await startNginxBackends(dir, [ports[0], ports[1], ports[2]]);
    return { urls, path: "/small", kind: "nginx (one process, three ports)" };
  }
  const mocks = ports.map((port) => mockApp(dir, "normal", port));
  await Promise.all(mocks.map((proc, i) => proc.waitForPort(ports[i], 20_000)));
  return { urls, path: "/health", kind: "three roundabout mock normal processes" };
}

/** One wrk run of `durationS` against `url`; its exact numbers from harness/get.lua. */
function wrk(
  url: string,
  connections: number,
  durationS: number,
  logPath: string,
): Promise<WrkResult> {
  const run = { url, connections, durationS, script: wrkScript("get.lua"), timeoutS: 10, logPath };
  // Killed 30 s after its planned end (the 10 s timeout and 20 s of grace).
  return runWrk(run, 20);
}

/** Starts `roundabout balance` in front of `backends` with its admin API on a second port. */
async function startBalancer(
  dir: string,
  backendUrls: readonly string[],
  transport: string,
): Promise<{ balancer: Proc; port: number; adminUrl: string }> {
  const [port, adminPort] = freePorts(2);
  const balancer = roundabout("balancer", [
    "balance",
    "--port",
    String(port),
    ...backendUrls.flatMap((url) => ["--backend", url]),
    "--access-log",
    "off",
    "--transport",
    transport,
    "--admin-port",
    String(adminPort),
  ], `${dir}/balancer.log`);
  await balancer.waitForPort(port, 20_000);
  await balancer.waitForPort(adminPort, 20_000);
  return { balancer, port, adminUrl: `http://127.0.0.1:${adminPort}` };
}

/**
 * The load: a 5 s calibration gives the rate, the main run lasts long enough for the rest,
 * short top-up runs follow until `opts.requests` were made.
 */
async function load(opts: SoakOptions, url: string, dir: string): Promise<WrkResult[]> {
  const runs: WrkResult[] = [];
  let done = 0;
  const run = async (durationS: number, label: string) => {
    const result = await wrk(url, opts.connections, durationS, `${dir}/wrk-${runs.length}.log`);
    runs.push(result);
    done += result.requests;
    console.log(
      `          ${label}: ${count(result.requests)} requests in ${
        result.durationS.toFixed(1)
      } s ` +
        `(${count(Math.round(result.requests / result.durationS))} req/s), ` +
        `${result.socketErrors + result.statusErrors} errors`,
    );
    return result;
  };
  const calibration = await run(5, "calibration");
  const rate = calibration.requests / calibration.durationS;
  const left = opts.requests - done;
  if (left > 0) await run(Math.max(1, Math.ceil((left / rate) * 1.05)), "main run");
  while (done < opts.requests) {
    await run(Math.max(1, Math.ceil(((opts.requests - done) / rate) * 1.2)), "top-up");
  }
  return runs;
}

/** What the balancer used and kept, measured after the load. */
interface Usage {
  readonly memory: MemoryWatch;
  /** RSS in KiB at the start, at the end of the load, and 5 s after. */
  readonly start: number;
  readonly end: number;
  readonly settled: number;
  /** CPU seconds during the load. */
  readonly cpu: number;
  /** `roundabout_requests_total`, undefined when /metrics did not answer. */
  readonly counted: number | undefined;
}

/** Prints the summary and the verdict; returns the exit code. */
function summary(opts: SoakOptions, runs: readonly WrkResult[], usage: Usage): number {
  const { memory, start, end, settled, cpu, counted } = usage;
  const wall = runs.reduce((s, r) => s + r.durationS, 0);
  const requests = runs.reduce((s, r) => s + r.requests, 0);
  const socketErrors = runs.reduce((s, r) => s + r.socketErrors, 0);
  const statusErrors = runs.reduce((s, r) => s + r.statusErrors, 0);
  const main = runs.length > 1 ? runs[1] : runs[0];
  const lines = [
    "",
    `requests: ${count(requests)} in ${wall.toFixed(1)} s of load (${runs.length} wrk runs)`,
    `req/s: ${count(Math.round(requests / wall))} overall; main run ${
      count(Math.round(main.requests / main.durationS))
    }, latency p50 ${main.latencyMs.p50.toFixed(2)} ms, p99 ${
      main.latencyMs.p99.toFixed(2)
    } ms, max ${main.latencyMs.max.toFixed(0)} ms`,
    `errors: ${count(socketErrors)} socket (connect/read/write/timeout), ` +
    `${count(statusErrors)} responses with status >= 400`,
    `balancer CPU: ${cpu.toFixed(1)} s (${(cpu / wall * 100).toFixed(0)} % of one core)`,
    `balancer RSS: start ${mib(start)}, end ${mib(end)}, peak ${mib(memory.peak)}, ` +
    `5 s after the end ${mib(settled)}; start→end ${signed(end - start)} (warm-up: heap, ` +
    `pools, JIT), first loaded sample→end ${signed(end - (memory.samples[1]?.[1] ?? end))}`,
    `RSS samples (s, MiB): ${
      memory.samples.map(([t, kib]) => `${t.toFixed(0)}:${(kib / 1024).toFixed(0)}`).join(" ")
    }`,
    counted === undefined
      ? "balancer count: /metrics did not answer"
      : `balancer count (roundabout_requests_total): ${count(counted)}; wrk counted ${
        count(requests)
      } (wrk leaves out the answers in flight when each run stops: at most ` +
        `${opts.connections} per run)`,
  ];
  console.log(lines.join("\n"));
  const ok = socketErrors === 0 && statusErrors === 0 && requests >= opts.requests;
  console.log(ok ? "PASS: no errors" : "FAIL: see the errors above");
  return ok ? 0 : 1;
}

async function main(): Promise<number> {
  const opts = options(Deno.args);
  if (!await installed("wrk")) {
    console.error("soak: wrk is not installed (apt-get install wrk)");
    return 2;
  }
  const dir = await Deno.makeTempDir({ prefix: "roundabout-soak-" });
  const removeSignalHandlers = stopAllOnSignals(() => console.error(`logs kept in ${dir}`));
  try {
    const backends = await startBackends(dir, opts.backends);
    const { balancer, port, adminUrl } = await startBalancer(dir, backends.urls, opts.transport);
    console.log(
      `roundabout soak: ${count(opts.requests)} requests, ${opts.connections} connections, ` +
        `transport ${opts.transport}, access log off; backends: ${backends.kind}; ` +
        `wrk -t1 GET ${backends.path}; logs in ${dir}`,
    );
    // Memory: at the start, every 10 s, at the end; the peak of all samples.
    const memory = new MemoryWatch(balancer.pid);
    const start = memory.sample();
    const cpuStart = cpuSeconds(balancer.pid);
    console.log(`       0 s  RSS ${mib(start)} (started, idle)`);
    const stopWatching = memory.watch(adminUrl);
    let runs: WrkResult[];
    try {
      runs = await load(opts, `http://127.0.0.1:${port}${backends.path}`, dir);
    } finally {
      await stopWatching();
    }
    const end = memory.sample();
    const cpu = cpuSeconds(balancer.pid) - cpuStart;
    await sleep(5_000);
    const settled = memory.sample();
    const metrics = await scrape(adminUrl, ["roundabout_requests_total"]);
    if (balancer.exited) throw new Error(`the balancer exited:\n${balancer.tail()}`);
    const counted = metrics === undefined ? undefined : total(metrics, "roundabout_requests_total");
    return summary(opts, runs, { memory, start, end, settled, cpu, counted });
  } finally {
    await stopAll();
    removeSignalHandlers();
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(`soak: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
