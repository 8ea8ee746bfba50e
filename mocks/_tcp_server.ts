/**
 * A raw TCP server for the mocks that break HTTP on purpose (`Deno.serve` would not let
 * them). One request per connection: read the head, count it, let the app answer (or not),
 * close. Every connection is closed and awaited on `close()`.
 *
 * @module
 */

import { discard, readRequest, type RequestHead } from "./_tcp_request.ts";
import type { MockKind, ResolvedMockOptions } from "./options.ts";
import { requestId } from "./_mode.ts";
import { Arrivals, listenUrl, type RunningMock, runningMock } from "./running.ts";

/** One request on one connection, handed to a {@linkcode TcpAnswer}. */
export interface Exchange {
  readonly kind: MockKind;
  readonly conn: Deno.Conn;
  readonly request: RequestHead;
  /** Aborts when the client closes its side or the mock closes. */
  readonly signal: AbortSignal;
}

/**
 * Writes whatever the app sends (or nothing) and resolves with a word for the log line,
 * such as `"200"` or `"reset"`. The server closes the connection afterwards.
 */
export type TcpAnswer = (exchange: Exchange) => Promise<string>;

/** Starts a raw TCP mock whose behaviour is `answer`. */
export function startTcpMock(
  kind: MockKind,
  options: ResolvedMockOptions,
  answer: TcpAnswer,
): RunningMock {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const arrivals = new Arrivals();
  const closing = new AbortController();
  const connections = new Set<Promise<void>>();
  const context: ConnectionContext = {
    kind,
    arrivals,
    answer,
    log: options.log,
    closing: closing.signal,
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const served = serveConnection(conn, context).finally(() => connections.delete(served));
        connections.add(served);
      }
    } catch {
      // close() closed the listener under the pending accept: that is the way out.
    }
  })();
  return runningMock({
    kind,
    url: listenUrl(options.hostname, listener.addr.port),
    port: listener.addr.port,
    arrivals,
    close: async () => {
      closing.abort();
      listener.close();
      await accepting;
      await Promise.all(connections);
    },
  });
}

/** The status line and headers of a response, always with `x-mock: <kind>`. */
export function responseHead(
  kind: MockKind,
  status: string,
  headers: Readonly<Record<string, string>>,
): Uint8Array {
  const fields = Object.entries({ ...headers, "x-mock": kind }).map(([k, v]) => `${k}: ${v}\r\n`);
  return new TextEncoder().encode(`HTTP/1.1 ${status}\r\n${fields.join("")}\r\n`);
}

/** Writes all of `bytes` (one `write` may take only part of them). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array | string): Promise<void> {
  let rest = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  while (rest.length > 0) rest = rest.subarray(await conn.write(rest));
}

interface ConnectionContext {
  readonly kind: MockKind;
  readonly arrivals: Arrivals;
  readonly answer: TcpAnswer;
  readonly log: (line: string) => void;
  readonly closing: AbortSignal;
}

async function serveConnection(conn: Deno.Conn, context: ConnectionContext): Promise<void> {
  const { kind, arrivals, answer, log, closing } = context;
  // Reads have no abort signal: closing the socket is what ends a pending read, on close()
  // as well as at the end of the exchange. `open` keeps it to exactly one close.
  let open = true;
  const shut = () => {
    if (open) {
      open = false;
      conn.close();
    }
  };
  closing.addEventListener("abort", shut);
  if (closing.aborted) shut();
  let watching: Promise<void> = Promise.resolve();
  try {
    const request = await readRequest(conn);
    if (request === null) return;
    arrivals.record(request.method, requestId(undefined, request.target));
    // Read (and drop) whatever else comes, to learn when the client leaves.
    const clientGone = new AbortController();
    watching = discard(conn).finally(() => clientGone.abort());
    const signal = AbortSignal.any([closing, clientGone.signal]);
    const outcome = await answer({ kind, conn, request, signal }).catch(describeFailure);
    log(`${request.method} ${request.target.split("?")[0]} ${outcome} (${kind})`);
  } catch {
    // The connection failed before a whole request arrived: nothing to count or log.
  } finally {
    closing.removeEventListener("abort", shut);
    shut();
    await watching;
  }
}

function describeFailure(error: unknown): string {
  const clientLeft = error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted;
  return clientLeft ? "client gone" : `error: ${error instanceof Error ? error.message : error}`;
}
