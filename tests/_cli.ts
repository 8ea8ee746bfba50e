/**
 * `roundabout` as an operator runs it: `deno run` of main.ts as a child process, with the
 * permissions and V8 flags deno.json's tasks give it, in an environment of its own.
 *
 * @module
 */

/** The entry point. */
export const MAIN: string = new URL("../main.ts", import.meta.url).pathname;

/** What `deno task balance` and `deno task up` allow, and the V8 flag they set. */
export const TASK_FLAGS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-env",
  "--allow-ffi",
  "--v8-flags=--expose-gc",
];

/** Options of the child; `flags` replaces {@linkcode TASK_FLAGS}. */
export type CliOptions = Omit<Deno.CommandOptions, "args"> & {
  readonly flags?: readonly string[];
};

/**
 * `roundabout ARGS…`: no stdin, a cleared environment with `NO_COLOR=1` plus `env`, and
 * whatever `options` says about stdout and stderr.
 */
export function roundaboutCommand(args: readonly string[], options: CliOptions = {}): Deno.Command {
  const { flags = TASK_FLAGS, env, ...rest } = options;
  return new Deno.Command(Deno.execPath(), {
    stdin: "null",
    clearEnv: true,
    ...rest,
    env: { NO_COLOR: "1", ...env },
    args: ["run", ...flags, MAIN, ...args],
  });
}
