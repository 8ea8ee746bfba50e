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
    ...allow.map((permission) => `--allow-${permission}`),
    entry,
    ...args,
  ];
}
