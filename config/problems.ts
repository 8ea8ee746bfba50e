/**
 * Configuration problems as people read them: one line each, naming where the value came
 * from, the value and what was expected. A file's problems read
 * `backends[1].url: "htp://x" is not an http(s) URL …` or
 * `timeout: expected a duration …, got "soon"`; a flag's or environment variable's read
 * `--timeout "soon": expected a duration …` (the style the command line always had).
 *
 * @module
 */

import type { Issue } from "../lib/check.ts";
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
 * Turns a check's issues (lib/check.ts) into lines. `whereOf` names the origin of a path;
 * an unknown key is a line of its own, with the keys known where it was found.
 */
export function issueLines(
  issues: readonly Issue[],
  whereOf: (path: readonly PropertyKey[]) => Where,
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.unknownKeys !== undefined) {
      const known = issue.unknownKeys.known.filter((key) => key !== "$schema");
      for (const key of issue.unknownKeys.keys) {
        const where = whereOf([...issue.path, key]);
        const hint = known.length > 0 ? ` (expected one of ${known.join(", ")})` : "";
        lines.push(problemLine(where, `is not a known setting${hint}`));
      }
      continue;
    }
    const where = whereOf(issue.path);
    const secret = SECRET_PATHS.has(issue.path.filter((p) => typeof p === "string").join("."));
    lines.push(
      secret
        ? problemLine(where, issue.message)
        : problemLine(where, issue.message, { value: issue.input }),
    );
  }
  return lines;
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
