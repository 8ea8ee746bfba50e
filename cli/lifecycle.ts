/**
 * Process lifecycle shared by the commands: listening errors explained, and a clean stop on
 * Ctrl-C (SIGINT) or SIGTERM.
 *
 * @module
 */

import { ListenError } from "../app/instance.ts";
import { UsageError } from "./usage.ts";

/**
 * Rethrows an error from binding a listener as a UsageError naming the address, so a port in
 * use or an address that is not ours ends with one line and exit status 2. `hostname` and
 * `port` name the address when the error is not already a {@linkcode ListenError}.
 */
export function explainListenError(error: unknown, hostname?: string, port?: number): never {
  if (error instanceof UsageError) throw error;
  const where = error instanceof ListenError
    ? error.where
    : `--hostname ${hostname} --port ${port}`;
  const cause = error instanceof ListenError ? error.cause : error;
  if (cause instanceof Deno.errors.AddrInUse) {
    throw new UsageError(`${where}: address already in use (is another server running?)`);
  }
  if (cause instanceof Error) {
    throw new UsageError(`${where}: cannot listen there (${cause.message})`);
  }
  throw error;
}

/** Waits for SIGINT or SIGTERM, then runs `stop` once with the signal's name. */
export function untilStopped(stop: (signal: Deno.Signal) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const listeners = signals.map((signal) => {
      const listener = () => {
        signals.forEach((s, i) => Deno.removeSignalListener(s, listeners[i]));
        stop(signal).then(resolve, reject);
      };
      return listener;
    });
    signals.forEach((signal, i) => Deno.addSignalListener(signal, listeners[i]));
  });
}
