/**
 * Where settings come from, and how they combine: command-line flags over environment
 * variables (`ROUNDABOUT_*`) over the config file over the defaults. Each source is a
 * {@linkcode Layer} holding file-shaped values; every layer is checked by the same schema and
 * every problem in every layer is reported at once, named the way its source names it.
 *
 * @module
 */

import { JsoncError, parseJsonc } from "./jsonc.ts";
import {
  getPath,
  isLoopback,
  repeatedBackends,
  setPath,
  type Settings,
  toSettings,
} from "./model.ts";
import { ConfigError, formatPath, issueLines, problemLine, quote, type Where } from "./problems.ts";
import { CONFIG_FILE } from "./schema.ts";
import { pemProblems } from "./pem_files.ts";
import { defaultPoolUnused, routingProblems } from "./routing.ts";
import { SETTINGS } from "./settings.ts";
import type { Layer, Origin } from "./layer.ts";

// Flags and environment variables are sources too; they are read in text_layers.ts.
export { envLayer, flagLayer, type FlagValues } from "./text_layers.ts";

export type { Layer, Origin, Source } from "./layer.ts";

/** A configuration that passed every check, with where each setting came from. */
export interface Resolved {
  readonly settings: Settings;
  /** By setting path (see `settings.ts`). */
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

/** A file layer that could not be read or parsed: nothing in it can be checked. */
function unreadable(layer: Layer): boolean {
  return layer.problems.length > 0 && layer.source === "file" &&
    Object.keys(layer.values).length === 0;
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
  if (unreadable(layer)) return { lines, bad };
  const issues = CONFIG_FILE.issues(layer.values);
  if (issues.length > 0) {
    lines.push(...issueLines(issues, layer.whereOf));
    for (const issue of issues) {
      const keys = issue.unknownKeys?.keys ?? [undefined];
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
export function resolve(layers: readonly Layer[]): Resolved {
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
  for (const setting of SETTINGS) {
    const { path } = setting;
    let decided: Layer | undefined;
    for (const layer of layers) {
      if (getPath(layer.values, path) !== undefined) decided = layer;
    }
    if (decided) {
      setPath(merged, path, getPath(decided.values, path));
      origins.set(path, { source: decided.source, name: decided.originOf(setting) });
      deciding.set(path, decided);
    } else {
      origins.set(path, { source: "default", name: "default" });
    }
  }
  // Pools and routes name each other: both come from the last layer that gives either.
  const routing = layers.findLast((layer) =>
    layer.values?.pools !== undefined || layer.values?.routes !== undefined
  );
  if (routing !== undefined) {
    for (const key of ["pools", "routes"]) {
      if (routing.values[key] === undefined) continue;
      merged[key] = routing.values[key];
      origins.set(key, { source: routing.source, name: routing.name || "file" });
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
  const value = (path: string) =>
    getPath(merged, path) ?? SETTINGS.find((setting) => setting.path === path)!.default;
  // A file that could not be read says nothing, so "--backend is required" and the like
  // would be guesses about it: only its own problem is reported.
  if (!layers.some(unreadable)) {
    problems.push(...crossCheck(value, valid, whereOf, deciding, merged.routes));
    if (routing !== undefined) {
      const prefix = routing.whereOf(["pools"]).name.slice(0, -"pools".length);
      problems.push(...routingProblems(merged.pools, merged.routes, prefix));
    }
  }
  problems.push(...pemProblems(value, valid, whereOf));
  if (problems.length > 0) throw new ConfigError(problems);
  return { settings: toSettings(merged), origins };
}

/** Rules that involve more than one setting, or the combination of all sources. */
function crossCheck(
  value: (path: string) => unknown,
  valid: (path: string) => boolean,
  whereOf: (path: string) => Where,
  deciding: ReadonlyMap<string, Layer>,
  routes: unknown,
): string[] {
  const problems: string[] = [];
  if (valid("backends")) {
    // The default pool serves unmatched requests; none reach it past an early catch-all.
    if ((value("backends") as unknown[]).length === 0 && !defaultPoolUnused(routes)) {
      problems.push(
        deciding.has("backends")
          ? problemLine(whereOf("backends"), "expected at least one backend", { value: [] })
          : '--backend is required (or "backends" in the config file, or ROUNDABOUT_BACKENDS), ' +
            "e.g. --backend http://127.0.0.1:8001",
      );
    }
  }
  if (valid("active.expectStatusMin") && valid("active.expectStatusMax")) {
    const min = value("active.expectStatusMin") as number;
    const max = value("active.expectStatusMax") as number;
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
    const hostname = value("admin.hostname") as string;
    if (
      value("admin.port") !== undefined && value("admin.token") === undefined &&
      !isLoopback(hostname)
    ) {
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
