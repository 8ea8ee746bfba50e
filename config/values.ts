/**
 * The kinds of value a setting can hold, as checks (lib/check.ts) with the words every
 * message uses.
 * The config file, environment variables and flags are all checked by these, so a mistake
 * reads the same wherever it was made. Each message completes "<where> <value>: …" (flags)
 * or "<where>: <value> …" (files); messages starting with "expected" read well in both.
 *
 * @module
 */

import { ipVersion } from "../lib/ip.ts";
import * as v from "../lib/check.ts";
import { normaliseBackendUrl } from "../backends/backend.ts";
import { parseNameServer } from "../backends/discovery.ts";
import { MAX_DURATION_MS, parseDuration } from "../lib/duration.ts";

const DURATION_WORDS = `expected a duration such as 250ms, 2s or 1m, or a number of ` +
  `milliseconds (0 to ${MAX_DURATION_MS / 3_600_000}h)`;
/** What editors check a duration string against; `parseDuration` has the last word. */
const DURATION_PATTERN = /^\s*\d+(\.\d+)?(ms|s|m|h)?\s*$/;

/** A duration: a string such as `2s`, or a number of milliseconds. */
export const DURATION: v.Check<DurationValue> = v.union([
  v.string(DURATION_WORDS).regex(DURATION_PATTERN, DURATION_WORDS, { fatal: true })
    .refine((text) => parseDuration(text) === undefined ? DURATION_WORDS : undefined),
  v.number(DURATION_WORDS).int(DURATION_WORDS).min(0, DURATION_WORDS)
    .max(MAX_DURATION_MS, DURATION_WORDS),
], DURATION_WORDS);

/**
 * What is wrong with a duration given as text (a flag or variable) without a unit, or
 * `undefined`: `--timeout 2` reads as two seconds to people and as 2 ms to the file's rule,
 * so text must say which (`0` alone is unambiguous). The file keeps numbers as milliseconds.
 */
export function unitlessDuration(text: string): string | undefined {
  const bare = text.trim();
  if (!/^\d+(\.\d+)?$/.test(bare) || Number(bare) === 0) return undefined;
  return `a duration needs a unit: ${bare}s or ${bare}ms?`;
}

/** A duration field, optional. */
export function duration(description: string) {
  return DURATION.describe(description).optional();
}

/** A whole number within `min..max`; `words` name it in messages ("a port number"). */
export function wholeNumber(min: number, max: number, words: string) {
  const error = `expected ${words} from ${min} to ${max}`;
  return v.number(error).int(error).min(min, error).max(max, error);
}

/** A whole-number field within `min..max`, optional. */
export function integer(min: number, max: number, words: string, description: string) {
  return wholeNumber(min, max, words).describe(description).optional();
}

/** A TCP port, 0 to 65535 (0 picks a free one). */
export const PORT = wholeNumber(0, 65_535, "a port number");

/** A TCP port field, optional. */
export const port = (description: string) => PORT.describe(description).optional();

/** An address to listen on; what cannot be bound is refused when binding, not here. */
export const ADDRESS = v.string("expected an address such as 127.0.0.1")
  .min(1, "expected an address such as 127.0.0.1");

/** A listening address field, optional. */
export const hostname = (description: string) => ADDRESS.describe(description).optional();

/** One of a few words. */
export function oneOf<const T extends string>(values: readonly T[]): v.Check<T> {
  return v.oneOf(values, `expected one of ${values.join(", ")}`);
}

/** True or false. */
export const SWITCH = v.boolean("expected true or false");

/** A secret of at least `min` characters without spaces (nothing that breaks a header). */
export function token(min: number) {
  const words = `expected a token of at least ${min} characters, without spaces`;
  return v.string(words).regex(new RegExp(`^\\S{${min},}$`), words);
}

/** A bearer token: long enough not to be guessed, and nothing that breaks a header. */
export const TOKEN = token(8);

const PATH_WORDS = "expected a path starting with /, such as /health";
/** A request path, such as `/health`. */
export const REQUEST_PATH = v.string(PATH_WORDS).startsWith("/", PATH_WORDS);

const FILE_WORDS = "expected the path of a file";
/** A file's path; whether it can be read is checked with the settings that use it. */
export const FILE_PATH = v.string(FILE_WORDS).min(1, FILE_WORDS);

const IP_WORDS = "expected an IP address such as 10.0.0.1";
const IP_ADDRESS = v.string(IP_WORDS)
  .refine((text) => ipVersion(text) === 0 ? IP_WORDS : undefined);

/** A list of exact IP addresses. */
export const IP_ADDRESSES = v.array(IP_ADDRESS, "expected a list of IP addresses");

const NAME_SERVER_WORDS = "expected a DNS server as IP:PORT, such as 10.0.0.2:53";
/** A DNS server to ask, `IP:PORT` (`[IPv6]:PORT`), port 53 when left out. */
export const NAME_SERVER = v.string(NAME_SERVER_WORDS)
  .refine((text) => parseNameServer(text) === undefined ? NAME_SERVER_WORDS : undefined);

/** A list of words from `values`. */
export function listOf(values: readonly string[]) {
  return v.array(oneOf(values), `expected a list of ${values.join(", ")}`);
}

