/**
 * What the chaos and soak tools share: free loopback ports, the repository's entry point,
 * child processes started as `roundabout` would be, and the balancer's Prometheus counters.
 * Child processes come from `harness/processes.ts`, which logs them to files and stops every
 * one of them from `finally` and on Ctrl-C.
 *
 * @module
 */

import { denoRun, REPO_DIR } from "../harness/deno_run.ts";
import { Proc } from "../harness/processes.ts";

/**
 * The end of a tool's flag parsing: `--help` prints `usage` and exits 0; problems are printed
 * with `usage` and exit 2.
 */
export function exitOnHelpOrProblems(
  usage: string,
  help: boolean | undefined,
  problems: readonly string[],
): void {
  if (help) {
    console.log(usage);
    Deno.exit(0);
  }
  if (problems.length > 0) {
    console.error(`${problems.join("\n")}\n${usage}`);
    Deno.exit(2);
  }
}

/** `count` distinct ports that were free a moment ago on 127.0.0.1. */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const listener of listeners) listener.close();
  return ports;
}

/** Starts `roundabout ARGS…` (deno run main.ts) as a child process logging to `logPath`. */
export function roundabout(name: string, args: readonly string[], logPath: string): Proc {
  return new Proc({
    name,
    cmd: denoRun(`${REPO_DIR}/main.ts`, args),
    cwd: REPO_DIR,
    logPath,
  });
}

/** Starts `roundabout mock KIND --port PORT EXTRA…`, named `KIND :PORT`, logging to `dir`. */
export function mockApp(dir: string, kind: string, port: number, extra: string[] = []): Proc {
  return roundabout(
    `${kind} :${port}`,
    ["mock", kind, "--port", String(port), ...extra],
    `${dir}/${kind}-${port}.log`,
  );
}

/** One sample of a Prometheus counter or gauge: its labels as written, and its value. */
export type Samples = Map<string, number>;

/** Every sample of the metrics `names` in an exposition text, keyed `name{labels}`. */
export function parseSamples(text: string, names: readonly string[]): Samples {
  const samples: Samples = new Map();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const space = line.lastIndexOf(" ");
    const key = line.slice(0, space);
    const name = key.replace(/\{.*$/, "");
    if (names.includes(name)) samples.set(key, Number(line.slice(space + 1)));
  }
  return samples;
}

/** The sum of every sample whose key starts with `name` (all its label sets). */
export function total(samples: Samples, name: string): number {
  let sum = 0;
  for (const [key, value] of samples) {
    if (key === name || key.startsWith(`${name}{`)) sum += value;
  }
  return sum;
}

/** Fetches `/metrics` from an admin API; `undefined` when it does not answer. */
export async function scrape(
  adminUrl: string,
  names: readonly string[],
): Promise<Samples | undefined> {
  try {
    const response = await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    return parseSamples(await response.text(), names);
  } catch {
    return undefined;
  }
}

/** `12345` as `12,345`. */
export function count(n: number): string {
  return n.toLocaleString("en-US");
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });
}
