/**
 * Chaos run: steady concurrent traffic through a real balancer process while its backends
 * misbehave, then what the clients saw next to what the balancer counted.
 *
 * ```sh
 * deno task chaos                                   # 30 s, 16 clients
 * deno task chaos --duration 2m --concurrency 32 --transport http1
 * ```
 *
 * Three `normal` mock apps, a `flaky` one and a `delayed` one run as separate processes
 * (`roundabout mock …`), so that one can be killed with SIGKILL and started again; the
 * balancer runs as `roundabout balance --config FILE` with its admin API. Throughout the
 * run, backend 1 is killed with SIGKILL and restarted 2 s later, over and over. On top:
 *
 * 1. `kill`: only that;
 * 2. `slow`: backend 2 is swapped for the `delayed` app by rewriting the config file
 *    (and `POST /reload`);
 * 3. `flaky, idempotent`: backend 2 is the `flaky` app (30 % of answers are 500) and
 *    `retryAfterSend` is `idempotent`, so plain POSTs that fail are not replayed;
 * 4. `reloads`: the same with `retryAfterSend: all`, and the configuration reloaded every
 *    1.5 s (file rewrite, `POST /reload`, `POST /config`), changing a weight and the timeout.
 *
 * Clients send GET, POST, and POST with an `Idempotency-Key` in turn. The run passes when no
 * idempotent request (GET, or POST with a key) failed as a client sees it, and the
 * balancer's `roundabout_requests_total` agrees with the clients' count. Loopback only;
 * every child is stopped at the end and on Ctrl-C (logs are kept in a temporary directory).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseDuration } from "../lib/duration.ts";
import { type Proc, stopAll, stopAllOnSignals } from "../harness/processes.ts";
import {
  exitOnHelpOrProblems,
  freePorts,
  mockApp,
  roundabout,
  type Samples,
  sleep,
} from "./_common.ts";
import { report } from "./chaos_report.ts";
import { type ChaosConfig, type ChaosPorts, ChaosRun, url } from "./chaos_run.ts";
import { client, Tally } from "./chaos_traffic.ts";

const USAGE =
  `Usage: deno task chaos [--duration 30s] [--concurrency 16] [--transport auto|fetch|http1]
                       [--failure-rate 0.3] [--seed 1]`;

interface ChaosOptions {
  readonly durationMs: number;
  readonly concurrency: number;
  readonly transport: string;
  readonly failureRate: number;
  readonly seed: number;
}

function options(args: string[]): ChaosOptions {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: "string", default: "30s" },
      concurrency: { type: "string", default: "16" },
      transport: { type: "string", default: "fetch" },
      "failure-rate": { type: "string", default: "0.3" },
      seed: { type: "string", default: "1" },
      help: { type: "boolean", short: "h" },
    },
  });
  const durationMs = parseDuration(values.duration);
  const concurrency = Number(values.concurrency);
  const failureRate = Number(values["failure-rate"]);
  const problems = [
    durationMs === undefined || durationMs < 12_000
      ? `--duration ${values.duration}: expected a duration of at least 12s`
      : "",
    !Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1_000
      ? `--concurrency ${values.concurrency}: expected a whole number from 1 to 1000`
      : "",
    !["auto", "fetch", "http1"].includes(values.transport)
      ? `--transport: expected auto, fetch or http1`
      : "",
    !(failureRate >= 0 && failureRate <= 1) ? `--failure-rate: expected 0 to 1` : "",
    !/^\d{1,9}$/.test(values.seed) ? `--seed: expected a whole number` : "",
  ].filter((p) => p !== "");
  exitOnHelpOrProblems(USAGE, values.help, problems);
  return {
    durationMs: durationMs!,
    concurrency,
    transport: values.transport,
    failureRate,
    seed: Number(values.seed),
  };
}

async function main(): Promise<number> {
  const opts = options(Deno.args);
  const dir = await Deno.makeTempDir({ prefix: "roundabout-chaos-" });
  const [backend1, backend2, backend3, flaky, delayed, balancer, admin] = freePorts(7);
  const ports = { backend1, backend2, backend3, flaky, delayed, balancer, admin };
  const removeSignalHandlers = stopAllOnSignals(() => console.error(`logs kept in ${dir}`));
  console.log(
    `roundabout chaos: ${opts.durationMs / 1000} s, ${opts.concurrency} clients, transport ` +
      `${opts.transport}; logs in ${dir}`,
  );
  try {
    const first = await startMocks(dir, ports, opts);
    const config = initialConfig(ports, opts.transport);
    const configPath = `${dir}/roundabout.json`;
    const proc = await startBalancer(dir, configPath, config, ports);
    printSetup(ports, opts);
    const run = new ChaosRun(dir, ports, configPath, opts.durationMs, config, first);
    const tally = await runTraffic(run, opts.concurrency);
    const final = await finalCount(run, proc);
    const ejectionLines = (await Deno.readTextFile(`${dir}/balancer.log`)).split("\n")
      .filter((line) => line.includes("marked failed")).length;
    return report({
      tally,
      final,
      highest: run.highest,
      kills: run.kills,
      restarts: run.restarts,
      ejectionLines,
      balancerUrl: url(balancer),
    });
  } finally {
    await stopAll();
    removeSignalHandlers();
  }
}

/** Starts the three normal backends, the flaky and the delayed one; returns backend 1. */
async function startMocks(dir: string, ports: ChaosPorts, opts: ChaosOptions): Promise<Proc> {
  const backend1 = mockApp(dir, "normal", ports.backend1);
  const others = [
    mockApp(dir, "normal", ports.backend2),
    mockApp(dir, "normal", ports.backend3),
    mockApp(dir, "flaky", ports.flaky, [
      "--failure-rate",
      String(opts.failureRate),
      "--seed",
      String(opts.seed),
    ]),
    mockApp(dir, "delayed", ports.delayed, ["--delay", "3s"]),
  ];
  const otherPorts = [ports.backend2, ports.backend3, ports.flaky, ports.delayed];
  await Promise.all([
    backend1.waitForPort(ports.backend1, 20_000),
    ...others.map((proc, i) => proc.waitForPort(otherPorts[i], 20_000)),
  ]);
  return backend1;
}

