/**
 * `roundabout up`: the whole demo topology in one process, three mock apps and the
 * balancer in front of them, in one log stream.
 *
 * @module
 */

import { type MockKind, type RunningMock, startMock } from "../mocks/mod.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { BALANCE_FLAGS, balancerConfigFromFlags } from "./balance.ts";
import { explainListenError, untilStopped } from "./lifecycle.ts";
import { parseFlags, quote, stringFlag, UsageError } from "./usage.ts";

/** Which app runs on each of the three ports, by topology name. */
export const TOPOLOGIES: Readonly<Record<string, readonly MockKind[]>> = {
  normal: ["normal", "normal", "normal"],
  failing: ["normal", "alternating", "normal"],
  slow: ["normal", "delayed", "normal"],
};

export const UP_HELP = `roundabout up: the demo topology, three apps behind the balancer

Usage: roundabout up [normal|failing|slow] [--app-ports 8001,8002,8003] [balance options]

Topologies:
  normal    three normal echo apps (default)
  failing   the middle app fails every other request (scenario 1)
  slow      the middle app answers after 3s, past the 2s timeout (scenario 2)

Options:
  --app-ports P1,P2,P3   ports of the three apps (default 8001,8002,8003)
  --port N               the balancer's port (default 8080)
  Every option of "roundabout balance" except --backend applies to the balancer.
Ctrl-C stops everything.`;

const SPEC = { ...BALANCE_FLAGS, "app-ports": { type: "string" } } as const;

/** Runs the command; resolves with the exit status once stopped. */
export async function upCommand(args: readonly string[]): Promise<number> {
  const { flags, positionals } = parseFlags("up", args, SPEC);
  if (flags.help) {
    console.log(UP_HELP);
    return 0;
  }
  const name = positionals[0] ?? "normal";
  const kinds = TOPOLOGIES[name];
  if (!kinds) {
    throw new UsageError(
      `up ${quote(name)}: unknown topology, expected one of ${Object.keys(TOPOLOGIES).join(", ")}`,
    );
  }
  if (flags.backend !== undefined) {
    throw new UsageError("up: --backend is not taken here; the topology decides the backends");
  }
  const ports = appPorts(stringFlag(flags, "app-ports") ?? "8001,8002,8003");
  const hostname = "127.0.0.1";
  const backends = ports.map((port) => ({ url: `http://${hostname}:${port}`, weight: 1 }));
  // A demo is read by a person: text access log unless asked otherwise.
  const withText = flags["access-log"] === undefined ? { ...flags, "access-log": "text" } : flags;
  const config = balancerConfigFromFlags(withText, prefixed("balancer"), backends);

  const apps: RunningMock[] = [];
  let balancer: RunningBalancer | undefined;
  const stop = async () => {
    await balancer?.shutdown();
    await Promise.all(apps.map((app) => app.close()));
  };
  try {
    for (const [i, kind] of kinds.entries()) {
      const log = prefixed(`app${i + 1} ${kind}:${ports[i]}`);
      const app = await startMock(kind, { hostname, port: ports[i], log }).catch((error) =>
        explainListenError(error, hostname, ports[i])
      );
      apps.push(app);
      log(`listening on ${app.url}`);
    }
    try {
      balancer = startBalancer(config);
    } catch (error) {
      explainListenError(error, config.hostname!, config.port!);
    }
  } catch (error) {
    config.transport?.close();
    await stop();
    throw error;
  }
  prefixed("up")(`topology "${name}" is up: try  curl -si ${balancer.url}/`);
  await untilStopped(stop);
  prefixed("up")("stopped");
  return 0;
}

function appPorts(text: string): number[] {
  const parts = text.split(",");
  const ports = parts.map(Number);
  const valid = parts.length === 3 &&
    parts.every((p) => /^\d{1,5}$/.test(p)) &&
    ports.every((p) => p >= 1 && p <= 65_535) &&
    new Set(ports).size === 3;
  if (!valid) {
    throw new UsageError(
      `--app-ports ${quote(text)}: expected three different ports, e.g. 8001,8002,8003`,
    );
  }
  return ports;
}

function prefixed(source: string): (line: string) => void {
  const prefix = `[${source}] `;
  return (line) => console.log(prefix + line);
}
