/**
 * Settings given as text, by command-line flags and `ROUNDABOUT_*` environment variables:
 * each becomes a {@linkcode Layer} of file-shaped values, for the same schema as the file
 * to check, named the way its source names it (`--timeout`, `ROUNDABOUT_TIMEOUT`).
 *
 * @module
 */

import { setPath } from "./model.ts";
import { formatPath, quote } from "./problems.ts";
import { CONFIG_ENV, envName, type Setting, SETTINGS } from "./settings.ts";
import type { Layer } from "./layer.ts";
import { numberFromText, STICKY_TEXT, stickyFromText, unitlessDuration } from "./values.ts";

/** Flag values as `node:util` parseArgs gives them. */
export type FlagValues = Readonly<
  Record<string, string | boolean | (string | boolean)[] | undefined>
>;

/** The settings among command-line flags. */
export function flagLayer(flags: FlagValues): Layer {
  const given = new Map<Setting, string[]>();
  for (const setting of SETTINGS) {
    const value = flags[setting.flag];
    if (value === undefined) continue;
    given.set(setting, (Array.isArray(value) ? value : [value]).map(String));
  }
  return textLayer("flag", "command line", given, (setting) => `--${setting.flag}`);
}

/**
 * The settings among environment variables. An empty variable counts as unset; a
 * `ROUNDABOUT_` variable that names no setting is a problem (a typo must not pass silently).
 */
export function envLayer(env: Readonly<Record<string, string | undefined>>): Layer {
  const given = new Map<Setting, string[]>();
  const known = new Set([...SETTINGS.map((setting) => envName(setting.path)), CONFIG_ENV]);
  const unknown: string[] = [];
  for (const name of Object.keys(env)) {
    if (name.startsWith("ROUNDABOUT_") && !known.has(name)) unknown.push(name);
  }
  for (const setting of SETTINGS) {
    const value = env[envName(setting.path)];
    if (value !== undefined && value !== "") given.set(setting, [value]);
  }
  const layer = textLayer("env", "environment", given, (setting) => envName(setting.path));
  const problems = unknown.sort().map((name) =>
    `${name}: is not a known setting (ROUNDABOUT_ variables: ${[...known].sort().join(", ")})`
  );
  return { ...layer, problems: [...problems, ...layer.problems] };
}

function textLayer(
  source: "env" | "flag",
  name: string,
  given: ReadonlyMap<Setting, readonly string[]>,
  nameOf: (setting: Setting) => string,
): Layer {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [setting, texts] of given) {
    setPath(values, setting.path, fromText(setting, texts, nameOf(setting), problems));
  }
  const settingOf = (path: readonly PropertyKey[]) => {
    const dotted = path.filter((p) => typeof p === "string").join(".");
    return SETTINGS.find((s) => dotted === s.path || dotted.startsWith(`${s.path}.`));
  };
  return {
    source,
    name,
    values,
    problems,
    whereOf: (path) => {
      const setting = settingOf(path);
      return { name: setting ? nameOf(setting) : formatPath(path), style: "flag" };
    },
    originOf: nameOf,
  };
}

/**
 * A flag's or variable's text as the file would hold the value, for the schema to check; a
 * text that cannot be turned into the right type is passed on as it is, for the schema to
 * reject with its usual words. The last of a repeated flag wins, lists gather them all.
 */
function fromText(
  setting: Setting,
  texts: readonly string[],
  label: string,
  problems: string[],
): unknown {
  const last = texts.at(-1)!;
  switch (setting.type) {
    case "bytes":
    case "count":
    case "port":
    case "status":
      return numberFromText(last);
    case "duration": {
      const problem = unitlessDuration(last);
      if (problem !== undefined) problems.push(`${label} ${quote(last)}: ${problem}`);
      return problem === undefined ? last : undefined;
    }
    case "switch":
      return last === "true" ? true : last === "false" ? false : last;
    case "addresses":
    case "list":
      return texts.flatMap((text) => text.split(",")).map((t) => t.trim()).filter((t) => t);
    case "backends":
      return parseBackendList(texts, label, problems);
    case "sticky": {
      const value = stickyFromText(last);
      if (value === undefined) problems.push(`${label} ${quote(last)}: expected ${STICKY_TEXT}`);
      return value;
    }
    default:
      return last;
  }
}

/**
 * The `--backend` syntax: comma-separated items; an item `name=value` (without `://`) is an
 * option of the URL before it, e.g. `http://a:8001,weight=3,http://b:8002`. URLs are checked
 * by the schema; the options' syntax here.
 */
export function parseBackendList(
  texts: readonly string[],
  label: string,
  problems: string[],
): { url: string; weight?: number }[] {
  const backends: { url: string; weight?: number }[] = [];
  for (const text of texts) {
    for (const raw of text.split(",")) {
      const item = raw.trim();
      if (item === "") continue;
      const option = /^([a-z]+)=(.*)$/.exec(item);
      if (!option || item.includes("://")) {
        backends.push({ url: item });
        continue;
      }
      const previous = backends.at(-1);
      const [, name, value] = option;
      if (!previous) {
        problems.push(`${label} ${quote(text)}: ${item} must follow a backend URL`);
      } else if (name !== "weight") {
        problems.push(
          `${label} ${quote(text)}: unknown backend option "${name}" (expected weight)`,
        );
      } else if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1_000) {
        problems.push(
          `${label} ${quote(text)}: weight ${quote(value)} is not a whole number from 1 to 1000`,
        );
      } else {
        previous.weight = Number(value);
      }
    }
  }
  return backends;
}
