/**
 * Starting Deno programs of this repository as child processes: the repository root and the
 * one `deno run` command line the benchmark's subjects and backends and the tools' balancer
 * and mock apps are built with.
 *
 * @module
 */

/** The repository root (where main.ts and deno.json are). */
export const REPO_DIR: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** What a `deno run` command line adds to its entry point. */
export interface DenoRunOptions {
  /** Flags before the permissions, e.g. `--cpu-prof` (default none). */
  readonly flags?: readonly string[];
  /** Permissions, each given as `--allow-NAME` (default `net`, `read`, `env`, `ffi`: the balancer's). */
  readonly allow?: readonly string[];
}

/**
 * The balancer's V8 flag, as deno.json's tasks give it (its idle heap compaction). Deno
 * applies every `--v8-flags` it is given, so one more among `flags` adds to it.
 */
const BALANCER_V8_FLAGS = "--v8-flags=--expose-gc";

/** `deno run [flags] --allow-… ENTRY ARGS…` with this Deno binary. */
export function denoRun(
  entry: string,
  args: readonly string[],
  options: DenoRunOptions = {},
): string[] {
  const allow = options.allow ?? ["net", "read", "env", "ffi"];
  return [
    Deno.execPath(),
    "run",
    ...(options.flags ?? []),
    BALANCER_V8_FLAGS,
    ...allow.map((permission) => `--allow-${permission}`),
    entry,
    ...args,
  ];
}