/** The configuration of the first phase: backends 1 to 3, everything retried. */
function initialConfig(ports: ChaosPorts, transport: string): ChaosConfig {
  return {
    listen: { hostname: "127.0.0.1", port: ports.balancer },
    backends: [url(ports.backend1), url(ports.backend2), url(ports.backend3)],
    timeout: "1s",
    retryDowntime: "2s",
    // Five failures in a row eject, and 5 s of health forgives: the flaky backend stays
    // in rotation most of the time, so its failures keep being retried.
    passive: {
      failuresToEject: 5,
      backoff: "exponential",
      maxEjection: "4s",
      healthySpell: "5s",
    },
    retryAfterSend: "all",
    transport,
    admin: { hostname: "127.0.0.1", port: ports.admin },
    accessLog: "off",
  };
}

/** Writes the config file and starts `roundabout balance --config FILE` with its admin API. */
async function startBalancer(
  dir: string,
  configPath: string,
  config: ChaosConfig,
  ports: ChaosPorts,
): Promise<Proc> {
  await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2));
  const balancer = roundabout(
    "balancer",
    ["balance", "--config", configPath],
    `${dir}/balancer.log`,
  );
  await balancer.waitForPort(ports.balancer, 20_000);
  await balancer.waitForPort(ports.admin, 20_000);
  return balancer;
}

function printSetup(ports: ChaosPorts, opts: ChaosOptions): void {
  console.log(
    `backends: 1 ${url(ports.backend1)} (killed and restarted), 2 ${
      url(ports.backend2)
    } (swapped), 3 ${url(ports.backend3)}; ` +
      `flaky ${url(ports.flaky)} (${opts.failureRate * 100} % 500s); delayed ${
        url(ports.delayed)
      } (3 s); ` +
      `balancer ${url(ports.balancer)}, admin ${url(ports.admin)}; timeout 1s, retryDowntime 2s, ` +
      `failuresToEject 5`,
  );
}

/** The clients and the chaos for the run's duration; the chaos stops first, then the clients. */
async function runTraffic(run: ChaosRun, concurrency: number): Promise<Tally> {
  const tally = new Tally();
  const stopTraffic = new AbortController();
  const balancerUrl = url(run.ports.balancer);
  run.resetClock();
  const workers = Array.from(
    { length: concurrency },
    (_, w) => client(w, balancerUrl, tally, () => run.phase, stopTraffic.signal),
  );
  const chaos = run.start();
  await sleep(run.durationMs);
  run.stop();
  await Promise.all(chaos);
  stopTraffic.abort();
  await Promise.all(workers);
  run.event("traffic stopped; every request answered");
  return tally;
}

/** The counters once the balancer has counted the last answers; throws when it is gone. */
async function finalCount(run: ChaosRun, balancer: Proc): Promise<Samples> {
  // Let the balancer finish its bookkeeping of the last answers.
  await sleep(300);
  const final = await run.scrape();
  if (final === undefined) {
    throw new Error(`the admin API did not answer /metrics:\n${balancer.tail()}`);
  }
  if (balancer.exited) throw new Error(`the balancer exited:\n${balancer.tail()}`);
  return final;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(`chaos: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
