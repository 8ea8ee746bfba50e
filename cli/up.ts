/**
 * `roundabout up`: a whole scenario in one process, mock apps and the balancer in front of
 * them: the event log on stderr, the access log on stdout. The scenario is a topology file: one of the built-in ones in
 * `topologies/` by name, or a file of yours.
 *
 * @module
 */

import { LineBuffer, writeAll } from "../balancer/access_log.ts";
import { parseJsonc } from "../config/jsonc.ts";
import { ConfigError } from "../config/problems.ts";
import { envLayer, flagLayer, type Layer, objectLayer, resolve } from "../config/sources.ts";
import { BUILT_IN_TOPOLOGIES, readTopology, type Topology, withAppUrls } from "../app/topology.ts";
import { type RunningMock, startMock } from "../mocks/mod.ts";
import { BALANCE_FLAGS, runUntilStopped, settingsHelp, startOrExplain } from "./balance.ts";
import { explainListenError } from "./lifecycle.ts";
import { type Instance, startInstance } from "../app/instance.ts";
import { type Flags, parseFlags, quote, stringFlag, UsageError } from "./usage.ts";

export const UP_HELP = `roundabout up: a scenario in one process, mock apps behind the balancer

Usage: roundabout up [normal|failing|slow|routing|FILE] [--app-ports P1,P2,...] [balance options]

Topologies (built in, from topologies/):
  normal    three normal echo apps on 8001-8003 (default)
  failing   the middle app fails every other request (scenario 1)
  slow      the middle app answers after 3s, past the 2s timeout (scenario 2)
  routing   pools and routes: api.localhost and /api to two API apps (1s timeout),
            /poll to a long-poll app answering after 3s (10s timeout), the rest to web
  FILE      a topology file of yours: which mock app on which port with which options, and
            the balancer's settings (see topologies/topology.schema.json)

Options:
  --app-ports P1,P2,...  ports of the apps, in order (default: as the topology says)
  Every option of "roundabout balance" except --backend and --config applies to the
  balancer, over the topology's own settings:
${settingsHelp(["backend"])}
Ctrl-C stops everything.`;

const SPEC = { ...BALANCE_FLAGS, "app-ports": { type: "string" } } as const;

/** Runs the command; resolves with the exit status once stopped. */
export async function upCommand(args: readonly string[]): Promise<number> {
  const { flags, positionals } = parseFlags("up", args, SPEC);
  if (flags.help) {
    console.log(UP_HELP);
    return 0;
  }
  const { name, topology } = chooseTopology(flags, positionals);
  const stdout = new LineBuffer((bytes) => writeAll(Deno.stdout, bytes));
  const { prefixed, access, release } = upStreams(stdout, (line) => console.error(line));
  const apps: RunningMock[] = [];
  const closeApps = () => Promise.all(apps.map((app) => app.close()));
  let instance: Instance;
  try {
    await startApps(topology, prefixed, apps);
    instance = await startBalancerInFront(
      name,
      withAppUrls(topology, apps.map((app) => app.url)),
      flags,
      {
        log: prefixed("balancer"),
        access,
      },
    );
  } catch (error) {
    await closeApps();
    throw error;
  }
  release();
  const say = prefixed("up");
  if (topology.description) say(topology.description);
  say(`topology "${name}" is up: try  curl -si ${instance.running.url}/`);
  await runUntilStopped(instance, prefixed("balancer"), stdout);
  await closeApps();
  say("stopped");
  await stdout.flush();
  return 0;
}

/**
 * Where `up` writes: every part's event log on stderr, each line under its source's prefix
 * (`[balancer] …`, `[app1 normal:8001] …`), as `balance` does; the access log on stdout as
 * it is, so that JSON lines stay JSON (`up | jq` works).
 */
export function upStreams(stdout: LineBuffer, eventLine: (line: string) => void): {
  prefixed: (source: string) => (line: string) => void;
  access: (line: string) => void;
  /** Writes the event lines held so far and the rest as they come. */
  release: () => void;
} {
  // Held until the balancer starts: a start that fails says only why (one line on stderr).
  let held: string[] | undefined = [];
  return {
    prefixed: (source) => {
      const prefix = `[${source}] `;
      return (line) => held ? held.push(prefix + line) : eventLine(prefix + line);
    },
    access: stdout.push,
    release: () => {
      const lines = held ?? [];
      held = undefined;
      for (const line of lines) eventLine(line);
    },
  };
}

