/**
 * `roundabout balance`: run the load balancer in front of the given backends.
 *
 * @module
 */

import { type AccessLogFormat, accessLogger } from "../balancer/access_log.ts";
import { type BackendConfig, normaliseBackendUrl } from "../balancer/backend.ts";
import { DEFAULT_OPTIONS } from "../balancer/options.ts";
import { POLICY_NAMES } from "../balancer/policies/mod.ts";
import { type BalancerConfig, startBalancer } from "../balancer/server.ts";
import type { Transport } from "../balancer/transport.ts";
import { FetchTransport } from "../balancer/transports/fetch.ts";
import {
  choiceFlag,
  durationFlag,
  type Flags,
  integerFlag,
  listFlag,
  parseFlags,
  portFlag,
  quote,
  stringFlag,
  UsageError,
} from "./usage.ts";
import { explainListenError, untilStopped } from "./lifecycle.ts";

export const BALANCE_HELP = `roundabout balance: an HTTP load balancer in front of your backends

Usage: roundabout balance --backend URL [--backend URL ...] [options]

Backends:
  --backend URL[,URL...]     a backend base URL, e.g. http://127.0.0.1:8001 (repeatable,
                             or comma-separated); append ,weight=N for weighted policies
Listening:
  --port N                   port to listen on (default 8080; 0 picks a free port)
  --hostname ADDR            address to listen on (default 127.0.0.1; 0.0.0.0 for all)
Behaviour:
  --timeout DURATION         per-try timeout: a backend slower than this to answer is marked
                             failed and the request moves on (default 2s)
  --retry-downtime DURATION  how long a failed backend is skipped (default 10s)
  --replay-limit BYTES       request bodies up to this size are buffered so they can be
                             replayed on another backend (default 1048576 = 1 MiB)
  --retry-after-send all|idempotent
                             which requests move on after reaching a backend that failed:
                             all (default, as the original) or only idempotent methods and
                             requests with an Idempotency-Key header
  --policy NAME              backend selection: ${POLICY_NAMES.join(", ")} (default round-robin)
  --trusted-proxy ADDR       a peer whose X-Forwarded-* headers are kept (repeatable)
  --transport fetch          upstream HTTP client (default fetch)
  --access-log FORMAT        json, text, off, or auto: text on a terminal, else json (default)

Durations: 250ms, 2s, 1m, or a bare number of milliseconds.`;

/** The flags `balance` takes (shared with `up`). */
export const BALANCE_FLAGS = {
  backend: { type: "string", multiple: true },
  port: { type: "string" },
  hostname: { type: "string" },
  timeout: { type: "string" },
  "retry-downtime": { type: "string" },
  "replay-limit": { type: "string" },
  "retry-after-send": { type: "string" },
  policy: { type: "string" },
  "trusted-proxy": { type: "string", multiple: true },
  transport: { type: "string" },
  "access-log": { type: "string" },
} as const;

/** Transports by the name `--transport` takes. */
export const TRANSPORTS: Readonly<Record<string, () => Transport>> = {
  fetch: () => new FetchTransport(),
};

/** Runs the command; resolves with the exit status once stopped. */
export async function balanceCommand(args: readonly string[]): Promise<number> {
  const { flags, positionals } = parseFlags("balance", args, BALANCE_FLAGS);
  if (flags.help) {
    console.log(BALANCE_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`balance: unexpected argument ${quote(positionals[0])} (see --help)`);
  }
  const config = balancerConfigFromFlags(flags, (line) => console.error(`[balancer] ${line}`));
  let running;
  try {
    running = startBalancer(config);
  } catch (error) {
    explainListenError(error, config.hostname!, config.port!);
  }
  await untilStopped(() => running.shutdown());
  return 0;
}

/** Turns `balance` flags into a {@linkcode BalancerConfig}; throws UsageError on bad input. */
export function balancerConfigFromFlags(
  flags: Flags,
  log: (line: string) => void,
  fallbackBackends: readonly BackendConfig[] = [],
): BalancerConfig {
  const backends = parseBackendFlags(listFlag(flags, "backend"));
  if (backends.length === 0 && fallbackBackends.length === 0) {
    throw new UsageError("balance: --backend is required, e.g. --backend http://127.0.0.1:8001");
  }
  const accessLog = choiceFlag<AccessLogFormat>(
    flags,
    "access-log",
    ["json", "text", "off", "auto"],
    "auto",
  );
  const transportName = choiceFlag(flags, "transport", Object.keys(TRANSPORTS), "fetch");
  return {
    hostname: stringFlag(flags, "hostname") ?? "127.0.0.1",
    port: portFlag(flags, "port", 8080),
    backends: backends.length > 0 ? backends : fallbackBackends,
    policy: choiceFlag(flags, "policy", POLICY_NAMES, "round-robin"),
    options: {
      timeoutMs: durationFlag(flags, "timeout", DEFAULT_OPTIONS.timeoutMs),
      retryDowntimeMs: durationFlag(flags, "retry-downtime", DEFAULT_OPTIONS.retryDowntimeMs),
      replayLimitBytes: integerFlag(
        flags,
        "replay-limit",
        DEFAULT_OPTIONS.replayLimitBytes,
        0,
        1 << 30,
      ),
      retryNonIdempotent: choiceFlag(flags, "retry-after-send", ["all", "idempotent"], "all") ===
        "all",
      trustedProxies: listFlag(flags, "trusted-proxy"),
    },
    transport: TRANSPORTS[transportName](),
    onRequest: accessLogger(accessLog, log, Deno.stdout.isTerminal()),
    log,
  };
}

/**
 * Parses `--backend` values. Each value is a comma-separated list; an item of the form
 * `name=value` (no `://`) is an option of the URL before it, e.g.
 * `http://a:8001,weight=3,http://b:8002`.
 */
export function parseBackendFlags(values: readonly string[]): BackendConfig[] {
  const backends: { url: string; weight: number }[] = [];
  for (const value of values) {
    for (const item of value.split(",")) {
      const text = item.trim();
      const option = /^([a-z]+)=(.*)$/.exec(text);
      if (option && !text.includes("://")) {
        const previous = backends.at(-1);
        if (!previous) {
          throw new UsageError(`--backend ${quote(value)}: ${text} must follow a backend URL`);
        }
        applyBackendOption(previous, option[1], option[2], value);
        continue;
      }
      const normal = normaliseBackendUrl(text);
      if ("problem" in normal) {
        throw new UsageError(`--backend ${quote(text)}: ${normal.problem}`);
      }
      if (backends.some((b) => b.url === normal.url)) {
        throw new UsageError(`--backend ${quote(text)}: given twice`);
      }
      backends.push({ url: normal.url, weight: 1 });
    }
  }
  return backends;
}

function applyBackendOption(
  backend: { weight: number },
  name: string,
  value: string,
  flag: string,
): void {
  if (name !== "weight") {
    throw new UsageError(
      `--backend ${quote(flag)}: unknown backend option "${name}" (expected weight)`,
    );
  }
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 1_000) {
    throw new UsageError(
      `--backend ${quote(flag)}: weight ${quote(value)} is not a whole number from 1 to 1000`,
    );
  }
  backend.weight = Number(value);
}
