/**
 * The sockets a running balancer serves on: its listener (`Deno.serve`, plain HTTP or HTTPS
 * with h2 and http/1.1 by ALPN), and beside an HTTPS one optionally a plain listener that
 * sends clients to it (`redirect.ts`).
 *
 * @module
 */

import { type RedirectListener, startRedirect } from "./redirect.ts";

/** Where and how to listen: the listener's part of a balancer's configuration. */
export interface ListenerConfig {
  /** Address to listen on. Default 127.0.0.1. */
  readonly hostname?: string;
  /** Port to listen on; 0 picks a free one. Default 8080. */
  readonly port?: number;
  /**
   * Share the port with other listeners that set it too (SO_REUSEPORT; the kernel spreads
   * new connections among them): how `--workers N` serves one port from N threads.
   * Default false.
   */
  readonly reusePort?: boolean;
  /**
   * Serve HTTPS (h2 or http/1.1 by ALPN) with this PEM chain and key, and when `redirectPort`
   * is given also plain HTTP there, answering 308 to HTTPS (`redirect.ts`). Default plain HTTP.
   */
  readonly tls?: { readonly cert: string; readonly key: string; readonly redirectPort?: number };
}

/** The open listeners. */
export interface Listeners {
  readonly server: Deno.HttpServer<Deno.NetAddr>;
  /** The plain listener that sends clients to HTTPS, when `tls.redirectPort` is set. */
  readonly redirect: RedirectListener | undefined;
  /** e.g. `http://127.0.0.1:8080` */
  readonly url: string;
}

/**
 * Opens the listener, serving `handler`, and the redirect listener when configured. Throws
 * `Deno.errors.AddrInUse` when a port is taken, with nothing left open.
 */
export function openListeners(
  config: ListenerConfig,
  handler: Deno.ServeHandler<Deno.NetAddr>,
  onError: (error: unknown) => Response,
): Listeners {
  const server = Deno.serve({
    hostname: config.hostname ?? "127.0.0.1",
    port: config.port ?? 8080,
    // Only set when asked: the single-thread path stays exactly as it was.
    ...(config.reusePort ? { reusePort: true } : {}),
    ...(config.tls ? { cert: config.tls.cert, key: config.tls.key } : {}),
    onListen: () => {},
    onError,
  }, handler);
  let redirect: RedirectListener | undefined;
  try {
    redirect = redirectFor(config, server.addr);
  } catch (error) {
    server.shutdown();
    throw error;
  }
  const { hostname, port } = server.addr;
  return { server, redirect, url: `${config.tls ? "https" : "http"}://${hostname}:${port}` };
}

/** The plain listener redirecting to HTTPS on `addr`, when configured. */
function redirectFor(config: ListenerConfig, addr: Deno.NetAddr): RedirectListener | undefined {
  const { tls, reusePort } = config;
  if (tls?.redirectPort === undefined) return undefined;
  const { hostname, port } = addr;
  return startRedirect({ hostname, port: tls.redirectPort, tlsPort: port, reusePort });
}
