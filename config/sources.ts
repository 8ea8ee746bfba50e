/**
 * Where settings come from, and how they combine: command-line flags over environment
 * variables (`ROUNDABOUT_*`) over the config file over the defaults. Each source is a
 * {@linkcode Layer} holding file-shaped values; every layer is checked by the same schema and
 * every problem in every layer is reported at once, named the way its source names it.
 *
 * @module
 */

import type * as z from "zod";
import { envName, type Field, FIELDS } from "./fields.ts";
import { JsoncError, parseJsonc } from "./jsonc.ts";
import {
  CONFIG_FILE,
  type ConfigFile,
  DEFAULT_SETTINGS,
  isLoopback,
  repeatedBackends,
  type Settings,
  toSettings,
} from "./model.ts";
import { ConfigError, formatPath, issueLines, problemLine, quote, type Where } from "./problems.ts";

/** Where one setting's value came from (`api`: changed through the admin API). */
export type Source = "default" | "file" | "env" | "flag" | "api";

/** A setting's origin as `check-config` shows it. */
export interface Origin {
  readonly source: Source;
  /** The file, variable or flag that gave it, e.g. `--timeout`; `default` for defaults. */
  readonly name: string;
}

/** Settings given by one source, as file-shaped values not yet checked. */
export interface Layer {
  readonly source: Exclude<Source, "default" | "api">;
  /** The file's name, or `environment` / `command line`. */
  readonly name: string;
  readonly values: Record<string, unknown>;
  /** Problems found before the schema could look (a file that is not JSON, flag syntax). */
  readonly problems: readonly string[];
  /** How a path inside `values` is named in a message. */
  whereOf(path: readonly PropertyKey[]): Where;
  /** How a setting given here is named in `check-config`. */
  originOf(field: Field): string;
}

/** A configuration that passed every check, with where each setting came from. */
export interface Resolved {
  readonly settings: Settings;
  /** By field path (see `fields.ts`). */
  readonly origins: ReadonlyMap<string, Origin>;
}

/** A config file's text as a layer; a syntax error is a problem of the layer. */
export function fileLayer(name: string, text: string): Layer {
  try {
    return objectLayer(name, parseJsonc(text));
  } catch (error) {
    if (!(error instanceof JsoncError)) throw error;
    return { ...objectLayer(name, {}), problems: [`${name}: not valid JSON: ${error.message}`] };
  }
}

/**
 * An already parsed document as a file layer: the body of `POST /config`, or a topology's
 * `balancer` section. `name` prefixes its problems (empty for none).
 */
export function objectLayer(name: string, document: unknown): Layer {
  const prefix = name === "" ? "" : `${name}: `;
  return {
    source: "file",
    name,
    values: document as Record<string, unknown>,
    problems: [],
    whereOf: (path) => ({ name: prefix + formatPath(path), style: "path" }),
    originOf: () => name === "" ? "file" : name,
  };
}

/** Reads a config file named by `--config` (or `via`); an unreadable file is a problem. */
export function readFileLayer(path: string, via = "--config"): Layer {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Error
      ? error.message
      : String(error);
    return {
      ...objectLayer(path, {}),
      problems: [`${via} ${quote(path)}: cannot read it (${reason})`],
    };
  }
  return fileLayer(path, text);
}

/** Flag values as `node:util` parseArgs gives them. */
export type FlagValues = Readonly<
  Record<string, string | boolean | (string | boolean)[] | undefined>
>;

/** The settings among command-line flags. */
export function flagLayer(flags: FlagValues): Layer {
  const given = new Map<Field, string[]>();
  for (const field of FIELDS) {
    const value = flags[field.flag];
    if (value === undefined) continue;
    given.set(field, (Array.isArray(value) ? value : [value]).map(String));
  }
  return textLayer("flag", "command line", given, (field) => `--${field.flag}`);
}

/**
 * The settings among environment variables. An empty variable counts as unset; a
 * `ROUNDABOUT_` variable that names no setting is a problem (a typo must not pass silently).
 */
