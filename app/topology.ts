/**
 * Scenario ("testing") configurations for `roundabout up`: which mock app runs on which port
 * with which options, and the balancer's settings in front of them (the config file's
 * format; its backends default to the apps, in order). The built-in topologies are JSON
 * files in `topologies/`, imported statically so that the compiled binary has them.
 *
 * @module
 */

import * as v from "../lib/check.ts";
import { MOCK_DEFAULTS, MOCK_KINDS, type MockKind, type MockOptions } from "../mocks/mod.ts";
import { formatDuration } from "../lib/duration.ts";
import failing from "../topologies/failing.json" with { type: "json" };
import normal from "../topologies/normal.json" with { type: "json" };
import routing from "../topologies/routing.json" with { type: "json" };
import slow from "../topologies/slow.json" with { type: "json" };
import { CONFIG_FILE, duration, hostname, integer, ms, port } from "../config/model.ts";
import { formatPath, issueLines } from "../config/problems.ts";
import { ConfigError } from "../config/problems.ts";

/** The built-in topologies by name, as their files say. */
export const BUILT_IN_TOPOLOGIES: Readonly<Record<string, unknown>> = {
  normal,
  failing,
  slow,
  routing,
};

const APP = v.object({
  name: v.string("expected a name").min(1, "expected a name")
    .describe("Name in the log. Default app1, app2, … by position.").optional(),
  kind: v.oneOf(MOCK_KINDS, `expected one of ${MOCK_KINDS.join(", ")}`)
    .describe("Which mock app (see `roundabout mock --help`)."),
  port: port("TCP port of the app; 0 picks a free one."),
  hostname: hostname(`Address the app listens on. Default ${MOCK_DEFAULTS.hostname}.`),
  delay: duration(
    `delayed: how long before answering. Default ${formatDuration(MOCK_DEFAULTS.delayMs)}.`,
  ),
  failureRate: v.number("expected a number from 0 to 1")
    .min(0, "expected a number from 0 to 1")
    .max(1, "expected a number from 0 to 1")
    .describe(`flaky: share of requests that fail. Default ${MOCK_DEFAULTS.failureRate}.`)
    .optional(),
  seed: integer(
    0,
    999_999_999,
    "a whole number",
    `flaky: seed of the failure sequence. Default ${MOCK_DEFAULTS.seed}.`,
  ),
  trickle: duration(
    "slow-body: pause between body chunks. Default " +
      `${formatDuration(MOCK_DEFAULTS.trickleIntervalMs)}.`,
  ),
});

/** A topology file. */
export const TOPOLOGY_FILE = v.object({
  $schema: v.string("expected the URL or path of a JSON Schema")
    .describe("This file's JSON Schema, for editors. Ignored by Roundabout.").optional(),
  description: v.string("expected a sentence")
    .describe("What this scenario shows; printed when it starts.").optional(),
  apps: v.array(APP, "expected a list of apps")
    .min(1, "expected at least one app")
    .describe("The mock apps, started in this order."),
  balancer: CONFIG_FILE.describe(
    "The balancer's settings, as in a config file. Backends default to the apps, in order. " +
      "A backend URL naming an app as declared here (http://127.0.0.1:8001 for an app on " +
      "port 8001), at the top level or in a pool, points at that app wherever it runs.",
  ).optional(),
}, "expected an object with apps and balancer");

/** One app of a topology, ready to start. */
export interface TopologyApp {
  readonly name: string;
  /** Its URL as the file declares it (`http://HOST:PORT`), when the file gives a port. */
  readonly declared?: string;
  readonly kind: MockKind;
  readonly options: MockOptions & { hostname: string; port: number };
}

/** A checked topology. */
export interface Topology {
  readonly description?: string;
  readonly apps: readonly TopologyApp[];
  /** The balancer section (file-shaped, checked again with the other sources). */
  readonly balancer: Record<string, unknown>;
}

/**
 * Checks a topology document and applies `appPorts` (from `--app-ports`) when given.
 *
 * @throws {ConfigError} listing every problem, each prefixed with `name`.
 */
export function readTopology(
  name: string,
  document: unknown,
  appPorts?: readonly number[],
): Topology {
  const parsed = TOPOLOGY_FILE.parse(document);
  if (!parsed.ok) {
    throw new ConfigError(
      issueLines(
        parsed.issues,
        (path) => ({ name: `${name}: ${formatPath(path)}`, style: "path" }),
      ),
    );
  }
  const file = parsed.value;
  if (appPorts !== undefined && appPorts.length !== file.apps.length) {
    throw new ConfigError([
      `--app-ports: ${name} has ${file.apps.length} apps, so give ${file.apps.length} ports`,
    ]);
  }
  const apps = file.apps.map((app, i): TopologyApp => ({
    name: app.name ?? `app${i + 1}`,
    ...(app.port === undefined
      ? {}
      : { declared: `http://${app.hostname ?? MOCK_DEFAULTS.hostname}:${app.port}` }),
    kind: app.kind,
    options: {
      hostname: app.hostname ?? MOCK_DEFAULTS.hostname,
      port: appPorts?.[i] ?? app.port ?? 0,
      delayMs: ms(app.delay, MOCK_DEFAULTS.delayMs),
      failureRate: app.failureRate,
      seed: app.seed,
      trickleIntervalMs: ms(app.trickle, MOCK_DEFAULTS.trickleIntervalMs),
    },
  }));
  const balancer = { ...(document as { balancer?: Record<string, unknown> }).balancer };
  return { description: file.description, apps, balancer };
}

/**
 * The balancer section for apps running at `urls` (in the topology's order): backends
 * default to the apps, and a backend URL naming an app as the file declared it points at
 * that app as it runs (its port may differ: `--app-ports`), at the top level and in pools.
 */
export function withAppUrls(
  topology: Topology,
  urls: readonly string[],
): Record<string, unknown> {
  const running = new Map<string, string>();
  topology.apps.forEach((app, i) => {
    if (app.declared !== undefined) running.set(app.declared, urls[i]);
  });
  const point = (list: unknown) =>
    Array.isArray(list)
      ? list.map((entry) =>
        typeof entry === "string"
          ? running.get(entry.replace(/\/$/, "")) ?? entry
          : entry?.url === undefined
          ? entry
          : { ...entry, url: running.get(String(entry.url).replace(/\/$/, "")) ?? entry.url }
      )
      : list;
  const section = topology.balancer;
  const pools = section.pools as Record<string, Record<string, unknown>> | undefined;
  return {
    ...section,
    backends: section.backends === undefined ? [...urls] : point(section.backends),
    ...(pools === null || typeof pools !== "object" ? {} : {
      pools: Object.fromEntries(
        Object.entries(pools).map((
          [name, pool],
        ) => [name, { ...pool, backends: point(pool?.backends) }]),
      ),
    }),
  };
}