/** A backend base URL, checked by the same function as everywhere else. */
const BACKEND_URL = v.string("expected an http(s) URL such as http://127.0.0.1:8001")
  .refine((text) => {
    const normal = normaliseBackendUrl(text);
    return "problem" in normal ? normal.problem : undefined;
  }).describe("Base URL: http or https, a host, an optional path prefix, no query.");

/** One backend as an object; also what the admin API's `POST /backends` takes. */
export const BACKEND_OBJECT = v.object({
  url: BACKEND_URL,
  weight: integer(1, 1_000, "a whole number", "Share of traffic for weighted policies. Default 1."),
});

const BACKEND = v.union(
  [BACKEND_URL, BACKEND_OBJECT],
  'expected a URL string or an object such as { "url": "http://127.0.0.1:8001" }',
);

/** The backends: URL strings, or objects with url and weight. */
export const BACKENDS = v.array(BACKEND, "expected a list of backends");

/** A duration as written in a file: a string such as `2s`, or milliseconds. */
export type DurationValue = string | number;

/** Milliseconds of a duration as written. Assumes it is valid. */
export function ms(value: DurationValue): number;
/** Milliseconds of a duration as written, or `fallback` when not given. Assumes it is valid. */
export function ms(value: DurationValue | undefined, fallback: number): number;
export function ms(value: DurationValue | undefined, fallback?: number): number {
  if (value === undefined) return fallback!;
  return typeof value === "number" ? value : parseDuration(value)!;
}

/**
 * A whole number given as text (a flag or variable): a number when it is all digits, else
 * the text itself, for the schema to reject with the usual words.
 */
export function numberFromText(text: string): number | string {
  return /^\d{1,15}$/.test(text) ? Number(text) : text;
}

/** `value` checked against `schema`: the value, or the first problem's words. */
export function check<T>(
  schema: v.Check<T>,
  value: unknown,
): { ok: true; value: T } | { ok: false; problem: string } {
  const result = schema.parse(value);
  return result.ok ? result : { ok: false, problem: result.issues[0].message };
}

/**
 * Backends given twice (after normalisation), as `[index, text]` pairs. Not a schema
 * refinement: refinements of a list whose items have fatal problems are skipped, and a
 * repeated backend must be reported together with everything else.
 */
export function repeatedBackends(entries: unknown): [number, string][] {
  if (!Array.isArray(entries)) return [];
  const seen = new Set<string>();
  const repeated: [number, string][] = [];
  entries.forEach((entry, i) => {
    const text = typeof entry === "string" ? entry : (entry as { url?: unknown })?.url;
    if (typeof text !== "string") return;
    const normal = normaliseBackendUrl(text);
    if ("problem" in normal) return;
    if (seen.has(normal.url)) repeated.push([i, text]);
    seen.add(normal.url);
  });
  return repeated;
}

/**
 * RFC 9110 `token` (section 5.6.2), which is also RFC 6265's cookie-name: what a header or
 * cookie name may be made of. Capped in length, as no real name comes near.
 */
const NAME_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/;

function nameOf(what: string) {
  const words = `expected a ${what} name: 1 to 256 letters, digits or !#$%&'*+-.^_\`|~`;
  return v.string(words).regex(NAME_TOKEN, words);
}

const STICKY_KEYS = ["cookie", "header", "clientAddress"] as const;
const STICKY_WORDS = 'expected an object such as { "cookie": "NAME" }, { "header": "NAME" } ' +
  'or { "clientAddress": true }';

/** What keeps a client on one backend: exactly one of a cookie, a header or its address. */
export const STICKY = v.object({
  cookie: nameOf("cookie").describe("A signed cookie of this name names the backend.")
    .optional(),
  header: nameOf("header")
    .describe("Requests with the same value of this header go to the same backend.").optional(),
  clientAddress: v.literal(true, "expected true (to turn stickiness off, leave it out)")
    .describe("Requests from the same client address go to the same backend.").optional(),
}, STICKY_WORDS).refine(
  (value) =>
    STICKY_KEYS.filter((key) => value[key] !== undefined).length === 1
      ? undefined
      : `expected exactly one of ${STICKY_KEYS.join(", ")}`,
  {
    // Not over a problem with the object itself (not one, an unknown key): what is left of
    // it would mislead. Problems with a name are reported with this one.
    when: (issues) => issues.every((issue) => issue.path.length > 0),
  },
).json({ minProperties: 1, maxProperties: 1 });

/**
 * The `--sticky` / `ROUNDABOUT_STICKY` text as the file would hold it: `cookie=NAME`,
 * `header=NAME` or `client-address`; `undefined` for anything else. The name itself is
 * checked by {@linkcode STICKY}.
 */
export function stickyFromText(text: string): Record<string, string | true> | undefined {
  const bare = text.trim();
  if (bare === "client-address") return { clientAddress: true };
  const pair = /^(cookie|header)=(.*)$/s.exec(bare);
  return pair === null ? undefined : { [pair[1]]: pair[2] };
}

/** How the text form is written, for messages and `--help`. */
export const STICKY_TEXT = "cookie=NAME, header=NAME or client-address";
