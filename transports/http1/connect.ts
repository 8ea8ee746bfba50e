/**
 * Opening a connection to an origin, interruptibly, and naming why it failed: a failed
 * connect is the one failure where nothing reached the backend (kind `connect`).
 *
 * @module
 */

import { UpstreamError } from "../transport.ts";
import { Http1Connection } from "./connection.ts";
import type { ExchangeGuard } from "./exchange_guard.ts";
import type { Origin } from "./pool.ts";

/** Connects, interruptibly: `send` reports an interruption as the client's or a timeout. */
export async function connect(origin: Origin, guard: ExchangeGuard): Promise<Http1Connection> {
  // An AbortController only here: new connections are rare once the pool is warm.
  if (guard.interruption !== undefined) throw guard.interruption;
  const controller = new AbortController();
  guard.connecting = controller;
  const signal = controller.signal;
  let socket: Deno.TcpConn;
  try {
    socket = await Deno.connect({ hostname: origin.hostname, port: origin.port, signal });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new UpstreamError("connect", connectFailure(error, origin), { cause: error });
  } finally {
    guard.connecting = undefined;
  }
  if (signal.aborted) {
    socket.close();
    throw new UpstreamError("connect", "interrupted while connecting");
  }
  socket.setNoDelay(true);
  return new Http1Connection(socket);
}

function connectFailure(error: unknown, origin: Origin): string {
  if (error instanceof Deno.errors.ConnectionRefused) return `connection refused (${origin.host})`;
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes("lookup address")) return `name not resolved (${origin.host})`;
  return `connect to ${origin.host} failed (${message})`;
}
