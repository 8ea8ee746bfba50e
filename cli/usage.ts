/**
 * Command-line input handling: flag parsing on top of `node:util` parseArgs, and the parsers
 * for the values flags take. Every problem becomes a {@linkcode UsageError}: one line naming
 * the flag, the value and what was expected, and exit status 2.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MAX_DURATION_MS, parseDuration } from "../lib/duration.ts";

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
  const flag = /'(-[^' ]+)/.exec(message)?.[1];
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

/** Every value given for a repeatable string flag. */
export function listFlag(flags: Flags, name: string): string[] {
  const value = flags[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** A duration flag in milliseconds: `250ms`, `2s`, `1m` or bare milliseconds. */
export function durationFlag(flags: Flags, name: string, fallback: number): number {
  const text = stringFlag(flags, name);
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw new UsageError(
      `--${name} ${quote(text)}: expected a duration such as 250ms, 2s or 1m ` +
        `(0 to ${MAX_DURATION_MS / 3_600_000}h)`,
    );
  }
  return ms;
}

/** A TCP port flag, 0-65535 (0 picks any free port). */
export function portFlag(flags: Flags, name: string, fallback: number): number {
  const text = stringFlag(flags, name);
  if (text === undefined) return fallback;
  return parsePort(text, `--${name}`);
}

/** Parses a port number, naming `where` in the error. */
export function parsePort(text: string, where: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65_535) {
    throw new UsageError(`${where} ${quote(text)}: expected a port number from 0 to 65535`);
  }
  return Number(text);
}

/** A whole number flag within `min..max`. */
export function integerFlag(
  flags: Flags,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = stringFlag(flags, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new UsageError(`--${name} ${quote(text)}: expected a whole number from ${min} to ${max}`);
  }
  return value;
}

/** A flag that takes one of a few words. */
export function choiceFlag<T extends string>(
  flags: Flags,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const text = stringFlag(flags, name);
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`--${name} ${quote(text)}: expected one of ${choices.join(", ")}`);
  }
  return text as T;
}

/** A value quoted for an error message, cut short and with control characters escaped. */
export function quote(value: string): string {
  const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return JSON.stringify(shown);
}
