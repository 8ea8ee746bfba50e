/**
 * Opening a connection to an origin, interruptibly, and naming why it failed: a failed
 * connect is the one failure where nothing reached the backend (kind `connect`). For an
 * `https://` origin the TLS handshake is part of connecting, with the certificate verified
 * against the system's roots plus `caCerts`, for the URL's host (also sent as SNI): an
 * untrusted certificate is a `connect` failure naming the backend and the reason.
 *
 * Plain TCP goes through `Deno.connect` (the default) or `node:net` (`net_socket.ts`); TLS
 * always through `Deno.connect` and `Deno.startTls`, whose certificate checks and error names
 * the client relies on.
 *
 * @module
 */

import { UpstreamError } from "../transport.ts";
import { Http1Connection } from "./connection.ts";
import type { ExchangeGuard } from "./exchange_guard.ts";
import type { Origin } from "./pool.ts";
import type { Http1Socket, SocketKind } from "./socket.ts";

let netSocket: Promise<typeof import("./net_socket.ts")> | undefined;

/** Connects, interruptibly: `send` reports an interruption as the client's or a timeout. */
export async function connect(
  origin: Origin,
  guard: ExchangeGuard,
  caCerts: string[],
  kind: SocketKind,
): Promise<Http1Connection> {
  // An AbortController only here: new connections are rare once the pool is warm.
  if (guard.interruption !== undefined) throw guard.interruption;
  const controller = new AbortController();
  guard.connecting = controller;
  const signal = controller.signal;
  let socket: Http1Socket;
  try {
    if (kind === "net" && !origin.tls) {
      // Loaded on first use: node:net costs memory at start-up (bench/README.md, "Memory").
      const { openNetSocket } = await (netSocket ??= import("./net_socket.ts"));
      socket = await openNetSocket(origin.hostname, origin.port, signal);
    } else {
      const tcp = await Deno.connect({ hostname: origin.hostname, port: origin.port, signal });
      tcp.setNoDelay(true);
      socket = origin.tls ? await secure(tcp, origin, caCerts, signal) : tcp;
    }
  } catch (error) {
    if (signal.aborted) throw error;
    if (error instanceof UpstreamError) throw error;
    throw new UpstreamError("connect", connectFailure(error, origin), { cause: error });
  } finally {
    guard.connecting = undefined;
  }
  if (signal.aborted) {
    socket.close();
    throw new UpstreamError("connect", "interrupted while connecting");
  }
  return new Http1Connection(socket);
}

/** TLS over `tcp`, handshake done, so a bad certificate fails here and not on first write. */
async function secure(
  tcp: Deno.TcpConn,
  origin: Origin,
  caCerts: string[],
  signal: AbortSignal,
): Promise<Deno.TlsConn> {
  const tls = await Deno.startTls(tcp, { hostname: origin.hostname, caCerts });
  const stop = () => closeQuietly(tls);
  signal.addEventListener("abort", stop, { once: true });
  try {
    await tls.handshake();
    return tls;
  } catch (error) {
    closeQuietly(tls);
    if (signal.aborted) throw error;
    const reason = handshakeFailure(error);
    throw new UpstreamError("connect", `TLS handshake with ${origin.host} failed: ${reason}`, {
      cause: error,
    });
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

/** Certificate errors by rustls's names, in words; anything else as the platform says it. */
function handshakeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const known: [string, string][] = [
    ["UnknownIssuer", "certificate not trusted (UnknownIssuer)"],
    ["Expired", "certificate expired (Expired)"],
    ["NotValidYet", "certificate not valid yet (NotValidYet)"],
  ];
  for (const [code, words] of known) if (message.includes(code)) return words;
  // e.g. `certificate not valid for name "10.0.0.2"; certificate is only valid for …`
  return message.replace(/^invalid peer certificate: /, "");
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

function connectFailure(error: unknown, origin: Origin): string {
  // Deno's error classes, or node:net's codes.
  const code = (error as { code?: unknown } | null)?.code;
  if (error instanceof Deno.errors.ConnectionRefused || code === "ECONNREFUSED") {
    return `connection refused (${origin.host})`;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes("lookup address") || code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return `name not resolved (${origin.host})`;
  }
  return `connect to ${origin.host} failed (${message})`;
}
