/**
 * Every setting of the config file with its command-line flag and environment variable, so
 * that the three sources name the same things. A flag or variable's text is turned into the
 * value the file would hold (by {@linkcode Field.kind}) and then checked by the same schema.
 *
 * Environment variables are named after the file path: `ROUNDABOUT_` and the path in upper
 * snake case, e.g. `timeout` → `ROUNDABOUT_TIMEOUT`, `admin.token` →
 * `ROUNDABOUT_ADMIN_TOKEN`, `passive.failuresToEject` → `ROUNDABOUT_PASSIVE_FAILURES_TO_EJECT`.
 *
 * @module
 */

/** How a flag or variable's text becomes a file value. */
export type FieldKind =
  /** kept as text (durations, names, addresses) */
  | "text"
  /** a number when it is all digits, else kept as text for the schema to reject */
  | "integer"
  /** comma-separated (and, for flags, repeatable) list of texts */
  | "list"
  /** the `--backend` syntax: comma-separated URLs, each optionally followed by `weight=N` */
  | "backends"
  /**
   * true or false: the flag takes no value (`--NAME` is true, `--no-NAME` false, the last
   * one given wins); the variable is `true` or `false`, anything else is kept as text for
   * the schema to reject
   */
  | "boolean";

/** One setting. */
export interface Field {
  /** Path in the config file, e.g. `passive.failuresToEject`. */
  readonly path: string;
  /** Command-line flag without the dashes. */
  readonly flag: string;
  readonly kind: FieldKind;
  /** Placeholder for the value in `--help` (empty for a boolean). */
  readonly placeholder: string;
  /** Section of `--help`. */
  readonly group: "Backends" | "Listening" | "Behaviour" | "Health" | "Operations";
  /** One line for `--help`; the default is appended from the model. */
  readonly help: string;
}

