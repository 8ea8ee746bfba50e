/**
 * One worker of `balance --workers N` (see `workers.ts`): a complete instance sharing the
 * port, started, reloaded and stopped by messages from the main thread.
 *
 * @module
 */

import { LineBuffer, writeAll } from "../balancer/access_log.ts";
import { ConfigError } from "../config/problems.ts";
import { type Layer, objectLayer, resolve } from "../config/sources.ts";
import { BALANCE_FLAGS, balanceSources, startOrExplain, stopInstance } from "./balance.ts";
import { type Instance, startInstance } from "../app/instance.ts";
import { parseFlags, UsageError } from "./usage.ts";
import type { FromWorker, ToWorker } from "./workers.ts";

/** The parts of a worker's global scope used here (the checked lib is the window's). */
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
};

let instance: Instance | undefined;
const stdout = new LineBuffer((bytes) => writeAll(Deno.stdout, bytes));
let log = (line: string) => console.error(`[balancer] ${line}`);

scope.onmessage = (event) => {
  const message = event.data;
  switch (message.type) {
    case "start":
      start(message);
      break;
    case "reload":
      instance?.live.reload(message.reason).catch((error) => log(`reload failed: ${error}`));
      break;
    case "stop":
      stop(message.signal);
      break;
  }
};

function start(message: Extract<ToWorker, { type: "start" }>): void {
  const { index, count } = message;
  log = (line) => console.error(`[balancer w${index}] ${line}`);
  try {
    const { flags } = parseFlags("balance", message.args, BALANCE_FLAGS);
    const base = balanceSources(flags, message.env).sources;
    const own = workerLayer(message);
    const sources = (): Layer[] => own === undefined ? base() : [...base(), own];
    const resolved = resolve(sources());
    instance = startOrExplain(() =>
      startInstance({
        resolved,
        sources,
        log,
        accessLog: stdout.push,
        isTerminal: message.isTerminal,
        stickySecret: message.stickySecret,
        worker: {
          index,
          count,
          reloadOthers: (reason) => scope.postMessage({ type: "reload-others", reason }),
        },
      })
    );
  } catch (error) {
    if (error instanceof UsageError) {
      return scope.postMessage({ type: "refused", problems: [error.message] });
    }
    if (error instanceof ConfigError) {
      return scope.postMessage({ type: "refused", problems: error.problems });
    }
    throw error;
  }
  scope.postMessage({ type: "ready", url: instance.running.url, port: instance.running.port });
}

/**
 * What sets this worker apart, as the highest-precedence layer, so that every reload reads
 * it again: the first worker's port when 0 was given, and the admin port + index.
 */
function workerLayer(message: Extract<ToWorker, { type: "start" }>): Layer | undefined {
  const values: Record<string, unknown> = {};
  if (message.listenPort !== undefined) values.listen = { port: message.listenPort };
  if (message.adminPort !== undefined) values.admin = { port: message.adminPort };
  if (Object.keys(values).length === 0) return undefined;
  return { ...objectLayer(`worker ${message.index}`, values), source: "flag" };
}

async function stop(signal: string): Promise<void> {
  if (instance !== undefined) await stopInstance(instance, signal, log, stdout);
  // The main thread terminates this worker once every worker has said so.
  scope.postMessage({ type: "stopped" });
}
