/**
 * `roundabout check-config FILE`: checks a config file (with the environment variables and
 * flags that would apply) and prints the configuration that would be in force, with where
 * each value comes from. Exit status 0 when valid, 2 with one line per problem otherwise.
 *
 * @module
 */

import { getPath, toFile } from "../config/model.ts";
import { envName, SETTINGS } from "../config/settings.ts";
import { envLayer, flagLayer, readFileLayer, resolve, type Resolved } from "../config/sources.ts";
import { BALANCE_FLAGS } from "./balance.ts";
import { parseFlags, quote, UsageError } from "./usage.ts";

export const CHECK_CONFIG_HELP =
  `roundabout check-config: check a config file and show what would be in force

Usage: roundabout check-config FILE [--json] [balance options]

Checks FILE together with the ROUNDABOUT_* environment variables and any "roundabout
balance" options given (which take precedence, as they would when running), lists every
problem at once (exit status 2), or prints each setting with its value and where it comes
from: default, file, env or flag (exit status 0).

Options:
  --json   print {"config": …, "origins": …} instead of a table`;

const SPEC = { ...BALANCE_FLAGS, json: { type: "boolean" } } as const;

/** Runs the command; resolves with the exit status. */
export function checkConfigCommand(args: readonly string[]): Promise<number> {
  const { flags, positionals } = parseFlags("check-config", args, SPEC);
  if (flags.help) {
    console.log(CHECK_CONFIG_HELP);
    return Promise.resolve(0);
  }
  const file = positionals[0] ?? (flags.config as string | undefined);
  if (file === undefined) {
    throw new UsageError("check-config: which file? e.g. roundabout check-config roundabout.json");
  }
  if (positionals.length > 1) {
    throw new UsageError(`check-config: unexpected argument ${quote(positionals[1])}`);
  }
  const resolved = resolve([
    readFileLayer(file, "check-config"),
    envLayer(Deno.env.toObject()),
    flagLayer(flags),
  ]);
  if (flags.json) {
    console.log(JSON.stringify(
      { config: toFile(resolved.settings), origins: Object.fromEntries(resolved.origins) },
      null,
      2,
    ));
  } else {
    console.log(`${file}: valid\n`);
    console.log(effectiveTable(resolved));
  }
  return Promise.resolve(0);
}

/** Every setting with its value and origin, as aligned columns. */
export function effectiveTable(resolved: Resolved): string {
  const file = toFile(resolved.settings);
  const rows: string[][] = [["setting", "value", "from"]];
  for (const { path, field, type } of SETTINGS) {
    const value = getPath(file, path);
    // Secrets (the admin token, the sticky secret) are said to be set, never shown.
    const shown = type === "token"
      ? (getPath(resolved.settings, field) === undefined ? "(unset)" : "(set, not shown)")
      : show(value);
    const origin = resolved.origins.get(path)!;
    const from = origin.source === "default"
      ? "default"
      : origin.source === "file"
      ? `file ${origin.name}`
      : `${origin.source} ${origin.name}`;
    rows.push([path, shown, from]);
  }
  const widths = [0, 1].map((i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) =>
    `${row[0].padEnd(widths[0])}  ${row[1].padEnd(Math.min(widths[1], 48))}  ${row[2]}`
  );
  lines.push(...routingLines(resolved.settings));
  lines.push(
    "",
    `Environment variables: ${envName("timeout")}, ${envName("listen.port")}, … ` +
      "(ROUNDABOUT_ and the setting's path in upper snake case).",
  );
  return lines.join("\n");
}

/** Pools (what each sets of its own) and routes, when configured. */
function routingLines(settings: Resolved["settings"]): string[] {
  if (settings.pools.length === 0 && settings.routes.length === 0) return [];
  const lines = ["", "pools (settings not given come from the top level):"];
  for (const pool of settings.pools) {
    const { backends, ...own } = pool.given;
    const rest = Object.keys(own).length === 0 ? "" : ` ${JSON.stringify(own)}`;
    lines.push(`  ${pool.name}: ${show(backends)}${rest}`);
  }
  lines.push("routes (the first match wins; none matching: default):");
  const file = toFile(settings).routes as Record<string, unknown>[];
  file?.forEach(({ pool, ...match }, i) => {
    lines.push(`  [${i}] ${JSON.stringify(match)} → ${pool}`);
  });
  return lines;
}

function show(value: unknown): string {
  if (value === undefined) return "(unset)";
  if (Array.isArray(value)) {
    if (value.length === 0) return "(none)";
    return value.map((item) =>
      typeof item === "object" && item !== null
        ? `${(item as { url: string }).url} (weight ${(item as { weight: number }).weight})`
        : String(item)
    ).join(", ");
  }
  return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}