/** Every setting, in the order `--help` and `check-config` list them. */
export const FIELDS: readonly Field[] = [
  {
    path: "backends",
    flag: "backend",
    kind: "backends",
    placeholder: "URL[,URL...]",
    group: "Backends",
    help: "a backend base URL (repeatable or comma-separated); ,weight=N after a URL sets its " +
      "weight",
  },
  {
    path: "listen.port",
    flag: "port",
    kind: "integer",
    placeholder: "N",
    group: "Listening",
    help: "port to listen on (0 picks a free port)",
  },
  {
    path: "listen.hostname",
    flag: "hostname",
    kind: "text",
    placeholder: "ADDR",
    group: "Listening",
    help: "address to listen on (0.0.0.0 for all)",
  },
  {
    path: "timeout",
    flag: "timeout",
    kind: "text",
    placeholder: "DURATION",
    group: "Behaviour",
    help: "per-try timeout: a backend slower than this to answer is marked failed and the " +
      "request moves on",
  },
  {
    path: "bodyIdleTimeout",
    flag: "body-idle-timeout",
    kind: "text",
    placeholder: "DURATION",
    group: "Behaviour",
    help: "a backend that sends nothing more of a response body for this long has the " +
      "response cut and is marked failed (0: off)",
  },
  {
    path: "retryDowntime",
    flag: "retry-downtime",
    kind: "text",
    placeholder: "DURATION",
    group: "Behaviour",
    help: "how long a failed backend is skipped",
  },
  {
    path: "replayLimit",
    flag: "replay-limit",
    kind: "integer",
    placeholder: "BYTES",
    group: "Behaviour",
    help: "request bodies up to this size are buffered so they can be replayed on another " +
      "backend",
  },
  {
    path: "maxBodySize",
    flag: "max-body-size",
    kind: "integer",
    placeholder: "BYTES",
    group: "Behaviour",
    help: "larger request bodies are answered 413 (0: no limit)",
  },
  {
    path: "maxHeaderSize",
    flag: "max-header-size",
    kind: "integer",
    placeholder: "BYTES",
    group: "Behaviour",
    help: "request header names and values totalling more are answered 431 (0: no check)",
  },
  {
    path: "maxTargetSize",
    flag: "max-target-size",
    kind: "integer",
    placeholder: "BYTES",
    group: "Behaviour",
    help: "longer request targets (path and query) are answered 414 (0: no check)",
  },
  {
    path: "retryAfterSend",
    flag: "retry-after-send",
    kind: "text",
    placeholder: "all|idempotent",
    group: "Behaviour",
    help: "which requests move on after reaching a backend that failed: all (as the " +
      "original) or only idempotent methods and requests with an Idempotency-Key header",
  },
  {
    path: "policy",
    flag: "policy",
    kind: "text",
    placeholder: "NAME",
    group: "Behaviour",
    help: "backend selection policy",
  },
  {
    path: "trustedProxies",
    flag: "trusted-proxy",
    kind: "list",
    placeholder: "ADDR",
    group: "Behaviour",
    help: "a peer whose X-Forwarded-* headers are kept (repeatable)",
  },
  {
    path: "transport",
    flag: "transport",
    kind: "text",
    placeholder: "NAME",
    group: "Behaviour",
    help: "upstream HTTP client",
  },
  {
    path: "panic",
    flag: "panic",
    kind: "text",
    placeholder: "MODE",
    group: "Behaviour",
    help: "when every backend is ejected: fail-fast or least-recently-failed",
  },
  {
    path: "upstreamHost",
    flag: "upstream-host",
    kind: "text",
    placeholder: "client|backend",
    group: "Behaviour",
    help: "the Host the backend gets: the client's (as Caddy, Traefik, HAProxy) or the " +
      "backend URL's own host and port (as nginx)",
  },
  {
    path: "rewriteLocation",
    flag: "rewrite-location",
    kind: "boolean",
    placeholder: "",
    group: "Behaviour",
    help: "rewrite Location and Content-Location headers pointing at the backend's own URL to " +
      "the address the client used (--no-rewrite-location: off)",
  },
  {
    path: "exposeBackend",
    flag: "expose-backend",
    kind: "boolean",
    placeholder: "",
    group: "Behaviour",
    help: "name the backend that answered in an x-app-url response header " +
      "(--no-expose-backend: off)",
  },
  {
    path: "errorDetails",
    flag: "error-details",
    kind: "boolean",
    placeholder: "",
    group: "Behaviour",
    help: "list each try (backend address, outcome, error) in 502/504 bodies " +
      "(--no-error-details: words only)",
  },
  {
    path: "slowStart",
    flag: "slow-start",
    kind: "text",
    placeholder: "DURATION",
    group: "Behaviour",
    help: "a backend back in rotation ramps up to its full share over this window (0: off)",
  },
  {
    path: "passive.failuresToEject",
    flag: "failures-to-eject",
    kind: "integer",
    placeholder: "N",
    group: "Health",
    help: "consecutive failed tries that eject a backend",
  },
  {
    path: "passive.countedFailures",
    flag: "counted-failures",
    kind: "list",
    placeholder: "KINDS",
    group: "Health",
    help: "which failures count: connect, timeout, reset, 5xx (comma-separated)",
  },
  {
    path: "passive.backoff",
    flag: "ejection-backoff",
    kind: "text",
    placeholder: "none|exponential",
    group: "Health",
    help: "none: every ejection lasts the retry downtime; exponential: repeated ejections " +
      "double, up to --max-ejection",
  },
  {
    path: "passive.maxEjection",
    flag: "max-ejection",
    kind: "text",
    placeholder: "DURATION",
    group: "Health",
    help: "longest ejection (exponential back-off only: repeated ejections double up to this)",
  },
  {
    path: "passive.healthySpell",
    flag: "healthy-spell",
    kind: "text",
    placeholder: "DURATION",
    group: "Health",
    help: "failure-free time after which past ejections are forgiven (exponential back-off " +
      "only)",
  },
  {
    path: "active.path",
    flag: "probe-path",
    kind: "text",
    placeholder: "PATH",
    group: "Health",
    help: "path to GET on every backend, e.g. /health (unset: no probes)",
  },
  {
    path: "active.interval",
    flag: "probe-interval",
    kind: "text",
    placeholder: "DURATION",
    group: "Health",
    help: "time between two probes of one backend",
  },
  {
    path: "active.timeout",
    flag: "probe-timeout",
    kind: "text",
    placeholder: "DURATION",
    group: "Health",
    help: "how long a probe may take",
  },
  {
    path: "active.expectStatusMin",
    flag: "probe-status-min",
    kind: "integer",
    placeholder: "STATUS",
    group: "Health",
    help: "lowest status that passes",
  },
  {
    path: "active.expectStatusMax",
    flag: "probe-status-max",
    kind: "integer",
    placeholder: "STATUS",
    group: "Health",
    help: "highest status that passes",
  },
  {
    path: "active.rise",
    flag: "probe-rise",
    kind: "integer",
    placeholder: "N",
    group: "Health",
    help: "consecutive passing probes that return a backend",
  },
  {
    path: "active.fall",
    flag: "probe-fall",
    kind: "integer",
    placeholder: "N",
    group: "Health",
    help: "consecutive failing probes that take a backend out",
  },
  {
    path: "admin.port",
    flag: "admin-port",
    kind: "integer",
    placeholder: "N",
    group: "Operations",
    help: "serve the admin API (status, metrics, backend changes) on this port (unset: off)",
  },
  {
    path: "admin.hostname",
    flag: "admin-hostname",
    kind: "text",
    placeholder: "ADDR",
    group: "Operations",
    help: "address of the admin API; anything but loopback requires a token",
  },
  {
    path: "admin.token",
    flag: "admin-token",
    kind: "text",
    placeholder: "TOKEN",
    group: "Operations",
    help: "bearer token the admin API requires (prefer ROUNDABOUT_ADMIN_TOKEN: flags show " +
      "in ps)",
  },
  {
    path: "accessLog",
    flag: "access-log",
    kind: "text",
    placeholder: "FORMAT",
    group: "Operations",
    help: "json, text, off, or auto: text on a terminal, else json",
  },
  {
    path: "workers",
    flag: "workers",
    kind: "integer",
    placeholder: "N",
    group: "Operations",
    help: "serve with N worker threads on one port, each with its own round-robin order and " +
      "health (see README, Multi-core); a change needs a restart",
  },
  {
    path: "shutdownGrace",
    flag: "grace",
    kind: "text",
    placeholder: "DURATION",
    group: "Operations",
    help: "on SIGTERM/SIGINT, how long in-flight requests may take before exiting anyway",
  },
];

/** The environment variable of a setting: `ROUNDABOUT_` and its path in upper snake case. */
export function envName(path: string): string {
  return "ROUNDABOUT_" +
    path.replace(/\./g, "_").replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Environment variable naming the config file, as `--config` does. */
export const CONFIG_ENV = "ROUNDABOUT_CONFIG";
