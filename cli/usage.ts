/**
 * Command-line input handling: flag parsing on top of `node:util` parseArgs, and the few
 * flags that are not settings, checked by the settings' own value checks (so `--delay soon`
 * and `--timeout soon` read alike). Every problem becomes a {@linkcode UsageError}: one line
 * naming the flag, the value and what was expected, and exit status 2.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { Check } from "../lib/check.ts";
import { quote } from "../config/problems.ts";
import { check, DURATION, ms, numberFromText, PORT, unitlessDuration } from "../config/values.ts";

export { quote };

/** Bad command-line input. `main` prints the message and exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The flags of one command, in parseArgs' form. */
export type FlagSpec = Record<string, { type: "string" | "boolean"; multiple?: boolean }>;

/** Parsed flags: strings, string lists or booleans by flag name. */
export type Flags = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Parses `args` against `spec`, turning parseArgs' errors into one clear line. */
export function parseFlags(
  command: string,
  args: readonly string[],
  spec: FlagSpec,
): { flags: Flags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { ...spec, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: true,
      // `--no-NAME` sets a boolean flag to false (the config's boolean settings).
      allowNegative: true,
    });
    return { flags: values as Flags, positionals };
  } catch (error) {
    throw new UsageError(`${command}: ${describeParseError(error)}`);
  }
}

function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // parseArgs quotes the flag ('--port', '--port <value>'), or both names of one with a
  // short form ('-h, --help'): the long name alone is the one to show.
  const quoted = /^(?:Unknown option|Option) '(-.*?)'(?:\. To specify| does| argument)/.exec(
    message,
  );
  const flag = quoted?.[1].split(", ").at(-1)?.split(" ")[0];
  const code = (error as { code?: string }).code;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    return `unknown flag ${flag ?? message} (see --help)`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    if (message.includes("argument missing")) return `flag ${flag} needs a value`;
    if (message.includes("ambiguous")) {
      return `flag ${flag} needs a value (for one starting with "-", write ${flag}=VALUE)`;
    }
    return `flag ${flag} takes no value`;
  }
  return message;
}

/** The last value given for a string flag (a repeated flag's last one wins). */
export function stringFlag(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  if (Array.isArray(value)) return value.at(-1) as string | undefined;
  return typeof value === "string" ? value : undefined;
}

/**
 * A duration flag in milliseconds (`250ms`, `2s`, `1m`; a bare number other than 0 is an
 * error, as for settings), checked as a duration setting is.
 */
export function durationFlag(flags: Flags, name: string, fallback: number): number {
  const text = stringFlag(flags, name);
  if (text === undefined) return fallback;
  const problem = unitlessDuration(text);
  if (problem !== undefined) throw new UsageError(`--${name} ${quote(text)}: ${problem}`);
  return ms(checked(name, text, DURATION));
}

/** A TCP port flag, 0-65535 (0 picks any free port), checked as a port setting is. */
export function portFlag(flags: Flags, name: string, fallback: number): number {
  const text = stringFlag(flags, name);
  return text === undefined ? fallback : checked(name, numberFromText(text), PORT);
}

/** The value given as `--name text`, if `schema` accepts it; else a UsageError in its words. */
function checked<T>(name: string, text: string | number, schema: Check<T>): T {
  const result = check(schema, text);
  if (!result.ok) throw new UsageError(`--${name} ${quote(String(text))}: ${result.problem}`);
  return result.value;
}