export function envLayer(env: Readonly<Record<string, string | undefined>>): Layer {
  const given = new Map<Field, string[]>();
  const known = new Set([...FIELDS.map((field) => envName(field.path)), "ROUNDABOUT_CONFIG"]);
  const unknown: string[] = [];
  for (const name of Object.keys(env)) {
    if (name.startsWith("ROUNDABOUT_") && !known.has(name)) unknown.push(name);
  }
  for (const field of FIELDS) {
    const value = env[envName(field.path)];
    if (value !== undefined && value !== "") given.set(field, [value]);
  }
  const layer = textLayer("env", "environment", given, (field) => envName(field.path));
  const problems = unknown.sort().map((name) =>
    `${name}: is not a known setting (ROUNDABOUT_ variables: ${[...known].sort().join(", ")})`
  );
  return { ...layer, problems: [...problems, ...layer.problems] };
}

function textLayer(
  source: "env" | "flag",
  name: string,
  given: ReadonlyMap<Field, readonly string[]>,
  nameOf: (field: Field) => string,
): Layer {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [field, texts] of given) {
    const label = nameOf(field);
    let value: unknown;
    switch (field.kind) {
      case "text":
        value = texts.at(-1);
        break;
      case "integer": {
        const text = texts.at(-1)!;
        value = /^\d{1,15}$/.test(text) ? Number(text) : text;
        break;
      }
      case "list":
        value = texts.flatMap((text) => text.split(",")).map((t) => t.trim()).filter((t) => t);
        break;
      case "backends":
        value = parseBackendList(texts, label, problems);
        break;
      case "boolean": {
        const text = texts.at(-1)!;
        value = text === "true" ? true : text === "false" ? false : text;
        break;
      }
    }
    setPath(values, field.path.split("."), value);
  }
  const fieldOf = (path: readonly PropertyKey[]) => {
    const dotted = path.filter((p) => typeof p === "string").join(".");
    return FIELDS.find((f) => dotted === f.path || dotted.startsWith(`${f.path}.`));
  };
  return {
    source,
    name,
    values,
    problems,
    whereOf: (path) => {
      const field = fieldOf(path);
      return { name: field ? nameOf(field) : formatPath(path), style: "flag" };
    },
    originOf: nameOf,
  };
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

/** Zod's words for the few issues our schema does not word itself. */
function fallbackMessage(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === "invalid_type") {
    return `expected ${issue.expected === "object" ? "an object" : `a ${issue.expected}`}`;
  }
  return undefined;
}

/**
 * Checks one layer against the schema.
 *
 * @returns one line per problem, and the paths (dotted, without array indexes) with a
 * problem, so that cross-checks can leave them alone.
 */
export function checkLayer(layer: Layer): { lines: string[]; bad: Set<string> } {
  const lines = [...layer.problems];
  const bad = new Set<string>();
  if (
    layer.problems.length > 0 && layer.source === "file" && Object.keys(layer.values).length === 0
  ) {
    return { lines, bad };
  }
  const result = CONFIG_FILE.safeParse(layer.values, { reportInput: true, error: fallbackMessage });
  if (!result.success) {
    lines.push(...issueLines(result.error.issues, layer.whereOf, CONFIG_FILE));
    for (const issue of result.error.issues) {
      const keys = issue.code === "unrecognized_keys" ? issue.keys : [undefined];
      for (const key of keys) {
        const path = key === undefined ? issue.path : [...issue.path, key];
        bad.add(path.filter((p) => typeof p === "string").join("."));
      }
    }
  }
  for (const [i, text] of repeatedBackends(layer.values?.backends)) {
    const entry = (layer.values.backends as unknown[])[i];
    const path = typeof entry === "string" ? ["backends", i] : ["backends", i, "url"];
    lines.push(problemLine(layer.whereOf(path), "is given twice", { value: text }));
    bad.add("backends");
  }
  return { lines, bad };
}

