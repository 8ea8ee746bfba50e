/**
 * Which mock apps exist, how they are configured, and their defaults. Every option is
 * documented where it is declared; the defaults live in {@linkcode MOCK_DEFAULTS} only.
 *
 * @module
 */

/** Every mock app, in the order the CLI lists them. */
export const MOCK_KINDS = [
  "normal",
  "alternating",
  "delayed",
  "reset",
  "garbage",
  "slow-body",
  "flaky",
  "blackhole",
] as const;

/** The name of a mock app. */
export type MockKind = (typeof MOCK_KINDS)[number];

/** Tells whether a string (from the command line, say) names a mock app. */
export function isMockKind(name: string): name is MockKind {
  return (MOCK_KINDS as readonly string[]).includes(name);
}

/** How a mock listens and misbehaves. Options that a kind does not use are ignored. */
export interface MockOptions {
  /** Interface to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** TCP port to listen on; 0 picks any free port. @default {0} */
  port?: number;
  /** `delayed`: how long each request waits before it is answered, in milliseconds. @default {3000} */
  delayMs?: number;
  /** `flaky`: fraction (0 to 1) of requests that fail with 500. @default {0.5} */
  failureRate?: number;
  /** `flaky`: seed of the random sequence, so a run with the same seed repeats exactly. @default {1} */
  seed?: number;
  /** `slow-body`: pause between two body chunks, in milliseconds. @default {1000} */
  trickleIntervalMs?: number;
  /**
   * Called with one line per request, such as `"POST / 200 (alternating)"`.
   * @default no logging
   */
  log?: (line: string) => void;
}

/** Options with every default applied. */
export type ResolvedMockOptions = Readonly<Required<MockOptions>>;

/** The documented defaults, in one place. */
export const MOCK_DEFAULTS: ResolvedMockOptions = Object.freeze({
  hostname: "127.0.0.1",
  port: 0,
  delayMs: 3_000,
  failureRate: 0.5,
  seed: 1,
  trickleIntervalMs: 1_000,
  log: () => {},
});

/** Longest wait a timer can take (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** What each option must be, as words for the error message and as a test. */
const RULES: Readonly<Record<keyof MockOptions, readonly [string, (value: unknown) => boolean]>> = {
  hostname: ["a non-empty string", (v) => typeof v === "string" && v !== ""],
  port: ["an integer from 0 to 65535", (v) => isInteger(v, 0, 65_535)],
  delayMs: [`milliseconds from 0 to ${MAX_TIMER_MS}`, (v) => isNumber(v, 0, MAX_TIMER_MS)],
  failureRate: ["a number from 0 to 1", (v) => isNumber(v, 0, 1)],
  seed: ["a safe integer", (v) => Number.isSafeInteger(v)],
  trickleIntervalMs: [
    `milliseconds from 0 to ${MAX_TIMER_MS}`,
    (v) => isNumber(v, 0, MAX_TIMER_MS),
  ],
  log: ["a function", (v) => typeof v === "function"],
};

/**
 * Applies the defaults and checks every option, reporting all problems at once.
 *
 * @throws {RangeError} naming each option that is wrong, the value given and what was expected.
 */
export function resolveMockOptions(options: MockOptions = {}): ResolvedMockOptions {
  // `undefined` means "not given" (parseArgs leaves absent flags undefined), never "override".
  const given = Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  );
  const resolved: ResolvedMockOptions = { ...MOCK_DEFAULTS, ...given };
  const problems = Object.entries(RULES).flatMap(([name, [expected, ok]]) => {
    const value: unknown = resolved[name as keyof MockOptions];
    return ok(value) ? [] : [`${name} must be ${expected}, got ${show(value)}`];
  });
  if (problems.length > 0) {
    throw new RangeError(`Cannot start a mock with these options: ${problems.join("; ")}`);
  }
  return Object.freeze(resolved);
}

function show(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function isNumber(value: unknown, min: number, max: number): boolean {
  return typeof value === "number" && Number.isFinite(value) && value >= min && value <= max;
}

function isInteger(value: unknown, min: number, max: number): boolean {
  return isNumber(value, min, max) && Number.isInteger(value);
}

/** What each option means, for the help text; built from the defaults so they cannot drift. */
const OPTION_HELP: Readonly<Record<keyof MockOptions, string>> = {
  hostname: `hostname (default ${MOCK_DEFAULTS.hostname})`,
  port: `port (default ${MOCK_DEFAULTS.port}: any free port)`,
  delayMs: `delayMs: wait before answering, in ms (default ${MOCK_DEFAULTS.delayMs})`,
  failureRate:
    `failureRate: fraction of requests failed, 0 to 1 (default ${MOCK_DEFAULTS.failureRate})`,
  seed: `seed: of the random sequence, same seed same run (default ${MOCK_DEFAULTS.seed})`,
  trickleIntervalMs:
    `trickleIntervalMs: pause between body chunks, in ms (default ${MOCK_DEFAULTS.trickleIntervalMs})`,
  log: "log: one line per request (default none)",
};

/** The "Options:" sentence closing a kind's help paragraph: its own options, then the common ones. */
export function optionsHelp(specific: readonly (keyof MockOptions)[]): string {
  const names = [...specific, "hostname", "port", "log"] as const;
  return `Options: ${names.map((name) => OPTION_HELP[name]).join("; ")}.`;
}
