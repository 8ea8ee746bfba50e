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
  /**
   * V8 flags (default `--expose-gc`, the balancer's: its idle heap compaction). Any
   * `--v8-flags=…` among `flags` joins them, so a command line shows them together.
   */
  readonly v8?: readonly string[];
}

/** The balancer's V8 flags, as deno.json's tasks give them. */
export const BALANCER_V8_FLAGS: readonly string[] = ["--expose-gc"];

/** `deno run [flags] --allow-… ENTRY ARGS…` with this Deno binary. */
export function denoRun(
  entry: string,
  args: readonly string[],
  options: DenoRunOptions = {},
): string[] {
  const allow = options.allow ?? ["net", "read", "env", "ffi"];
  const v8 = [...options.v8 ?? BALANCER_V8_FLAGS];
  const flags: string[] = [];
  for (const flag of options.flags ?? []) {
    if (flag.startsWith("--v8-flags=")) v8.push(...flag.slice("--v8-flags=".length).split(","));
    else flags.push(flag);
  }
  return [
    Deno.execPath(),
    "run",
    ...flags,
    ...(v8.length > 0 ? [`--v8-flags=${v8.join(",")}`] : []),
    ...allow.map((permission) => `--allow-${permission}`),
    entry,
    ...args,
  ];
}
