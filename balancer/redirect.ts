/**
 * The optional plain-HTTP listener beside the HTTPS one (`tls.redirectPort`): every request
 * is answered 308 to the same host and path on the HTTPS port, and reaches no backend. 308
 * (RFC 9110 §15.4.9) rather than 301 so that a client repeats a POST as a POST.
 *
 * @module
 */

/** A running redirect listener. */
export interface RedirectListener {
  readonly port: number;
  shutdown(): Promise<void>;
}

/** Where to listen and where to send clients. */
export interface RedirectConfig {
  readonly hostname: string;
  /** The plain port; 0 picks a free one. */
  readonly port: number;
  /** The HTTPS listener's port, named in every Location. */
  readonly tlsPort: number;
  /** Share the port with other workers (SO_REUSEPORT), as the HTTPS listener does. */
  readonly reusePort?: boolean;
}

/** Starts the listener; throws `Deno.errors.AddrInUse` when the port is taken. */
export function startRedirect(config: RedirectConfig): RedirectListener {
  const server = Deno.serve({
    hostname: config.hostname,
    port: config.port,
    ...(config.reusePort ? { reusePort: true } : {}),
    onListen: () => {},
  }, (request) => redirect(request.url, config.tlsPort));
  return { port: server.addr.port, shutdown: () => server.shutdown() };
}

/**
 * 308 to `url` with the scheme https and the port `tlsPort` (none when 443). The host is the
 * client's Host as `Deno.serve` put it into `request.url` (its own name when there was none).
 */
export function redirect(url: string, tlsPort: number): Response {
  const target = new URL(url);
  target.protocol = "https:";
  target.port = tlsPort === 443 ? "" : String(tlsPort);
  return new Response(null, { status: 308, headers: { location: target.href } });
}
