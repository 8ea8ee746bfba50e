/**
 * Starting Deno programs of this repository as child processes: the repository root and the
 * one `deno run` command line the benchmark's subjects and backends and the tools' balancer
 * and mock apps are built with.
 *
 * @module
 */

/** The repository root (where main.ts and deno.json are). */
export const REPO_DIR: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * The V8 flags the balancer ships with, as deno.json's `balance` task gives them (the one place
 * that says them; `tests/deploy_test.ts` checks that every other entry point agrees):
 * `--no-concurrent-recompilation`, so that optimising compilation runs on the main thread and
 * not on helper threads whose memory is not given back (10 MiB less resident with 1,000 idle
 * connections, same CPU per request once warm; bench/README.md, "Memory"). Benchmarks and tools
 * start the balancer with them, so they measure what users run.
 */
export const SHIPPED_V8_FLAGS: readonly string[] = shippedV8Flags();

function shippedV8Flags(): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(`${REPO_DIR}/deno.json`)).tasks;
  const flag = /--v8-flags=(\S+)/.exec(tasks.balance)?.[1];
  return flag === undefined ? [] : flag.split(",");
}

/** `--v8-flags=…`: the shipped V8 flags followed by `extra`; none when both are empty. */
export function v8FlagsArgs(extra: readonly string[] = []): string[] {
  const flags = [...SHIPPED_V8_FLAGS, ...extra];
  return flags.length === 0 ? [] : [`--v8-flags=${flags.join(",")}`];
}

/** What a `deno run` command line adds to its entry point. */
export interface DenoRunOptions {
  /** Flags before the permissions, e.g. `--cpu-prof` (default none). */
  readonly flags?: readonly string[];
  /** Permissions, each given as `--allow-NAME` (default `net`, `read`, `env`: the balancer's). */
  readonly allow?: readonly string[];
}

/** `deno run [flags] --allow-… ENTRY ARGS…` with this Deno binary. */
export function denoRun(
  entry: string,
  args: readonly string[],
  options: DenoRunOptions = {},
): string[] {
  const allow = options.allow ?? ["net", "read", "env"];
  return [
    Deno.execPath(),
    "run",
    ...(options.flags ?? []),
    ...allow.map((permission) => `--allow-${permission}`),
    entry,
    ...args,
  ];
}
