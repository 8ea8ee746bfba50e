/**
 * Shared test fixtures: throwaway servers on port 0, a port nobody listens on, and waiting
 * for state only a server sees.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { RequestRecord } from "../balancer/balancer.ts";
import { type BalancerOptions, healthSettings } from "../balancer/options.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { TRANSPORTS } from "../transports/mod.ts";
import { Backend, type BackendConfig } from "../backends/backend.ts";

/** A server on a free loopback port; close it with `shutdown()` in `finally`. */
export interface TestServer {
  readonly url: string;
  readonly port: number;
  shutdown(): Promise<void>;
}

/** Serves `handler` on 127.0.0.1 at a free port. */
export function serve(
  handler: (request: Request) => Response | Promise<Response>,
  port = 0,
): TestServer {
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, handler);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    port: server.addr.port,
    shutdown: () => server.shutdown(),
  };
}

/** A port that was bound and then closed: connecting to it is refused. */
export function deadPort(): number {
  // Below Linux's ephemeral range (32768-60999): a port freed there can be handed to the next
  // server that binds port 0 in a test running alongside, which then answers on the "dead"
  // port (seen in the parallel arrivals matrix). Ports down here are never handed out.
  const first = DEAD_PORTS_FROM + Math.floor(Math.random() * DEAD_PORTS_SPAN);
  for (let i = 0; i < DEAD_PORTS_SPAN; i++) {
    const port = DEAD_PORTS_FROM + (first - DEAD_PORTS_FROM + i) % DEAD_PORTS_SPAN;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // In use by something else: try the next one.
    }
  }
  throw new Error(`no free port in ${DEAD_PORTS_FROM}-${DEAD_PORTS_FROM + DEAD_PORTS_SPAN - 1}`);
}

/** Where dead ports are taken from: clear of the ports `up` and the benchmark use. */
const DEAD_PORTS_FROM = 20_000;
const DEAD_PORTS_SPAN = 12_000;

/** Backends for unit tests, named a, b, c… with the given retry downtime. */
export function backends(count: number, ejectMs = 10_000, weights: number[] = []): Backend[] {
  return Array.from({ length: count }, (_, i) => {
    const config: BackendConfig = {
      url: `http://${String.fromCharCode(97 + i)}.test`,
      weight: weights[i] ?? 1,
    };
    return new Backend(config, healthSettings({ ejectMs }));
  });
}

/** A backend that talks raw TCP: `serveOne` runs for each connection, which is closed after. */
export function rawBackend(
  serveOne: (conn: Deno.Conn) => Promise<void>,
): { url: string; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      served.push(
        serveOne(conn).catch(() => {
          // The peer left first: nothing more to do.
        }).finally(() => conn.close()),
      );
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    async close() {
      listener.close();
      await accepting;
      await Promise.all(served);
    },
  };
}

/**
 * Waits until `condition()` holds, polling every 10 ms; throws after `timeoutMs`. For state
 * that changes without telling the test (arrivals at a server, a try ending in the
 * balancer); time the test controls goes on a fake clock instead.
 */
export async function eventually(
  condition: () => boolean,
  what: string,
  timeoutMs = 3_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Reads a child's stream line by line until `match` appears; returns the line, and `rest`,
 * which collects the following lines into `seen` until the stream ends (whole lines only,
 * however the stream is cut into chunks).
 */
export async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  match: RegExp,
  seen: string[],
): Promise<{ line: string; rest: Promise<void> }> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let found: string | undefined;
  while (found === undefined) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended before ${match}:\n${seen.join("\n")}`);
    buffer += value;
    const lines = buffer.split("\n");
    buffer = lines.pop()!;
    for (const line of lines) {
      seen.push(line);
      found ??= match.test(line) ? line : undefined;
    }
  }
  const rest = (async () => {
    while (true) {
      const next = await reader.read();
      if (next.done) break;
      buffer += next.value;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      seen.push(...lines.filter((l) => l));
    }
    if (buffer) seen.push(buffer);
  })();
  return { line: found, rest };
}

/**
 * A balancer on port 0 in front of `backends` over the named transport, keeping every
 * request's record; shut down when `test` ends, whichever way.
 */
export async function withRecordingBalancer(
  transport: string,
  options: Partial<BalancerOptions>,
  backends: string[],
  test: (balancer: RunningBalancer, records: RequestRecord[]) => Promise<void>,
): Promise<void> {
  const records: RequestRecord[] = [];
  const balancer = startBalancer({
    port: 0,
    backends: backends.map((url) => ({ url, weight: 1 })),
    options,
    transport: TRANSPORTS[transport](),
    onRequest: (record) => records.push(record),
  });
  try {
    await test(balancer, records);
  } finally {
    await balancer.shutdown();
  }
}
