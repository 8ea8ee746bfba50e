// Over 300 lines: one entry per setting, and the table is the one place each is declared.
/**
 * Every setting, declared once: its path in the config file, its flag, its type (and so its
 * unit), its default, its range or choices and one description. From this table come the
 * schema that checks the file, the environment variables and the flags (`schema.ts`),
 * `--help`, the JSON Schema for editors and the README's table (`tools/schema.ts`).
 *
 * Environment variables are named after the path: `ROUNDABOUT_` and the path in upper snake
 * case, e.g. `passive.failuresToEject` → `ROUNDABOUT_PASSIVE_FAILURES_TO_EJECT`.
 *
 * @module
 */

import { formatDuration } from "../lib/duration.ts";
import { POLICY_NAMES } from "../policies/mod.ts";
import { TRANSPORT_NAMES } from "../transports/mod.ts";

/** What a setting holds, which decides its unit, its checks and how flags spell it. */
export type SettingType =
  /** a duration: `250ms`, `2s`, `1m`, or a number of milliseconds; defaults in ms */
  | "duration"
  /** a whole number of bytes */
  | "bytes"
  /** a whole number */
  | "count"
  /** a TCP port, 0 to 65535 (0 picks a free one) */
  | "port"
  /** an HTTP status */
  | "status"
  /** one of `choices` */
  | "choice"
  /** true or false; on the command line `--NAME` / `--no-NAME` */
  | "switch"
  /** an address to listen on */
  | "address"
  /** a list of exact IP addresses */
  | "addresses"
  /** a secret of at least 8 characters without spaces */
  | "token"
  /** a request path starting with `/` */
  | "path"
  /** a path to a file on this machine */
  | "file"
  /** a list of words from `choices` */
  | "list"
  /** backend URLs, each optionally with a weight */
  | "backends"
  /** a DNS server, `IP:PORT` */
  | "nameserver"
  /** what keeps a client on one backend: `{ cookie | header: NAME }` or `{ clientAddress: true }` */
  | "sticky";

/** One setting. */
export interface Setting {
  /** Path in the config file, e.g. `passive.failuresToEject`. */
  readonly path: string;
  /** Where the value lands in the running `Settings` (model.ts), e.g. `options.timeoutMs`. */
  readonly field: string;
  /** Command-line flag without the dashes. */
  readonly flag: string;
  readonly type: SettingType;
  /** The default, as the file would hold it (durations in milliseconds). */
  readonly default?: number | string | boolean | readonly string[];
  /** What leaving it unset (or empty) means, when more than "none" needs saying. */
  readonly unset?: string;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  /** For a choice that stands for another value in `Settings`: that value by choice. */
  readonly means?: Readonly<Record<string, unknown>>;
  /** Section of `--help`. */
  readonly group: "Backends" | "Listening" | "Behaviour" | "Health" | "Operations";
  /** What it does, for people: `--help`, the JSON Schema, the README. */
  readonly description: string;
  /** A pool (`pools.NAME`) may set it on its own; unset there, the top level's applies. */
  readonly pool?: true;
}

/** Most worker threads `workers` accepts: far more than the cores of any machine here. */
export const MAX_WORKERS = 256;

/** The sections of the file (objects whose keys are settings), with what they hold. */
export const SECTIONS: Readonly<Record<string, string>> = {
  listen: "Where the balancer listens. A change needs a restart.",
  passive: "Passive health: what real traffic teaches.",
  active: "Active health: probes on their own schedule.",
  admin: "The admin API. A change needs a restart.",
  health: "Health checks for orchestrators (/healthz, /readyz).",
  metrics: "The Prometheus metrics of the admin API. A change needs a restart.",
  dns: "How backend URLs whose host is a DNS name (or srv+http://NAME) are resolved.",
  tls: "TLS termination: the listener serves HTTPS (h2 or http/1.1 by ALPN). Both or " +
    "neither. A change needs a restart.",
};

