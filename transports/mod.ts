/**
 * Upstream transports by the name used in flags and config files.
 *
 * @module
 */

import type { Transport, TransportOptions } from "./transport.ts";
import { AutoTransport } from "./auto.ts";
import { FetchTransport } from "./fetch.ts";
import { Http1Transport } from "./http1/http1.ts";

/**
 * Transport constructors by name; the first is the default. `auto` is `http1`; `fetch` is
 * Deno's client (the original design); `http1` the keep-alive HTTP/1.1 client over
 * `Deno.connect` and `Deno.startTls` (http:// and https:// backends); `http1-net` the same
 * client over `node:net` for http:// (no cheaper here, kept for comparison).
 */
export const TRANSPORTS: Readonly<Record<string, (options?: TransportOptions) => Transport>> = {
  auto: (options) => new AutoTransport(options),
  fetch: (options) => new FetchTransport(options),
  http1: (options) => new Http1Transport(options),
  // The same client over node:net sockets instead of Deno.connect, to compare (bench/README.md).
  "http1-net": (options) => new Http1Transport({ ...options, socket: "net" }),
};

/** Names accepted by `--transport` and `"transport"`. */
export const TRANSPORT_NAMES: readonly [string, ...string[]] = Object.keys(TRANSPORTS) as [
  string,
  ...string[],
];
