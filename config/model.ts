/**
 * The configuration model: what a running Roundabout is told ({@linkcode Settings}), its
 * defaults ({@linkcode DEFAULT_SETTINGS}, which take the balancer's from `DEFAULT_OPTIONS` in
 * `../options.ts`, so every default is written once), and the shape of the config file as a
 * zod schema ({@linkcode CONFIG_FILE}), from which the JSON Schema for editors is generated.
 * Flags and environment variables map onto the same file fields (see `fields.ts`) and are
 * checked by the same schema, so the three sources cannot disagree on what is valid.
 *
 * @module
 */

import { isIP } from "node:net";
import * as z from "zod";
import type { AccessLogFormat } from "../balancer/access_log.ts";
import { type BackendConfig, normaliseBackendUrl } from "../backends/backend.ts";
import { formatDuration, MAX_DURATION_MS, parseDuration } from "../lib/duration.ts";
import { type BalancerOptions, type CountedFailure, DEFAULT_OPTIONS } from "../balancer/options.ts";
import { POLICY_NAMES } from "../policies/mod.ts";
import { TRANSPORT_NAMES } from "../transports/mod.ts";

/** Where the balancer listens. Cannot change while running. */
export interface ListenSettings {
  /** Address to listen on; `0.0.0.0` for every IPv4 interface. Default `127.0.0.1`. */
  readonly hostname: string;
  /** TCP port; 0 picks a free one. Default 8080. */
  readonly port: number;
}

/** The admin API (status, metrics, backend changes). Cannot change while running. */
export interface AdminSettings {
  /**
   * Address the admin API listens on. Default `127.0.0.1`. Any other than a loopback
   * address requires a {@linkcode AdminSettings.token}.
   */
  readonly hostname: string;
  /** TCP port of the admin API; unset (the default) turns it off; 0 picks a free one. */
  readonly port?: number;
  /** Bearer token every admin request must carry. Default none (loopback only). */
  readonly token?: string;
}

/** Everything a running Roundabout is told. */
export interface Settings {
  readonly listen: ListenSettings;
  /** The backends, in rotation order. At least one. No default. */
  readonly backends: readonly BackendConfig[];
  /** How the proxy behaves (timeouts, retries, health, policy). */
  readonly options: BalancerOptions;
  /** Upstream HTTP client by name. Cannot change while running. Default `fetch`. */
  readonly transport: string;
  readonly admin: AdminSettings;
  /** Access log format: `json`, `text`, `off`, or `auto` (text on a terminal, else json). */
  readonly accessLog: AccessLogFormat;
  /**
   * On SIGTERM/SIGINT, how long in-flight requests may take to finish, in milliseconds,
   * before the process exits anyway. Default 10000 (10 s).
   */
  readonly shutdownGraceMs: number;
  /**
   * Worker threads serving the listening port (`--workers N`), a whole number from 1. Each
   * worker is a complete balancer with its own round-robin counter and health state. Cannot
   * change while running. Default 1: one thread, no workers.
   */
  readonly workers: number;
}

/** The documented defaults; the balancer's own come from `DEFAULT_OPTIONS`. */
export const DEFAULT_SETTINGS: Settings = {
  listen: { hostname: "127.0.0.1", port: 8080 },
  backends: [],
  options: DEFAULT_OPTIONS,
  transport: TRANSPORT_NAMES[0],
  admin: { hostname: "127.0.0.1", port: undefined, token: undefined },
  accessLog: "auto",
  shutdownGraceMs: 10_000,
  workers: 1,
};

/** Most worker threads `workers` accepts: far more than the cores of any machine here. */
export const MAX_WORKERS = 256;

/** The conventional admin port, used by `roundabout status` when none is given. */
export const CONVENTIONAL_ADMIN_PORT = 9090;

// ---------------------------------------------------------------------------------------
// Values as written in the file. Each message completes "<where> <value>: …" (flags) or
// "<where>: <value> …" (files); messages starting with "expected" read well in both.

const DURATION_WORDS = `expected a duration such as 250ms, 2s or 1m, or a number of ` +
  `milliseconds (0 to ${MAX_DURATION_MS / 3_600_000}h)`;
/** What editors check a duration string against; `parseDuration` has the last word. */
const DURATION_PATTERN = /^\s*\d+(\.\d+)?(ms|s|m|h)?\s*$/;

const D = DEFAULT_SETTINGS;
const O = DEFAULT_OPTIONS;

