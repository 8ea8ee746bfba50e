/**
 * `roundabout mock KIND`: run one of the mock apps on its own.
 *
 * @module
 */

import {
  CONTROL_PREFIX,
  MOCK_DEFAULTS,
  MOCK_HELP,
  MOCK_KINDS,
  MOCK_MODES,
  type MockKind,
  startMock,
} from "../mocks/mod.ts";
import { formatDuration } from "../lib/duration.ts";
import { explainListenError, untilStopped } from "./lifecycle.ts";
import { durationFlag, parseFlags, portFlag, quote, stringFlag, UsageError } from "./usage.ts";

export const MOCK_USAGE = `roundabout mock: run a mock app for demos and tests

Usage: roundabout mock KIND [--port N] [--hostname ADDR] [options]

Options:
  --port N                 port to listen on (default 8001; 0 picks a free port)
  --hostname ADDR          address to listen on (default 127.0.0.1)
  --delay DURATION         delayed: how long before answering (default ${
  formatDuration(MOCK_DEFAULTS.delayMs)
})
  --failure-rate FRACTION  flaky: share of requests that fail, 0 to 1 (default ${MOCK_DEFAULTS.failureRate})
  --seed N                 flaky: seed of the failure sequence, so runs repeat (default ${MOCK_DEFAULTS.seed})
  --trickle DURATION       slow-body: pause between body chunks (default ${
  formatDuration(MOCK_DEFAULTS.trickleIntervalMs)
})

Kinds:
${MOCK_KINDS.map((kind) => kindHelp(kind)).join("\n")}

While it runs (HTTP kinds: normal, alternating, delayed, flaky), on the mock's own port:
  POST ${CONTROL_PREFIX}mode {"mode":"slow","delayMs":3000}   modes: ${MOCK_MODES.join(", ")}
  GET  ${CONTROL_PREFIX}received?id=ID   how many requests with ?id=ID (or x-request-id ID) arrived`;

/**
 * A kind's paragraph for `--help`: its description without the closing "Options:" sentence
 * (which names the programmatic option names, `delayMs` and the like, that neither this
 * command nor topology files take; the flags above are the command's), wrapped at 100
 * columns under the kind's name.
 */
function kindHelp(kind: MockKind): string {
  const text = MOCK_HELP[kind].replace(/\s*Options:.*$/s, "")
    .replaceAll("delayMs", "--delay").replaceAll("failureRate", "--failure-rate")
    .replaceAll("trickleIntervalMs", "--trickle");
  const lines: string[] = [];
  let line = `  ${kind.padEnd(12)}`;
  for (const word of text.split(/\s+/)) {
    if (line.length + word.length + 1 > 100) {
      lines.push(line);
      line = " ".repeat(14);
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines.join("\n");
}

const SPEC = {
  port: { type: "string" },
  hostname: { type: "string" },
  delay: { type: "string" },
  "failure-rate": { type: "string" },
  seed: { type: "string" },
  trickle: { type: "string" },
} as const;

/** Runs the command; resolves with the exit status once stopped. */
export async function mockCommand(args: readonly string[]): Promise<number> {
  const { flags, positionals } = parseFlags("mock", args, SPEC);
  if (flags.help) {
    console.log(MOCK_USAGE);
    return 0;
  }
  const kind = positionals[0];
  if (kind === undefined) {
    throw new UsageError(`mock: which app? expected one of ${MOCK_KINDS.join(", ")}`);
  }
  if (!(MOCK_KINDS as readonly string[]).includes(kind)) {
    throw new UsageError(
      `mock ${quote(kind)}: unknown app, expected one of ${MOCK_KINDS.join(", ")}`,
    );
  }
  if (positionals.length > 1) {
    throw new UsageError(`mock: unexpected argument ${quote(positionals[1])} (see --help)`);
  }
  const port = portFlag(flags, "port", 8001);
  const rateText = stringFlag(flags, "failure-rate");
  const rate = rateText === undefined ? MOCK_DEFAULTS.failureRate : Number(rateText);
  if (rateText !== undefined && (!/^\d*\.?\d+$/.test(rateText) || rate > 1)) {
    throw new UsageError(`--failure-rate ${quote(rateText)}: expected a fraction from 0 to 1`);
  }
  const seedText = stringFlag(flags, "seed");
  if (seedText !== undefined && !/^\d{1,9}$/.test(seedText)) {
    throw new UsageError(`--seed ${quote(seedText)}: expected a whole number`);
  }
  const log = (line: string) => console.log(`[${kind}:${port}] ${line}`);
  const options = {
    hostname: stringFlag(flags, "hostname") ?? "127.0.0.1",
    port,
    delayMs: durationFlag(flags, "delay", MOCK_DEFAULTS.delayMs),
    trickleIntervalMs: durationFlag(flags, "trickle", MOCK_DEFAULTS.trickleIntervalMs),
    failureRate: rate,
    seed: seedText === undefined ? MOCK_DEFAULTS.seed : Number(seedText),
    log,
  };
  const running = await startMock(kind as MockKind, options).catch((error) =>
    explainListenError(error, options.hostname, port)
  );
  console.log(`[${kind}:${port}] listening on ${running.url}`);
  await untilStopped(() => running.close());
  return 0;
}
