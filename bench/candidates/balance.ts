/**
 * The real balancer (`startBalancer`) with a benchmark candidate transport, for
 * `bench/run.ts` (subjects `roundabout-node-http` and `roundabout-undici`). Prints the same
 * `listening on http://HOST:PORT` line as `main.ts balance` and stops cleanly on SIGTERM or
 * SIGINT, so that `--cpu-prof` can write its profile.
 *
 * ```sh
 * deno run --allow-net --allow-read --allow-env bench/candidates/balance.ts --transport undici \
 *   --port 8000 --backend http://127.0.0.1:8001 --backend http://127.0.0.1:8002 \
 *   --timeout 2s --retry-downtime 10s
 * ```
 *
 * Only what the benchmark gives `main.ts balance` is taken (see `candidateCommand` in
 * bench/subjects.ts); everything else is the balancer's default, with no access log.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseDuration } from "../../lib/duration.ts";
import { startBalancer } from "../../balancer/server.ts";
import type { Transport } from "../../transports/transport.ts";
import { NodeHttpTransport } from "./node_http_transport.ts";
import { UndiciTransport } from "./undici_transport.ts";

/** The candidate transports, by the name `--transport` takes. */
export const CANDIDATES: Readonly<Record<string, () => Transport>> = {
  "node-http": () => new NodeHttpTransport(),
  "undici": () => new UndiciTransport(),
};

const USAGE = "usage: balance.ts --transport node-http|undici --port N [--hostname H] " +
  "--backend URL… [--timeout 2s] [--retry-downtime 10s]";

function fail(message: string): never {
  console.error(`balance.ts: ${message}\n${USAGE}`);
  Deno.exit(2);
}

function duration(flag: string, text: string): number {
  return parseDuration(text) ?? fail(`--${flag} "${text}" is not a duration such as 2s`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      transport: { type: "string" },
      port: { type: "string", default: "8080" },
      hostname: { type: "string", default: "127.0.0.1" },
      backend: { type: "string", multiple: true, default: [] },
      timeout: { type: "string", default: "2s" },
      "retry-downtime": { type: "string", default: "10s" },
    },
  });
  const make = CANDIDATES[values.transport ?? ""] ??
    fail(`--transport must be one of ${Object.keys(CANDIDATES).join(", ")}`);
  if (values.backend.length === 0) fail("give at least one --backend http://host:port");
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) fail(`--port "${values.port}"`);
  const running = startBalancer({
    hostname: values.hostname,
    port,
    backends: values.backend.map((url) => ({ url: url.replace(/\/$/, ""), weight: 1 })),
    options: {
      timeoutMs: duration("timeout", values.timeout),
      retryDowntimeMs: duration("retry-downtime", values["retry-downtime"]),
    },
    transport: make(),
    // The event log (listening, ejections, overload); the access log stays off.
    log: (line) => console.log(line),
  });
  const stop = () => {
    Deno.removeSignalListener("SIGTERM", stop);
    Deno.removeSignalListener("SIGINT", stop);
    running.shutdown(1_000).finally(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
