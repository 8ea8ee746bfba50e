/**
 * `roundabout` as an operator runs it: `deno run` of main.ts as a child process, with the
 * permissions and V8 flags deno.json's tasks give it, in an environment of its own.
 *
 * @module
 */

import assert from "node:assert/strict";
import { waitForLine } from "./_helpers.ts";

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

/**
 * `balance` in front of `backend` on free ports with its admin API, as a child with `flags`
 * (default {@linkcode TASK_FLAGS}) and `args` on top; its log lines go to `seen`. Stop it
 * with SIGTERM, then await its `status` and `rest`.
 */
export async function startBalance(
  backend: string,
  args: readonly string[],
  seen: string[],
  flags: readonly string[] = TASK_FLAGS,
): Promise<{
  child: Deno.ChildProcess;
  rest: Promise<void>;
  balancer: string;
  admin: string;
}> {
  const common = ["--port", "0", "--admin-port", "0", "--backend", backend];
  const child = roundaboutCommand(["balance", ...common, ...args], {
    flags,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const { rest } = await waitForLine(child.stderr, /admin API on /, seen);
    const url = (pattern: RegExp) => seen.map((l) => pattern.exec(l)?.[1]).find((u) => u)!;
    return {
      child,
      rest,
      balancer: url(/listening on (http:\/\/\S+?),/),
      admin: url(/admin API on (http:\/\/\S+)/),
    };
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    throw error;
  }
}

/** The sum of every series of `name` in the admin API's metrics, or undefined if absent. */
export async function metric(admin: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const values = text.split("\n").filter((line) =>
    line.startsWith(`${name} `) ||
    line.startsWith(`${name}{`)
  ).map((line) => Number(line.split(" ").at(-1)));
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
}

/** Stops a {@linkcode startBalance} child with SIGTERM and checks that it drained cleanly. */
export async function stopBalance(
  run: { child: Deno.ChildProcess; rest: Promise<void> },
): Promise<void> {
  run.child.kill("SIGTERM");
  assert.equal((await run.child.status).code, 0);
  await run.rest;
}