/**
 * Combines layers (lowest precedence first) over the defaults, checking everything.
 *
 * @throws {ConfigError} listing every problem in every layer.
 */
export function resolve(layers: readonly Layer[], defaults: Settings = DEFAULT_SETTINGS): Resolved {
  const problems: string[] = [];
  const badPaths = new Map<Layer, Set<string>>();
  for (const layer of layers) {
    const { lines, bad } = checkLayer(layer);
    problems.push(...lines);
    badPaths.set(layer, bad);
  }
  const merged: Record<string, unknown> = {};
  const origins = new Map<string, Origin>();
  const deciding = new Map<string, Layer>();
  for (const field of FIELDS) {
    const path = field.path.split(".");
    let decided: Layer | undefined;
    for (const layer of layers) {
      if (getPath(layer.values, path) !== undefined) decided = layer;
    }
    if (decided) {
      setPath(merged, path, getPath(decided.values, path));
      origins.set(field.path, { source: decided.source, name: decided.originOf(field) });
      deciding.set(field.path, decided);
    } else {
      origins.set(field.path, { source: "default", name: "default" });
    }
  }
  const valid = (path: string) => {
    const layer = deciding.get(path);
    if (!layer) return true;
    const bad = badPaths.get(layer)!;
    return ![...bad].some((b) =>
      b === path || b.startsWith(`${path}.`) || path.startsWith(`${b}.`) || b === ""
    );
  };
  const whereOf = (path: string): Where => {
    const layer = deciding.get(path);
    return layer ? layer.whereOf(path.split(".")) : { name: path, style: "path" };
  };
  problems.push(...crossCheck(merged as ConfigFile, defaults, valid, whereOf, deciding));
  if (problems.length > 0) throw new ConfigError(problems);
  return { settings: toSettings(merged as ConfigFile, defaults), origins };
}

/** Rules that involve more than one setting, or the combination of all sources. */
function crossCheck(
  file: ConfigFile,
  defaults: Settings,
  valid: (path: string) => boolean,
  whereOf: (path: string) => Where,
  deciding: ReadonlyMap<string, Layer>,
): string[] {
  const problems: string[] = [];
  if (valid("backends")) {
    const backends = file.backends ?? defaults.backends;
    if (backends.length === 0) {
      problems.push(
        deciding.has("backends")
          ? problemLine(whereOf("backends"), "expected at least one backend", { value: [] })
          : '--backend is required (or "backends" in the config file, or ROUNDABOUT_BACKENDS), ' +
            "e.g. --backend http://127.0.0.1:8001",
      );
    }
  }
  if (valid("active.expectStatusMin") && valid("active.expectStatusMax")) {
    const min = file.active?.expectStatusMin ?? defaults.options.active.expectStatusMin;
    const max = file.active?.expectStatusMax ?? defaults.options.active.expectStatusMax;
    if (min > max) {
      const path = deciding.has("active.expectStatusMin")
        ? "active.expectStatusMin"
        : "active.expectStatusMax";
      problems.push(
        problemLine(whereOf(path), `must not exceed active.expectStatusMax (${max})`, {
          value: min,
        }),
      );
    }
  }
  if (valid("admin.hostname") && valid("admin.port") && valid("admin.token")) {
    const port = file.admin?.port ?? defaults.admin.port;
    const hostname = file.admin?.hostname ?? defaults.admin.hostname;
    const token = file.admin?.token ?? defaults.admin.token;
    if (port !== undefined && token === undefined && !isLoopback(hostname)) {
      problems.push(
        problemLine(
          whereOf("admin.hostname"),
          "is not a loopback address, so the admin API needs a token (--admin-token, " +
            "ROUNDABOUT_ADMIN_TOKEN or admin.token): anyone who reaches it could change the " +
            "backends",
          { value: hostname },
        ),
      );
    }
  }
  return problems;
}

function getPath(object: unknown, path: readonly string[]): unknown {
  let node = object;
  for (const key of path) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) return undefined;
    if (!Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function setPath(object: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = object;
  for (const key of path.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}
