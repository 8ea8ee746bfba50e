/**
 * `roundabout` as an operator runs it: `deno run` of main.ts as a child process, with the
 * permissions deno.json's tasks give it, in an environment of its own.
 *
 * @module
 */

/** The entry point. */
export const MAIN: string = new URL("../main.ts", import.meta.url).pathname;

/** What `deno task balance` and `deno task up` allow. */
export const TASK_PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-read",
  "--allow-env",
  "--allow-ffi",
];

/** Options of the child; `permissions` replaces {@linkcode TASK_PERMISSIONS}. */
export type CliOptions = Omit<Deno.CommandOptions, "args"> & {
  readonly permissions?: readonly string[];
};

/**
 * `roundabout ARGS…`: no stdin, a cleared environment with `NO_COLOR=1` plus `env`, and
 * whatever `options` says about stdout and stderr.
 */
export function roundaboutCommand(args: readonly string[], options: CliOptions = {}): Deno.Command {
  const { permissions = TASK_PERMISSIONS, env, ...rest } = options;
  return new Deno.Command(Deno.execPath(), {
    stdin: "null",
    clearEnv: true,
    ...rest,
    env: { NO_COLOR: "1", ...env },
    args: ["run", ...permissions, MAIN, ...args],
  });
}
