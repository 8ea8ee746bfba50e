/**
 * Serves the admin API on its own address, apart from the traffic port.
 *
 * @module
 */

import { isLoopback } from "../config/model.ts";
import { backgroundTimers, type Timers } from "../lib/time.ts";
import { adminApp, type AdminParts } from "./app.ts";
import { History, startSampling } from "./history.ts";
import { everyBackend } from "./parts.ts";

/** Where and how the admin API listens. */
export interface AdminServerOptions extends AdminParts {
  /** Default 127.0.0.1. */
  readonly hostname?: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** What the dashboard's sampler waits on. Default: unref'd platform timers. */
  readonly timers?: Timers;
}

/** The admin API, serving. */
export interface RunningAdmin {
  /** e.g. `http://127.0.0.1:9090` */
  readonly url: string;
  readonly port: number;
  shutdown(): Promise<void>;
}

/**
 * Starts the admin API.
 *
 * @throws {RangeError} when bound to a non-loopback address without a token (the config
 * checks catch this first; this is the last line of defence).
 * @throws {Deno.errors.AddrInUse} when the port is taken.
 */
export function startAdmin(options: AdminServerOptions): RunningAdmin {
  const hostname = options.hostname ?? "127.0.0.1";
  if (!isLoopback(hostname) && options.token === undefined) {
    throw new RangeError(
      `Cannot serve the admin API on ${hostname} without a token: anyone who reaches it ` +
        "could change the backends",
    );
  }
  const history = options.history ?? new History();
  const parts = { ...options, history };
  const app = adminApp(parts);
  const server = Deno.serve({ hostname, port: options.port, onListen: () => {} }, app.fetch);
  const sampling = startSampling(
    history,
    () => everyBackend(parts),
    options.clock,
    options.timers ?? backgroundTimers,
  );
  const host = server.addr.hostname.includes(":")
    ? `[${server.addr.hostname}]`
    : server.addr.hostname;
  return {
    url: `http://${host}:${server.addr.port}`,
    port: server.addr.port,
    shutdown: () => {
      sampling.stop();
      return server.shutdown();
    },
  };
}