/** The topology the arguments name (default `normal`), with `--app-ports` applied. */
function chooseTopology(
  flags: Flags,
  positionals: readonly string[],
): { name: string; topology: Topology } {
  if (positionals.length > 1) {
    throw new UsageError(`up: unexpected argument ${quote(positionals[1])} (see --help)`);
  }
  if (flags.backend !== undefined) {
    throw new UsageError("up: --backend is not taken here; the topology decides the backends");
  }
  if (flags.config !== undefined) {
    throw new UsageError("up: --config is not taken here; the topology's balancer section is it");
  }
  const name = positionals[0] ?? "normal";
  const portsText = stringFlag(flags, "app-ports");
  const topology = loadTopology(name, portsText === undefined ? undefined : appPorts(portsText));
  if (portsText !== undefined && portsText.split(",").length !== topology.apps.length) {
    const count = topology.apps.length;
    throw new UsageError(
      `--app-ports ${quote(portsText)}: expected ${COUNTS[count] ?? count} different ports, ` +
        `one per app of the topology, e.g. ${topology.apps.map((_, i) => 8001 + i).join(",")}`,
    );
  }
  return { name, topology };
}

/**
 * Starts the topology's apps in order, each logging under its own prefix, adding each to
 * `started` as it listens (so the caller closes those if a later one fails).
 */
async function startApps(
  topology: Topology,
  prefixed: (source: string) => (line: string) => void,
  started: RunningMock[],
): Promise<void> {
  for (const app of topology.apps) {
    const log = prefixed(`${app.name} ${app.kind}:${app.options.port}`);
    const running = await startMock(app.kind, { ...app.options, log }).catch((error) =>
      explainListenError(error, app.options.hostname, app.options.port)
    );
    started.push(running);
    log(`listening on ${running.url}`);
  }
}

/**
 * Starts one balancer in front of `apps`: the topology's balancer section (its backends
 * default to the apps), under the environment and the flags.
 */
function startBalancerInFront(
  name: string,
  balancerSection: Topology["balancer"],
  flags: Flags,
  out: { log: (line: string) => void; access: (line: string) => void },
): Promise<Instance> {
  const env = Deno.env.toObject();
  const sources = (): Layer[] => [
    objectLayer(name, balancerSection),
    envLayer(env),
    flagLayer(flags),
  ];
  const resolved = resolve(sources());
  if (resolved.settings.workers > 1) {
    // A scenario is for watching one balancer's decisions in one log; several workers
    // would each keep their own order and health, which is what `balance` documents.
    throw new UsageError(
      `up: --workers ${resolved.settings.workers} is not taken here; use balance --workers`,
    );
  }
  return startOrExplain(() =>
    startInstance({
      resolved,
      sources,
      log: out.log,
      accessLog: out.access,
      isTerminal: Deno.stdout.isTerminal(),
    })
  );
}

const COUNTS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/** A built-in topology by name, or a topology file. */
function loadTopology(name: string, ports: readonly number[] | undefined): Topology {
  const document = Object.hasOwn(BUILT_IN_TOPOLOGIES, name)
    ? BUILT_IN_TOPOLOGIES[name]
    : readTopologyFile(name);
  const apps = (document as { apps?: unknown[] })?.apps;
  const fits = ports === undefined || !Array.isArray(apps) || apps.length === ports.length;
  const label = Object.hasOwn(BUILT_IN_TOPOLOGIES, name) ? `topologies/${name}.json` : name;
  return readTopology(label, document, fits ? ports : undefined);
}

function readTopologyFile(name: string): unknown {
  if (!/\.jsonc?$/.test(name) && !name.includes("/")) {
    throw new UsageError(
      `up ${quote(name)}: unknown topology, expected one of ${
        Object.keys(BUILT_IN_TOPOLOGIES).join(", ")
      } or a .json file`,
    );
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(name);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound ? "no such file" : String(error);
    throw new UsageError(`up ${quote(name)}: cannot read it (${reason})`);
  }
  try {
    return parseJsonc(text);
  } catch (error) {
    throw new ConfigError([`${name}: not valid JSON: ${(error as Error).message}`]);
  }
}

function appPorts(text: string): number[] {
  const parts = text.split(",");
  const ports = parts.map(Number);
  const valid = parts.every((p) => /^\d{1,5}$/.test(p)) &&
    ports.every((p) => p >= 0 && p <= 65_535) &&
    new Set(ports.filter((p) => p !== 0)).size === ports.filter((p) => p !== 0).length;
  if (!valid) {
    throw new UsageError(
      `--app-ports ${quote(text)}: expected different ports separated by commas, ` +
        "e.g. 8001,8002,8003",
    );
  }
  return ports;
}
