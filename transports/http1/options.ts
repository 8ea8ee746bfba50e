/**
 * The options of `Http1Transport`, their defaults in one place, and their check.
 *
 * @module
 */

import type { SocketKind } from "./socket.ts";

/** Options for `Http1Transport`. */
export interface Http1TransportOptions {
  /**
   * Idle keep-alive connections kept per origin (host:port); a connection released while
   * that many are idle is closed. 0 disables keep-alive. Default 256.
   */
  readonly maxIdlePerOrigin?: number;
  /**
   * How long a connection may stay idle in the pool before it is closed, in milliseconds.
   * Keep it below the backends' own keep-alive timeout. Default 60000 (60 s).
   */
  readonly idleTimeoutMs?: number;
  /**
   * Largest response head (status line and header fields) accepted, in bytes; also the
   * limit for a chunk-size line and for trailer fields. More is a `protocol` failure.
   * Default 65536 (64 KiB).
   */
  readonly maxHeaderBytes?: number;
  /**
   * PEM CA certificates trusted for `https://` backends besides the system's roots. The
   * certificate is always verified; there is no way to skip that. Default none.
   */
  readonly caCerts?: readonly string[];
  /**
   * What plain `http://` connections are opened with: `Deno.connect` (`"deno"`) or `node:net`
   * sockets (`"net"`, measured no cheaper per request in this client: bench/README.md,
   * "Upstream sockets"). `https://` always uses `Deno.startTls`. Default `"deno"`.
   */
  readonly socket?: SocketKind;
}

/** Defaults of {@linkcode Http1TransportOptions}, in one place. */
export const HTTP1_DEFAULTS: Readonly<Required<Http1TransportOptions>> = {
  maxIdlePerOrigin: 256,
  idleTimeoutMs: 60_000,
  maxHeaderBytes: 65_536,
  caCerts: [],
  socket: "deno",
};

/**
 * `options` with the defaults filled in. Throws a `RangeError` naming every option that is
 * not a whole number in its range, all at once.
 */
export function http1Settings(options: Http1TransportOptions): Required<Http1TransportOptions> {
  const settings = { ...HTTP1_DEFAULTS, ...options };
  // An option given as undefined (an unset setting passed along) means its default too.
  settings.caCerts = options.caCerts ?? HTTP1_DEFAULTS.caCerts;
  settings.socket = options.socket ?? HTTP1_DEFAULTS.socket;
  const problems = [
    checkWhole("maxIdlePerOrigin", settings.maxIdlePerOrigin, 0),
    checkWhole("idleTimeoutMs", settings.idleTimeoutMs, 1),
    checkWhole("maxHeaderBytes", settings.maxHeaderBytes, 64),
    settings.socket === "net" || settings.socket === "deno"
      ? undefined
      : `socket is "${settings.socket}", expected "net" or "deno"`,
  ].filter((problem) => problem !== undefined);
  if (problems.length > 0) {
    throw new RangeError(`Cannot create Http1Transport: ${problems.join("; ")}`);
  }
  return settings;
}

function checkWhole(name: string, value: number, min: number): string | undefined {
  if (Number.isInteger(value) && value >= min) return undefined;
  return `${name} is ${value}, expected a whole number ≥ ${min}`;
}
