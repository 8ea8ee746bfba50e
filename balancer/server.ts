/**
 * Runs a {@linkcode Balancer} on `Deno.serve`, and stops it cleanly.
 *
 * @module
 */

import { Backend, type BackendConfig } from "./backend.ts";
import { Balancer, type RequestRecord } from "./balancer.ts";
import { type Clock, systemClock } from "./clock.ts";
import { formatDuration } from "./duration.ts";
import { type BalancerOptions, DEFAULT_OPTIONS } from "./options.ts";
import { createPolicy } from "./policies/mod.ts";
import type { Transport } from "./transport.ts";
import { FetchTransport } from "./transports/fetch.ts";

/** Everything needed to start a balancer. */
export interface BalancerConfig {
  /** Address to listen on. Default 127.0.0.1. */
  readonly hostname?: string;
  /** Port to listen on; 0 picks a free one. Default 8080. */
  readonly port?: number;
  /** The backends, in rotation order. */
  readonly backends: readonly BackendConfig[];
  /** Selection policy name. Default `round-robin`. */
  readonly policy?: string;
  /** Proxy tunables; missing fields take {@linkcode DEFAULT_OPTIONS}. */
  readonly options?: Partial<BalancerOptions>;
  /** Upstream transport. Default a new {@linkcode FetchTransport}, closed on shutdown. */
  readonly transport?: Transport;
  /** Default the system clock. */
  readonly clock?: Clock;
  /** Access log sink; unset means no access log. */
  readonly onRequest?: (record: RequestRecord) => void;
  /** Event log sink (backend marked failed, listening, stopping). Default none. */
  readonly log?: (line: string) => void;
}

/** A balancer that is serving. */
export interface RunningBalancer {
  readonly balancer: Balancer;
  /** e.g. `http://127.0.0.1:8080` */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish, closes upstream connections. */
  shutdown(): Promise<void>;
}

/** Starts serving; throws `Deno.errors.AddrInUse` when the port is taken. */
export function startBalancer(config: BalancerConfig): RunningBalancer {
  const options: BalancerOptions = { ...DEFAULT_OPTIONS, ...config.options };
  const passive = { ejectMs: options.retryDowntimeMs };
  const backends = config.backends.map((b) => new Backend(b, passive));
  const transport = config.transport ?? new FetchTransport();
  const log = config.log;
  const balancer = new Balancer({
    options,
    backends,
    policy: createPolicy(config.policy ?? "round-robin"),
    transport,
    clock: config.clock ?? systemClock,
    onRequest: config.onRequest,
    onEject: log &&
      ((backend) =>
        log(
          `backend ${backend.url} marked failed for ${formatDuration(options.retryDowntimeMs)}: ` +
            backend.health.cause?.detail,
        )),
  });
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: config.hostname ?? "127.0.0.1",
      port: config.port ?? 8080,
      onListen: () => {},
      onError: (error) => {
        log?.(`internal error: ${error instanceof Error ? error.stack : error}`);
        return Response.json({ error: "internal error in the balancer" }, { status: 500 });
      },
    }, balancer.handle);
  } catch (error) {
    transport.close();
    throw error;
  }
  const url = `http://${server.addr.hostname}:${server.addr.port}`;
  log?.(`listening on ${url}, backends ${backends.map((b) => b.url).join(", ")}`);
  return {
    balancer,
    url,
    port: server.addr.port,
    async shutdown() {
      await server.shutdown();
      transport.close();
    },
  };
}
