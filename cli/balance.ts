/**
 * `roundabout balance`: run the load balancer in front of the given backends, configured by
 * flags, environment variables and a config file (in that order of precedence).
 *
 * @module
 */

import { LineBuffer, writeAll } from "../balancer/access_log.ts";
import {
  CONFIG_DESCRIPTION,
  CONFIG_ENV,
  defaultText,
  envName,
  flagUsage,
  type Setting,
  SETTINGS,
} from "../config/settings.ts";
import { envLayer, flagLayer, type Layer, readFileLayer, resolve } from "../config/sources.ts";
import { formatDuration } from "../lib/duration.ts";
import { type Instance, startInstance } from "../app/instance.ts";
import { explainListenError, untilStopped } from "./lifecycle.ts";
import { type Flags, type FlagSpec, parseFlags, quote, stringFlag, UsageError } from "./usage.ts";

/** The flags every setting has, plus `--config`; shared with `up` and `check-config`. */
export const BALANCE_FLAGS: FlagSpec = {
  config: { type: "string" },
  ...Object.fromEntries(SETTINGS.map((setting) => [setting.flag, flagSpec(setting)])),
};

function flagSpec(setting: Setting): FlagSpec[string] {
  if (setting.type === "switch") return { type: "boolean" };
  const repeatable = ["backends", "addresses", "list"].includes(setting.type);
  return { type: "string", multiple: repeatable };
}

const HELP_GROUPS: readonly Setting["group"][] = [
  "Backends",
  "Listening",
  "Behaviour",
  "Health",
  "Operations",
];

/** The flag section of `--help`, from the settings' declarations (`skip`: flags left out). */
export function settingsHelp(skip: readonly string[] = []): string {
  const lines: string[] = [];
  for (const group of HELP_GROUPS) {
    const listed = SETTINGS.filter((s) => s.group === group && !skip.includes(s.flag));
    if (listed.length > 0) lines.push(`${group}:`);
    for (const setting of listed) {
      const text = `${setting.description} Default ${defaultText(setting)}. ` +
        `[${envName(setting.path)}]`;
      lines.push(...wrap(flagUsage(setting), text));
    }
  }
  return lines.join("\n");
}

function wrap(left: string, text: string): string[] {
  const width = 96;
  const indent = 29;
  const words = text.split(" ");
  const lines: string[] = [];
  let line = `  ${left}`.padEnd(indent - 1);
  if (line.length > indent - 1) {
    lines.push(line);
    line = "".padEnd(indent - 1);
  }
  for (const word of words) {
    if (line.length + 1 + word.length > width && line.trim() !== "") {
      lines.push(line);
      line = "".padEnd(indent - 1);
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

export const BALANCE_HELP = `roundabout balance: an HTTP load balancer in front of your backends

Usage: roundabout balance --backend URL [--backend URL ...] [options]
       roundabout balance --config roundabout.json [options]

Configuration:
${wrap("--config FILE", `${CONFIG_DESCRIPTION} [${CONFIG_ENV}]`).join("\n")}
${settingsHelp()}

Durations: 250ms, 2s, 1m; a unit is required (the config file also takes a number of
milliseconds). Each setting also reads the environment variable in brackets.
"roundabout check-config FILE" shows what is in force.`;

/** Runs the command; resolves with the exit status once stopped. */
export async function balanceCommand(args: readonly string[]): Promise<number> {
  const { flags, positionals } = parseFlags("balance", args, BALANCE_FLAGS);
  if (flags.help) {
    console.log(BALANCE_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`balance: unexpected argument ${quote(positionals[0])} (see --help)`);
  }
  const env = Deno.env.toObject();
  const { sources, configPath } = balanceSources(flags, env);
  const resolved = resolve(sources());
  if (resolved.settings.workers > 1) {
    // Loaded only for several workers: it also brings the config file watch (node:path).
    const { runWorkers } = await import("./workers.ts");
    return await runWorkers({ args, env, settings: resolved.settings, configPath });
  }
  const stdout = new LineBuffer((bytes) => writeAll(Deno.stdout, bytes));
  const log = (line: string) => console.error(`[balancer] ${line}`);
  const instance = await startOrExplain(() =>
    startInstance({
      resolved,
      sources,
      log,
      accessLog: stdout.push,
      isTerminal: Deno.stdout.isTerminal(),
      watch: configPath,
    })
  );
  await runUntilStopped(instance, log, stdout);
  return 0;
}

/** The sources of `balance`'s settings, lowest precedence first, and the config file. */
export function balanceSources(
  flags: Flags,
  env: Readonly<Record<string, string>>,
): { sources: () => Layer[]; configPath?: string } {
  const configPath = stringFlag(flags, "config") ?? (env[CONFIG_ENV] || undefined);
  const via = stringFlag(flags, "config") === undefined ? CONFIG_ENV : "--config";
  const sources = (): Layer[] => [
    ...(configPath === undefined ? [] : [readFileLayer(configPath, via)]),
    envLayer(env),
    flagLayer(flags),
  ];
  return { sources, configPath };
}

/** Starts an instance, turning an address that cannot be bound into a UsageError. */
export async function startOrExplain(start: () => Promise<Instance>): Promise<Instance> {
  try {
    return await start();
  } catch (error) {
    explainListenError(error);
  }
}

/**
 * Reloads on SIGHUP; on SIGINT or SIGTERM stops accepting, lets in-flight requests finish
 * within the grace period, and flushes the logs.
 */
export async function runUntilStopped(
  instance: Instance,
  log: (line: string) => void,
  stdout: LineBuffer,
): Promise<void> {
  const onHangup = () => {
    instance.live.reload("SIGHUP").catch((error) => log(`reload failed: ${error}`));
  };
  Deno.addSignalListener("SIGHUP", onHangup);
  await untilStopped(async (signal) => {
    Deno.removeSignalListener("SIGHUP", onHangup);
    await stopInstance(instance, signal, log, stdout);
  });
}

/**
 * Stops accepting, lets in-flight requests finish within the configured grace period,
 * saying so in the log, and flushes the access log.
 */
export async function stopInstance(
  instance: Instance,
  signal: string,
  log: (line: string) => void,
  stdout: LineBuffer,
): Promise<void> {
  const graceMs = instance.live.settings.shutdownGraceMs;
  const inFlight = instance.running.balancer.backends.reduce((n, b) => n + b.inFlight, 0);
  log(
    `${signal}: stopped accepting; waiting up to ${
      formatDuration(graceMs)
    } for ${inFlight} request(s) in flight`,
  );
  const drained = await instance.stop(graceMs);
  log(
    drained
      ? "every request finished; stopped"
      : `grace period of ${formatDuration(graceMs)} over: exiting with requests in flight`,
  );
  await stdout.flush();
}
