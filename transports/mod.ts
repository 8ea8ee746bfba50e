/**
 * Upstream transports by the name used in flags and config files.
 *
 * @module
 */

import type { Transport } from "./transport.ts";
import { AutoTransport } from "./auto.ts";
import { FetchTransport } from "./fetch.ts";
import { Http1Transport } from "./http1/http1.ts";

/**
 * Transport constructors by name; the first is the default. `auto` is `http1` for http://
 * backends and `fetch` for https:// ones; `fetch` is Deno's client (the original design);
 * `http1` the keep-alive HTTP/1.1 client over `Deno.connect` (http:// backends only).
 */
export const TRANSPORTS: Readonly<Record<string, () => Transport>> = {
  auto: () => new AutoTransport(),
  fetch: () => new FetchTransport(),
  http1: () => new Http1Transport(),
};

/** Names accepted by `--transport` and `"transport"`. */
export const TRANSPORT_NAMES: readonly [string, ...string[]] = Object.keys(TRANSPORTS) as [
  string,
  ...string[],
];