/** Every setting, in the order of the config file. */
export const SETTINGS: readonly Setting[] = [
  {
    path: "listen.hostname",
    field: "listen.hostname",
    flag: "hostname",
    type: "address",
    default: "127.0.0.1",
    group: "Listening",
    description: "Address to listen on; 0.0.0.0 for every IPv4 interface.",
  },
  {
    path: "listen.port",
    field: "listen.port",
    flag: "port",
    type: "port",
    default: 8080,
    group: "Listening",
    description: "TCP port to listen on; 0 picks a free one.",
  },
  {
    path: "tls.cert",
    field: "tls.cert",
    flag: "tls-cert",
    type: "file",
    unset: "none (plain HTTP)",
    group: "Listening",
    description: "PEM certificate chain for HTTPS on the listening port; needs tls.key too.",
  },
  {
    path: "tls.key",
    field: "tls.key",
    flag: "tls-key",
    type: "file",
    unset: "none (plain HTTP)",
    group: "Listening",
    description: "PEM private key of tls.cert.",
  },
  {
    path: "tls.redirectPort",
    field: "tls.redirectPort",
    flag: "tls-redirect-port",
    type: "port",
    unset: "none (no plain listener)",
    group: "Listening",
    description: "A second, plain HTTP port answering every request 308 to the same host and " +
      "path on the HTTPS port (no backend is asked); needs tls.cert.",
  },
  {
    path: "backends",
    pool: true,
    field: "backends",
    flag: "backend",
    type: "backends",
    default: [],
    unset: "none (at least one is required)",
    group: "Backends",
    description: "The backends, in rotation order. In the file: URL strings, or objects with " +
      "url and weight. On the command line: repeatable or comma-separated, ,weight=N after a " +
      "URL sets its weight. At least one, from any source.",
  },
  {
    path: "timeout",
    pool: true,
    field: "options.timeoutMs",
    flag: "timeout",
    type: "duration",
    default: 2_000,
    group: "Behaviour",
    description: 'Per-try timeout ("max delay response" in the original): a backend slower ' +
      "than this to send its status and headers is marked failed and the request moves on. For a request body streamed past the " +
      "replay limit it counts from when the whole body was sent, as nginx's " +
      "proxy_read_timeout.",
  },
  {
    path: "retryDowntime",
    pool: true,
    field: "options.retryDowntimeMs",
    flag: "retry-downtime",
    type: "duration",
    default: 10_000,
    group: "Behaviour",
    description: "How long a failed backend is skipped before it is tried again.",
  },
  {
    path: "bodyIdleTimeout",
    field: "options.bodyIdleTimeoutMs",
    flag: "body-idle-timeout",
    type: "duration",
    default: 60_000,
    group: "Behaviour",
    description: "Once a response's headers are forwarded, the longest its backend may leave " +
      "the body without sending more; then the response is cut and the backend marked " +
      "failed. Also the longest a backend may leave a streamed request body untaken (a " +
      "failure) and a client may leave it unsent (408): nginx's proxy_read_timeout, " +
      "proxy_send_timeout and client_body_timeout in one. 0 turns it off.",
  },
  {
    path: "replayLimit",
    pool: true,
    field: "options.replayLimitBytes",
    flag: "replay-limit",
    type: "bytes",
    default: 1_048_576,
    min: 0,
    max: 2 ** 30,
    group: "Behaviour",
    description: "Request bodies up to this size are held in memory so they can be replayed " +
      "on another backend; larger ones stream through and are not retried once sent. So " +
      "request bodies take at most this much memory times the requests in flight.",
  },
  {
    path: "maxBodySize",
    field: "options.maxBodyBytes",
    flag: "max-body-size",
    type: "bytes",
    default: 104_857_600,
    min: 0,
    max: 2 ** 40,
    group: "Behaviour",
    description: "Largest request body accepted; larger ones are answered 413, before any " +
      "backend is contacted when content-length says so; a chunked body is read until it " +
      "passes the limit, and the try under way is not held against its backend. 0 accepts " +
      "any size.",
  },
  {
    path: "maxHeaderSize",
    field: "options.maxHeaderBytes",
    flag: "max-header-size",
    type: "bytes",
    default: 32_768,
    min: 0,
    max: 2 ** 20,
    group: "Behaviour",
    description: "Largest total of request header names and values; more is answered 431. " +
      "0 turns the check off. Deno.serve itself answers 400 to a head over about 64 KiB or " +
      "with more than about 127 fields, so limits above 64 KiB change nothing.",
  },
  {
    path: "maxTargetSize",
    field: "options.maxTargetBytes",
    flag: "max-target-size",
    type: "bytes",
    default: 8_192,
    min: 0,
    max: 2 ** 20,
    group: "Behaviour",
    description: "Longest request target (path and query); longer ones are answered 414. " +
      "0 turns the check off. Deno.serve itself answers 400 to a whole head over 65,540 " +
      "bytes (Deno 2.9.6), so limits above about 64 KiB change nothing.",
  },
  {
    path: "retryAfterSend",
    pool: true,
    field: "options.retryNonIdempotent",
    means: { all: true, idempotent: false },
    flag: "retry-after-send",
    type: "choice",
    default: "all",
    choices: ["all", "idempotent"],
    group: "Behaviour",
    description: "Which requests move on after reaching a backend that failed: all (as the " +
      "original, so a backend failing every other request goes unseen for POST too), or " +
      "only idempotent methods (RFC 9110 section 9.2.2) and requests with an " +
      "Idempotency-Key header. A connection that never reached a backend always moves on.",
  },
  {
    path: "trustedProxies",
    field: "options.trustedProxies",
    flag: "trusted-proxy",
    type: "addresses",
    default: [],
    group: "Behaviour",
    description: "Peers whose X-Forwarded-* headers are kept and extended (exact IP " +
      "addresses; repeatable flag). From any other peer they are replaced.",
  },
  {
    path: "policy",
    pool: true,
    field: "options.policy",
    flag: "policy",
    type: "choice",
    default: "round-robin",
    choices: POLICY_NAMES,
    group: "Behaviour",
    description: "Backend selection policy.",
  },
  {
    path: "sticky",
    pool: true,
    field: "options.sticky",
    flag: "sticky",
    type: "sticky",
    unset: "off",
    group: "Behaviour",
    description: "Sticky sessions: a client's first try goes to the backend it had before, " +
      "while that backend is available; otherwise the policy picks, as for retries. In the " +
      'file exactly one of { "cookie": "NAME" } (a signed cookie naming the backend, set ' +
      'on answers: HttpOnly, SameSite=Lax, Secure over TLS), { "header": "NAME" } or ' +
      '{ "clientAddress": true } (rendezvous hashing of that header\'s value or of the ' +
      "client's address, weighted: adding a backend moves few clients). On the command " +
      "line cookie=NAME, header=NAME or client-address.",
  },
  {
    path: "stickySecret",
    field: "options.stickySecret",
    flag: "sticky-secret",
    type: "token",
    min: 16,
    unset: "a random one per process (sticky cookies last until a restart)",
    group: "Behaviour",
    description: "Key that signs sticky cookies, so that clients cannot choose a backend: " +
      "at least 16 characters, no spaces (e.g. openssl rand -base64 32). Set it so cookies " +
      "survive restarts and are accepted by every instance behind the same name. Prefer the " +
      "environment variable: flags show in ps, files get copied.",
  },
  {
    path: "passive.failuresToEject",
    pool: true,
    field: "options.passive.failuresToEject",
    flag: "failures-to-eject",
    type: "count",
    default: 1,
    min: 1,
    max: 1_000,
    group: "Health",
    description: "Consecutive failed tries that eject a backend.",
  },
  {
    path: "passive.countedFailures",
    pool: true,
    field: "options.passive.countedFailures",
    flag: "counted-failures",
    type: "list",
    default: ["connect", "timeout", "reset", "5xx"],
    choices: ["connect", "timeout", "reset", "5xx"],
    group: "Health",
    description: "Which failures count: connect (no connection), timeout (no response in " +
      "time), reset (connection broken or invalid HTTP), 5xx (a 5xx status).",
  },
  {
    path: "passive.backoff",
    pool: true,
    field: "options.passive.backoff",
    flag: "ejection-backoff",
    type: "choice",
    default: "none",
    choices: ["none", "exponential"],
    group: "Health",
    description: "How long repeated ejections last: none (every ejection lasts the retry " +
      "downtime) or exponential (each ejection that follows another without a healthy " +
      "spell lasts twice as long, up to the longest ejection, as Envoy's outlier detection).",
  },
  {
    path: "passive.maxEjection",
    pool: true,
    field: "options.passive.maxEjectionMs",
    flag: "max-ejection",
    type: "duration",
    default: 300_000,
    group: "Health",
    description: "With exponential back-off only: the longest ejection.",
  },
  {
    path: "passive.healthySpell",
    pool: true,
    field: "options.passive.healthySpellMs",
    flag: "healthy-spell",
    type: "duration",
    default: 60_000,
    group: "Health",
    description: "With exponential back-off only: a backend that served this long without " +
      "failure is forgiven its past ejections.",
  },
  {
    path: "active.path",
    pool: true,
    field: "options.active.path",
    flag: "probe-path",
    type: "path",
    unset: "unset (no probes)",
    group: "Health",
    description: "Path to GET on every backend, e.g. /health; setting it turns probes on.",
  },
  {
    path: "active.interval",
    pool: true,
    field: "options.active.intervalMs",
    flag: "probe-interval",
    type: "duration",
    default: 5_000,
    group: "Health",
    description: "Time between two probes of one backend.",
  },
  {
    path: "active.timeout",
    pool: true,
    field: "options.active.timeoutMs",
    flag: "probe-timeout",
    type: "duration",
    default: 1_000,
    group: "Health",
    description: "How long a probe may take.",
  },
  {
    path: "active.expectStatusMin",
    pool: true,
    field: "options.active.expectStatusMin",
    flag: "probe-status-min",
    type: "status",
    default: 200,
    min: 100,
    max: 599,
    group: "Health",
    description: "Lowest status that passes.",
  },
  {
    path: "active.expectStatusMax",
    pool: true,
    field: "options.active.expectStatusMax",
    flag: "probe-status-max",
    type: "status",
    default: 399,
    min: 100,
    max: 599,
    group: "Health",
    description: "Highest status that passes.",
  },
  {
    path: "active.rise",
    pool: true,
    field: "options.active.rise",
    flag: "probe-rise",
    type: "count",
    default: 2,
    min: 1,
    max: 100,
    group: "Health",
    description: "Consecutive passing probes that return a backend.",
  },
  {
    path: "active.fall",
    pool: true,
    field: "options.active.fall",
    flag: "probe-fall",
    type: "count",
    default: 3,
    min: 1,
    max: 100,
    group: "Health",
    description: "Consecutive failing probes that take a backend out.",
  },
  {
    path: "panic",
    field: "options.panic",
    flag: "panic",
    type: "choice",
    default: "fail-fast",
    choices: ["fail-fast", "least-recently-failed"],
    group: "Behaviour",
    description: "When every backend is ejected: fail-fast (503 at once, with Retry-After) " +
      "or least-recently-failed (send to the backend whose failure is oldest).",
  },
  {
    path: "upstreamHost",
    field: "options.upstreamHost",
    flag: "upstream-host",
    type: "choice",
    default: "client",
    choices: ["client", "backend"],
    group: "Behaviour",
    description: "The Host the backend gets: client (the Host the client sent, as Caddy, " +
      "Traefik and HAProxy) or backend (the host and port of the backend's URL, as nginx). " +
      "Either way the client's Host is also in x-forwarded-host.",
  },
  {
    path: "rewriteLocation",
    field: "options.rewriteLocation",
    flag: "rewrite-location",
    type: "switch",
    default: true,
    group: "Behaviour",
    description: "Rewrite Location and Content-Location response headers that point at the " +
      "answering backend's own URL to the scheme and Host the client used (nginx's " +
      "proxy_redirect default).",
  },
  {
    path: "exposeBackend",
    field: "options.exposeBackend",
    flag: "expose-backend",
    type: "switch",
    default: true,
    group: "Behaviour",
    description: "Name the backend that answered in an x-app-url response header (the " +
      "original's contract); false keeps internal addresses from clients.",
  },
  {
    path: "errorDetails",
    field: "options.errorDetails",
    flag: "error-details",
    type: "switch",
    default: true,
    group: "Behaviour",
    description: "List each try (backend address, outcome, error) in the 502/504/503 bodies " +
      "the balancer makes up; false says what happened in words only (the logs keep the " +
      "details).",
  },
  {
    path: "slowStart",
    pool: true,
    field: "options.slowStartMs",
    flag: "slow-start",
    type: "duration",
    default: 0,
    group: "Behaviour",
    description: "A backend back in rotation gets a share of traffic growing from ~0 to full " +
      "over this window; 0 turns it off.",
  },
  {
    path: "maxInFlight",
    field: "options.maxInFlight",
    flag: "max-in-flight",
    type: "count",
    default: 64,
    min: 0,
    max: 1_000_000,
    group: "Behaviour",
    description: "Requests forwarded at once; the others wait in arrival order, so none " +
      "waits seconds while others are served in milliseconds. One that waited the per-try " +
      "timeout gets 503 with Retry-After. A request whose backend has not answered within an " +
      "eighth of the per-try timeout (50ms to 1s) gives its place to the next one, so a slow " +
      "backend cannot hold the gate shut. 0 turns the gate off. WebSocket upgrades bypass it.",
  },
  {
    path: "dns.refresh",
    field: "options.dns.refreshMs",
    flag: "dns-refresh",
    type: "duration",
    default: 10_000,
    group: "Backends",
    description:
      "How often backend names are resolved again (at most every 100ms). A backend URL whose host is a " +
      "DNS name stands for all its A and AAAA addresses; srv+http://NAME and srv+https://NAME " +
      "for its SRV records' targets, ports and weights (higher priority values serve only when " +
      "every target of the lower ones is out). " +
      "IP addresses and localhost are not resolved.",
  },
  {
    path: "dns.resolver",
    field: "options.dns.resolver",
    flag: "resolver",
    type: "nameserver",
    unset: "the system's resolver",
    group: "Backends",
    description: "The DNS server to ask for backend names, IP:PORT (port 53 when left out). " +
      "A change needs a restart.",
  },
  {
    path: "transport",
    field: "transport",
    flag: "transport",
    type: "choice",
    default: TRANSPORT_NAMES[0],
    choices: TRANSPORT_NAMES,
    group: "Behaviour",
    description: "Upstream HTTP client: auto (the same as http1, which speaks http:// and " +
      "https://), fetch, http1, or http1-net (http1 over node:net sockets for http://; no " +
      "cheaper here, kept for comparison). A change needs a restart.",
  },
  {
    path: "backendCa",
    field: "backendCa",
    flag: "backend-ca",
    type: "file",
    unset: "none (the system's roots only)",
    group: "Backends",
    description: "PEM certificates of a private CA trusted for https:// backends (tries and " +
      "health probes), besides the usual roots. Verification is never turned off. A " +
      "change needs a restart.",
  },
  {
    path: "admin.hostname",
    field: "admin.hostname",
    flag: "admin-hostname",
    type: "address",
    default: "127.0.0.1",
    group: "Operations",
    description: "Address of the admin API; anything but a loopback address requires a token.",
  },
  {
    path: "admin.port",
    field: "admin.port",
    flag: "admin-port",
    type: "port",
    unset: "unset (off)",
    group: "Operations",
    description: "Port of the admin API (status, metrics, backend changes); 0 picks a free one.",
  },
  {
    path: "admin.token",
    field: "admin.token",
    flag: "admin-token",
    type: "token",
    unset: "none",
    group: "Operations",
    description: "Bearer token the admin API requires: at least 8 characters, no spaces. " +
      "Prefer the environment variable: flags show in ps, files get copied.",
  },
  {
    path: "metrics.public",
    field: "admin.metricsPublic",
    flag: "metrics-public",
    type: "switch",
    default: false,
    group: "Operations",
    description: "Serve GET /metrics on the admin port without the token, for a Prometheus " +
      "that cannot send one; every other endpoint still needs it. A change needs a restart.",
  },
  {
    path: "health.onListener",
    field: "options.healthOnListener",
    flag: "health-on-listener",
    type: "switch",
    default: false,
    group: "Operations",
    description: "Answer GET /healthz (200 while serving) and GET /readyz (200 when a " +
      "backend is available, else 503) on the balancer's own port instead of forwarding " +
      "them. The admin API answers both without a token either way.",
  },
  {
    path: "accessLog",
    field: "accessLog",
    flag: "access-log",
    type: "choice",
    default: "auto",
    choices: ["json", "text", "off", "auto"],
    group: "Operations",
    description: "One line per request to stdout: json, text, off, or auto (text on a " +
      "terminal, else json).",
  },
  {
    path: "timeline",
    field: "options.timeline",
    flag: "timeline",
    type: "switch",
    default: false,
    group: "Operations",
    description: "Time each request's phases (admission wait, try start, connection, request " +
      "written, first byte, head, body read, answer sent; ms since it arrived) and add them " +
      'to its JSON access log line as "phases", written once the answer is sent. For ' +
      "finding where slow requests spend their time; the http1 transport only.",
  },
  {
    path: "shutdownGrace",
    field: "shutdownGraceMs",
    flag: "grace",
    type: "duration",
    default: 10_000,
    group: "Operations",
    description: "On SIGTERM or SIGINT, how long in-flight requests may take to finish before " +
      "the process exits anyway.",
  },
  {
    path: "memoryTrim",
    field: "memoryTrim",
    flag: "memory-trim",
    type: "switch",
    default: true,
    group: "Operations",
    description: "Hand memory the C heap holds free back to the system when the last " +
      "request in flight is answered (at most once a second; not with maxInFlight 0) and " +
      "every 10s regardless: what a burst of " +
      "connections or the JIT compiler left behind (about 9 MiB after 1,000 connections). " +
      "glibc's malloc_trim through FFI: Linux only, and only when run with --allow-ffi; " +
      "without it the balancer says so at start and keeps the memory. And once the balancer " +
      "has been idle for 2s after traffic grew V8's heap by 2 MiB, compact that heap (a " +
      "20-30 ms pause; about 7 MiB after 1,000 connections); only when run with " +
      "--v8-flags=--expose-gc, else said at start. A change needs a restart.",
  },
  {
    path: "workers",
    field: "workers",
    flag: "workers",
    type: "count",
    default: 1,
    min: 1,
    max: MAX_WORKERS,
    group: "Operations",
    description: "Worker threads serving the listening port, each a complete balancer with " +
      "its own round-robin order and health state (shared port: SO_REUSEPORT). A change " +
      "needs a restart.",
  },
];

