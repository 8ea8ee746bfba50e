/**
 * Configuration problems as people read them: one line each, naming where the value came
 * from, the value and what was expected. A file's problems read
 * `backends[1].url: "htp://x" is not an http(s) URL …` or
 * `timeout: expected a duration …, got "soon"`; a flag's or environment variable's read
 * `--timeout "soon": expected a duration …` (the style the command line always had).
 *
 * @module
 */

import type * as z from "zod";
import { SETTINGS } from "./settings.ts";

/** Paths of settings whose values are secrets: a problem with one never shows the value. */
const SECRET_PATHS = new Set(SETTINGS.filter((s) => s.type === "token").map((s) => s.path));

/** Every problem found in a configuration, one line each. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

/** How a value's origin is named: a file path (`path` style) or a flag or variable. */
export interface Where {
  readonly name: string;
  readonly style: "path" | "flag";
}

/** A path such as `["backends", 1, "url"]` written `backends[1].url`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${part}]`;
    else {
      // A key that is not a plain name is quoted, so it can never forge a line of its own.
      const key = String(part);
      const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `[${quote(key)}]`;
      text += text === "" || name.startsWith("[") ? name : `.${name}`;
    }
  }
  return text === "" ? "(the whole document)" : text;
}

/** One problem as a line. `value` is left out when there is none to show. */
export function problemLine(where: Where, message: string, value?: { value: unknown }): string {
  if (value === undefined) return `${where.name}: ${message}`;
  if (where.style === "flag") return `${where.name} ${quote(String(value.value))}: ${message}`;
  if (message.startsWith("expected ")) return `${where.name}: ${message}, got ${show(value.value)}`;
  return `${where.name}: ${show(value.value)} ${message}`;
}

/**
 * Turns zod issues into lines. `whereOf` names the origin of a path; `schema` is the one
 * that was parsed, to list the keys that are known where an unknown one was found.
 */
export function issueLines(
  issues: readonly z.core.$ZodIssue[],
  whereOf: (path: readonly PropertyKey[]) => Where,
  schema: z.ZodType,
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const known = knownKeys(schema, issue.path).filter((key) => key !== "$schema");
      for (const key of issue.keys) {
        const where = whereOf([...issue.path, key]);
        const hint = known.length > 0 ? ` (expected one of ${known.join(", ")})` : "";
        lines.push(problemLine(where, `is not a known setting${hint}`));
      }
      continue;
    }
    const input = (issue as { input?: unknown }).input;
    const where = whereOf(issue.path);
    const secret = SECRET_PATHS.has(issue.path.filter((p) => typeof p === "string").join("."));
    const message = issue.message.startsWith("Invalid input: expected ")
      ? `expected ${article(issue.message.slice("Invalid input: expected ".length))}`
      : issue.message;
    lines.push(
      secret ? problemLine(where, message) : problemLine(where, message, { value: input }),
    );
  }
  return lines;
}

/** Zod's own wording ("object, received number") made to read like ours. */
function article(text: string): string {
  const type = text.replace(/, received .*$/, "");
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** The keys an object schema at `path` knows, for "did you mean" hints. */
export function knownKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: unknown = schema;
  for (let i = 0; i <= path.length; i++) {
    node = unwrapToObjectOrArray(node);
    if (node === undefined) return [];
    if (i === path.length) break;
    const def = defOf(node);
    if (def.type === "array") node = def.element;
    else if (def.type === "record") node = def.valueType;
    else if (def.type === "object") node = (def.shape as Record<string, unknown>)[String(path[i])];
    else return [];
  }
  const def = node === undefined ? undefined : defOf(node);
  return def?.type === "object" ? Object.keys(def.shape as Record<string, unknown>) : [];
}

interface Def {
  type: string;
  [key: string]: unknown;
}

function defOf(schema: unknown): Def {
  return (schema as { _zod: { def: Def } })._zod.def;
}

function unwrapToObjectOrArray(schema: unknown): unknown {
  let node = schema;
  for (let depth = 0; depth < 10 && node !== undefined; depth++) {
    const def = defOf(node);
    if (def.type === "object" || def.type === "array" || def.type === "record") return node;
    if (def.type === "optional" || def.type === "nullable" || def.type === "default") {
      node = def.innerType;
    } else if (def.type === "pipe") {
      node = def.in;
    } else if (def.type === "union") {
      node = (def.options as unknown[]).find((option) => {
        const type = defOf(unwrapToObjectOrArray(option) ?? option).type;
        return type === "object";
      });
    } else {
      return undefined;
    }
  }
  return node;
}

/** A value quoted for a message, cut short, control characters escaped. */
export function quote(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return escapeSeparators(JSON.stringify(shown));
}

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return escapeSeparators(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

/** JSON leaves U+2028 and U+2029 raw, and terminals break lines at them. */
function escapeSeparators(text: string): string {
  return text.replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}