/** A duration field: a string such as `2s` or a number of milliseconds. */
export function duration(description: string) {
  return z.union([
    z.string({ error: DURATION_WORDS }).regex(DURATION_PATTERN, {
      error: DURATION_WORDS,
      abort: true,
    })
      .refine((text) => parseDuration(text) !== undefined, { error: DURATION_WORDS }),
    z.number({ error: DURATION_WORDS }).int({ error: DURATION_WORDS })
      .min(0, { error: DURATION_WORDS }).max(MAX_DURATION_MS, { error: DURATION_WORDS }),
  ], { error: DURATION_WORDS }).describe(description).optional();
}

/** A whole-number field within `min..max`. */
export function integer(min: number, max: number, words: string, description: string) {
  const error = `expected ${words} from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error })
    .describe(description).optional();
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T, description: string) {
  return z.enum(values, { error: `expected one of ${values.join(", ")}` }).describe(description)
    .optional();
}

/** A true-or-false field. */
export function flag(description: string) {
  return z.boolean({ error: "expected true or false" }).describe(description).optional();
}

/** A TCP port field, 0 to 65535. */
export const port = (description: string) => integer(0, 65_535, "a port number", description);

/** A listening address field. */
export const hostname = (description: string) =>
  z.string({ error: "expected an address such as 127.0.0.1" })
    .min(1, { error: "expected an address such as 127.0.0.1" }).describe(description).optional();

/** A backend base URL, checked by the same function as everywhere else. */
const BACKEND_URL = z.string({ error: "expected an http(s) URL such as http://127.0.0.1:8001" })
  .superRefine((text, ctx) => {
    const normal = normaliseBackendUrl(text);
    if ("problem" in normal) ctx.addIssue({ code: "custom", message: normal.problem, input: text });
  }).describe("Base URL: http or https, a host, an optional path prefix, no query.");

const BACKEND_OBJECT = z.strictObject({
  url: BACKEND_URL,
  weight: integer(1, 1_000, "a whole number", "Share of traffic for weighted policies. Default 1."),
});

const BACKEND = z.union([BACKEND_URL, BACKEND_OBJECT], {
  error: 'expected a URL string or an object such as { "url": "http://127.0.0.1:8001" }',
});

/** One backend as the admin API's `POST /backends` takes it. */
export const BACKEND_BODY = BACKEND_OBJECT;

const BACKENDS = z.array(BACKEND, { error: "expected a list of backends" })
  .describe(
    "The backends, in rotation order: URL strings, or objects with url and weight. " +
      "At least one (here, in an environment variable or on the command line).",
  ).optional();

const IP_ADDRESS = z.string({ error: "expected an IP address such as 10.0.0.1" })
  .refine((text) => isIP(text) !== 0, { error: "expected an IP address such as 10.0.0.1" });

const COUNTED: readonly [CountedFailure, ...CountedFailure[]] = [
  "connect",
  "timeout",
  "reset",
  "5xx",
];

const PASSIVE = z.strictObject({
  failuresToEject: integer(
    1,
    1_000,
    "a whole number",
    `Consecutive failed tries that eject a backend. Default ${O.passive.failuresToEject}.`,
  ),
  countedFailures: z.array(
    z.enum(COUNTED, { error: `expected one of ${COUNTED.join(", ")}` }),
    { error: `expected a list of ${COUNTED.join(", ")}` },
  ).describe(
    "Which failures count: connect (no connection), timeout (no response in time), " +
      "reset (connection broken or invalid HTTP), 5xx (a 5xx status). " +
      `Default ${O.passive.countedFailures.join(", ")}.`,
  ).optional(),
  backoff: oneOf(
    ["none", "exponential"],
    "How long repeated ejections last: none (every ejection lasts the retry downtime) or " +
      "exponential (each ejection that follows another without a healthy spell lasts twice " +
      `as long, up to maxEjection). Default ${O.passive.backoff}.`,
  ),
  maxEjection: duration(
    "With backoff exponential only: the longest ejection; each ejection that follows " +
      "another without a healthy spell lasts twice as long, up to this. " +
      `Default ${formatDuration(O.passive.maxEjectionMs)}.`,
  ),
  healthySpell: duration(
    "With backoff exponential only: a backend that served this long without failure is " +
      `forgiven its past ejections. Default ${formatDuration(O.passive.healthySpellMs)}.`,
  ),
}, { error: "expected an object" }).describe("Passive health: what real traffic teaches.")
  .optional();

const ACTIVE = z.strictObject({
  path: z.string({ error: "expected a path starting with /, such as /health" })
    .startsWith("/", { error: "expected a path starting with /, such as /health" })
    .describe("Path to GET on every backend, e.g. /health. Unset (the default): no probes.")
    .optional(),
  interval: duration(
    `Time between two probes of one backend. Default ${formatDuration(O.active.intervalMs)}.`,
  ),
  timeout: duration(`How long a probe may take. Default ${formatDuration(O.active.timeoutMs)}.`),
  expectStatusMin: integer(
    100,
    599,
    "a status",
    `Lowest status that passes. Default ${O.active.expectStatusMin}.`,
  ),
  expectStatusMax: integer(
    100,
    599,
    "a status",
    `Highest status that passes. Default ${O.active.expectStatusMax}.`,
  ),
  rise: integer(
    1,
    100,
    "a whole number",
    `Consecutive passing probes that return a backend. Default ${O.active.rise}.`,
  ),
  fall: integer(
    1,
    100,
    "a whole number",
    `Consecutive failing probes that take a backend out. Default ${O.active.fall}.`,
  ),
}, { error: "expected an object" }).describe("Active health: probes on their own schedule.")
  .optional();

/** The config file, every field optional; unknown keys are errors. */
export const CONFIG_FILE = z.strictObject({
  $schema: z.string({ error: "expected the URL or path of a JSON Schema" })
    .describe("This file's JSON Schema, for editors. Ignored by Roundabout.").optional(),
  listen: z.strictObject({
    hostname: hostname(
      `Address to listen on; 0.0.0.0 for every IPv4 interface. Default ${D.listen.hostname}.`,
    ),
    port: port(`TCP port to listen on; 0 picks a free one. Default ${D.listen.port}.`),
  }, { error: "expected an object" })
    .describe("Where the balancer listens. A change needs a restart.").optional(),
  backends: BACKENDS,
  timeout: duration(
    "Per-try timeout: a backend slower than this to send its status and headers is marked " +
      `failed and the request moves on. Default ${formatDuration(O.timeoutMs)}.`,
  ),
  retryDowntime: duration(
    `How long a failed backend is skipped. Default ${formatDuration(O.retryDowntimeMs)}.`,
  ),
  bodyIdleTimeout: duration(
    "Once a response's headers are forwarded, the longest its backend may leave the body " +
      "without sending more; then the response is cut and the backend marked failed. Also " +
      "the longest a backend may leave a streamed request body untaken (a failure) and a " +
      `client may leave it unsent (408). 0 turns it off. Default ${
        formatDuration(O.bodyIdleTimeoutMs)
      }.`,
  ),
  replayLimit: integer(
    0,
    1 << 30,
    "a whole number of bytes",
    "Request bodies up to this many bytes are buffered so they can be replayed on another " +
      `backend. Default ${O.replayLimitBytes} (1 MiB).`,
  ),
  maxBodySize: integer(
    0,
    2 ** 40,
    "a whole number of bytes",
    "Largest request body accepted, in bytes; larger ones are answered 413. 0 accepts any " +
      `size. Default ${O.maxBodyBytes} (100 MiB).`,
  ),
  maxHeaderSize: integer(
    0,
    1 << 20,
    "a whole number of bytes",
    "Largest total of request header names and values, in bytes; more is answered 431. " +
      "0 turns the check off (Deno's own limit of about 64 KiB remains). " +
      `Default ${O.maxHeaderBytes} (32 KiB).`,
  ),
  maxTargetSize: integer(
    0,
    1 << 20,
    "a whole number of bytes",
    "Longest request target (path and query), in bytes; longer ones are answered 414. " +
      "0 turns the check off (Deno's own limit of about 64 KiB for the whole head remains). " +
      `Default ${O.maxTargetBytes} (8 KiB).`,
  ),
  retryAfterSend: oneOf(
    ["all", "idempotent"],
    "Which requests move on after reaching a backend that failed: all, or only idempotent " +
      `methods and requests with an Idempotency-Key header. Default ${
        O.retryNonIdempotent ? "all" : "idempotent"
      }.`,
  ),
  trustedProxies: z.array(IP_ADDRESS, { error: "expected a list of IP addresses" }).describe(
    "Peers whose X-Forwarded-* headers are kept (exact IP addresses). Default none.",
  ).optional(),
  policy: oneOf(
    POLICY_NAMES as [string, ...string[]],
    `Backend selection policy. Default ${O.policy}.`,
  ),
  passive: PASSIVE,
  active: ACTIVE,
  panic: oneOf(
    ["fail-fast", "least-recently-failed"],
    "When every backend is ejected: fail-fast (503 at once) or least-recently-failed " +
      `(send to the backend whose failure is oldest). Default ${O.panic}.`,
  ),
  upstreamHost: oneOf(
    ["client", "backend"],
    "The Host the backend gets: client (the Host the client sent, as Caddy, Traefik and " +
      "HAProxy) or backend (the host and port of the backend's URL, as nginx). " +
      `Default ${O.upstreamHost}.`,
  ),
  rewriteLocation: flag(
    "Rewrite Location and Content-Location response headers that point at the answering " +
      "backend's own URL to the scheme and Host the client used (nginx's proxy_redirect " +
      `default). Default ${O.rewriteLocation}.`,
  ),
  exposeBackend: flag(
    "Name the backend that answered in an x-app-url response header. false keeps internal " +
      `addresses from clients. Default ${O.exposeBackend}.`,
  ),
  errorDetails: flag(
    "List each try (backend address, outcome, error) in the 502/504 bodies the balancer " +
      "makes up; false says what happened in words only. " +
      `Default ${O.errorDetails}.`,
  ),
  slowStart: duration(
    "A backend back in rotation gets a share of traffic growing from ~0 to full over this " +
      `window; 0 turns it off. Default ${formatDuration(O.slowStartMs)}.`,
  ),
  transport: oneOf(
    TRANSPORT_NAMES,
    `Upstream HTTP client. A change needs a restart. Default ${D.transport}.`,
  ),
  admin: z.strictObject({
    hostname: hostname(
      "Address of the admin API. A non-loopback address requires a token. " +
        `Default ${D.admin.hostname}.`,
    ),
    port: port("Port of the admin API; unset (the default) turns it off; 0 picks a free one."),
    token: z.string({ error: "expected a token of at least 8 characters, without spaces" })
      .regex(/^\S{8,}$/, { error: "expected a token of at least 8 characters, without spaces" })
      .describe(
        "Bearer token the admin API requires. Prefer ROUNDABOUT_ADMIN_TOKEN to writing it " +
          "in a file. Default none.",
      ).optional(),
  }, { error: "expected an object" }).describe("The admin API. A change needs a restart.")
    .optional(),
  accessLog: oneOf(
    ["json", "text", "off", "auto"],
    `One line per request: json, text, off, or auto (text on a terminal, else json). ` +
      `Default ${D.accessLog}.`,
  ),
  shutdownGrace: duration(
    "On SIGTERM or SIGINT, how long in-flight requests may take to finish before the " +
      `process exits anyway. Default ${formatDuration(D.shutdownGraceMs)}.`,
  ),
  workers: integer(
    1,
    MAX_WORKERS,
    "a whole number",
    "Worker threads serving the listening port, each a complete balancer with its own " +
      "round-robin order and health state (shared port: SO_REUSEPORT). A change needs a " +
      `restart. Default ${D.workers}.`,
  ),
}, { error: "expected an object of settings" });

/** A config file's contents, as written (durations as strings or milliseconds). */
export type ConfigFile = z.input<typeof CONFIG_FILE>;

/** A duration as written in a file: a string such as `2s`, or milliseconds. */
export type DurationValue = string | number;

/** Milliseconds of a duration as written, or `fallback` when not given. Assumes it is valid. */
export function ms(value: DurationValue | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  return typeof value === "number" ? value : parseDuration(value)!;
}

/**
 * Backends given twice (after normalisation), as `[index, text]` pairs. Not a schema
 * refinement: zod skips refinements of a list whose items have problems, and a repeated
 * backend must be reported together with everything else.
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

/** A backend as written (a URL, or url and weight), normalised. Assumes it is valid. */
export function backendConfig(entry: string | { url: string; weight?: number }): BackendConfig {
  const text = typeof entry === "string" ? entry : entry.url;
  const normal = normaliseBackendUrl(text) as { url: string };
  return { url: normal.url, weight: typeof entry === "string" ? 1 : entry.weight ?? 1 };
}

/**
 * Settings from a file-shaped value that passed {@linkcode CONFIG_FILE}, with defaults for
 * everything not given.
 */
export function toSettings(file: ConfigFile, defaults: Settings = DEFAULT_SETTINGS): Settings {
  const o = defaults.options;
  const options: BalancerOptions = {
    timeoutMs: ms(file.timeout, o.timeoutMs),
    bodyIdleTimeoutMs: ms(file.bodyIdleTimeout, o.bodyIdleTimeoutMs),
    retryDowntimeMs: ms(file.retryDowntime, o.retryDowntimeMs),
    replayLimitBytes: file.replayLimit ?? o.replayLimitBytes,
    maxBodyBytes: file.maxBodySize ?? o.maxBodyBytes,
    maxHeaderBytes: file.maxHeaderSize ?? o.maxHeaderBytes,
    maxTargetBytes: file.maxTargetSize ?? o.maxTargetBytes,
    retryNonIdempotent: file.retryAfterSend === undefined
      ? o.retryNonIdempotent
      : file.retryAfterSend === "all",
    trustedProxies: file.trustedProxies ?? o.trustedProxies,
    policy: file.policy ?? o.policy,
    passive: {
      failuresToEject: file.passive?.failuresToEject ?? o.passive.failuresToEject,
      countedFailures: file.passive?.countedFailures ?? o.passive.countedFailures,
      backoff: file.passive?.backoff ?? o.passive.backoff,
      maxEjectionMs: ms(file.passive?.maxEjection, o.passive.maxEjectionMs),
      healthySpellMs: ms(file.passive?.healthySpell, o.passive.healthySpellMs),
    },
    active: {
      path: file.active?.path ?? o.active.path,
      intervalMs: ms(file.active?.interval, o.active.intervalMs),
      timeoutMs: ms(file.active?.timeout, o.active.timeoutMs),
      expectStatusMin: file.active?.expectStatusMin ?? o.active.expectStatusMin,
      expectStatusMax: file.active?.expectStatusMax ?? o.active.expectStatusMax,
      rise: file.active?.rise ?? o.active.rise,
      fall: file.active?.fall ?? o.active.fall,
    },
    panic: file.panic ?? o.panic,
    upstreamHost: file.upstreamHost ?? o.upstreamHost,
    rewriteLocation: file.rewriteLocation ?? o.rewriteLocation,
    exposeBackend: file.exposeBackend ?? o.exposeBackend,
    errorDetails: file.errorDetails ?? o.errorDetails,
    slowStartMs: ms(file.slowStart, o.slowStartMs),
  };
  return {
    listen: {
      hostname: file.listen?.hostname ?? defaults.listen.hostname,
      port: file.listen?.port ?? defaults.listen.port,
    },
    backends: file.backends?.map(backendConfig) ?? defaults.backends,
    options,
    transport: file.transport ?? defaults.transport,
    admin: {
      hostname: file.admin?.hostname ?? defaults.admin.hostname,
      port: file.admin?.port ?? defaults.admin.port,
      token: file.admin?.token ?? defaults.admin.token,
    },
    accessLog: file.accessLog ?? defaults.accessLog,
    shutdownGraceMs: ms(file.shutdownGrace, defaults.shutdownGraceMs),
    workers: file.workers ?? defaults.workers,
  };
}

/**
 * Settings written back in the file's shape, durations as text, without the admin token:
 * what `check-config` prints and `GET /config` answers, and what `POST /config` takes back.
 */
export function toFile(settings: Settings): ConfigFile {
  const o = settings.options;
  return {
    listen: { ...settings.listen },
    backends: settings.backends.map((b) => b.weight === 1 ? b.url : { ...b }),
    timeout: formatDuration(o.timeoutMs),
    bodyIdleTimeout: formatDuration(o.bodyIdleTimeoutMs),
    retryDowntime: formatDuration(o.retryDowntimeMs),
    replayLimit: o.replayLimitBytes,
    maxBodySize: o.maxBodyBytes,
    maxHeaderSize: o.maxHeaderBytes,
    maxTargetSize: o.maxTargetBytes,
    retryAfterSend: o.retryNonIdempotent ? "all" : "idempotent",
    trustedProxies: [...o.trustedProxies],
    policy: o.policy,
    passive: {
      failuresToEject: o.passive.failuresToEject,
      countedFailures: [...o.passive.countedFailures],
      backoff: o.passive.backoff,
      maxEjection: formatDuration(o.passive.maxEjectionMs),
      healthySpell: formatDuration(o.passive.healthySpellMs),
    },
    active: {
      ...(o.active.path === undefined ? {} : { path: o.active.path }),
      interval: formatDuration(o.active.intervalMs),
      timeout: formatDuration(o.active.timeoutMs),
      expectStatusMin: o.active.expectStatusMin,
      expectStatusMax: o.active.expectStatusMax,
      rise: o.active.rise,
      fall: o.active.fall,
    },
    panic: o.panic,
    upstreamHost: o.upstreamHost,
    rewriteLocation: o.rewriteLocation,
    exposeBackend: o.exposeBackend,
    errorDetails: o.errorDetails,
    slowStart: formatDuration(o.slowStartMs),
    transport: settings.transport,
    // The token is a secret: never written back (it cannot change while running anyway).
    admin: {
      hostname: settings.admin.hostname,
      ...(settings.admin.port === undefined ? {} : { port: settings.admin.port }),
    },
    accessLog: settings.accessLog,
    shutdownGrace: formatDuration(settings.shutdownGraceMs),
    workers: settings.workers,
  };
}

/** Whether `hostname` only accepts connections from this machine. */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
