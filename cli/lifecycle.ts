/**
 * Process lifecycle shared by the commands: listening errors explained, and a clean stop on
 * Ctrl-C (SIGINT) or SIGTERM.
 *
 * @module
 */

import { UsageError } from "./usage.ts";

/**
 * Rethrows an error from binding a listener as a UsageError naming the address, so a port in
 * use or an address that is not ours ends with one line and exit status 2.
 */
export function explainListenError(error: unknown, hostname: string, port: number): never {
  const where = `--hostname ${hostname} --port ${port}`;
  if (error instanceof Deno.errors.AddrInUse) {
    throw new UsageError(`${where}: address already in use (is another server running?)`);
  }
  if (error instanceof Error && !(error instanceof UsageError)) {
    throw new UsageError(`${where}: cannot listen there (${error.message})`);
  }
  throw error;
}

/** Waits for SIGINT or SIGTERM, then runs `stop` once. */
export function untilStopped(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const onSignal = () => {
      for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
      stop().then(resolve, reject);
    };
    for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  });
}