/** The settings a pool may set on its own (`pools.NAME.…`), in the order of the file. */
export const POOL_SETTINGS: readonly Setting[] = SETTINGS.filter((setting) => setting.pool);

export { DEFAULT_POOL } from "../balancer/pools.ts";

/** Pool names: lower case, digits, `_` and `-`, up to 63 characters. */
export const POOL_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** The environment variable of a setting: `ROUNDABOUT_` and its path in upper snake case. */
export function envName(path: string): string {
  return "ROUNDABOUT_" +
    path.replace(/\./g, "_").replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Environment variable naming the config file, as `--config` does. */
export const CONFIG_ENV = "ROUNDABOUT_CONFIG";

/** What `--config` (or {@linkcode CONFIG_ENV}) gives, for `--help` and the README. */
export const CONFIG_DESCRIPTION = "A config file: JSON with comments, described by " +
  "roundabout.schema.json. Flags override environment variables, which override the file. " +
  "The file is watched: a change (or SIGHUP, or POST /reload on the admin API) reloads " +
  "without dropping a request.";

/** How `--help` and the README write a setting's value. */
export function placeholder(setting: Setting): string {
  switch (setting.type) {
    case "duration":
      return "DURATION";
    case "bytes":
      return "BYTES";
    case "count":
    case "port":
      return "N";
    case "status":
      return "STATUS";
    case "choice":
      return setting.choices!.join("|");
    case "switch":
      return "";
    case "address":
    case "addresses":
      return "ADDR";
    case "token":
      return "TOKEN";
    case "path":
      return "PATH";
    case "file":
      return "FILE";
    case "list":
      return "KINDS";
    case "backends":
      return "URL[,URL...]";
    case "nameserver":
      return "IP:PORT";
    case "sticky":
      return "cookie=NAME|header=NAME|client-address";
  }
}

/** How `--help` and the README show a setting's flag: `--timeout DURATION`, `--[no-]NAME`. */
export function flagUsage(setting: Setting): string {
  return setting.type === "switch"
    ? `--[no-]${setting.flag}`
    : `--${setting.flag} ${placeholder(setting)}`;
}

/** A setting's default as people write it (`2s`, `1048576 (1 MiB)`), or what unset means. */
export function defaultText(setting: Setting): string {
  const value = setting.default;
  if (value === undefined || (Array.isArray(value) && value.length === 0)) {
    return setting.unset ?? "none";
  }
  if (Array.isArray(value)) return value.join(",");
  if (setting.type === "duration") return formatDuration(value as number);
  if (setting.type === "bytes") return `${value}${binaryUnits(value as number)}`;
  return String(value);
}

function binaryUnits(bytes: number): string {
  for (const [unit, size] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]] as const) {
    if (bytes >= size && bytes % size === 0) return ` (${bytes / size} ${unit})`;
  }
  return "";
}
