/**
 * Header hygiene between client and backend.
 *
 * Hop-by-hop fields describe one connection, not the message, so a proxy must not forward
 * them (RFC 9110 §7.6.1), nor any field the `Connection` header names. The list is the one
 * RFC 9110 gives plus the older proxy-auth and trailer fields that Caddy and Go also drop.
 *
 * @module
 */

const HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** The lengths of the names in the list: most field names can be passed over by length alone. */
export const HOP_BY_HOP_LENGTHS: ReadonlySet<number> = new Set(
  [...HOP_BY_HOP].map((name) => name.length),
);

/** Whether `name` (lower case) must not cross the proxy. */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name);
}

/** Lower-case field names listed in a `Connection` header value. */
function connectionTokens(value: string | null): Set<string> | undefined {
  if (value === null) return undefined;
  const tokens = new Set<string>();
  for (const token of value.split(",")) {
    const name = token.trim().toLowerCase();
    if (name) tokens.add(name);
  }
  return tokens;
}

/** A copy of `source` without hop-by-hop fields. */
export function endToEnd(source: Headers): Headers {
  const out = new Headers();
  copyEndToEnd(source, out);
  return out;
}

/**
 * Appends the end-to-end fields of `source` to `out`. Returns the total length of every
 * field name and value of `source`, measured in the same pass: a second pass over a
 * `Headers` costs about 2 µs.
 */
function copyEndToEnd(source: Headers, out: Headers): number {
  const named = connectionTokens(source.get("connection"));
  let size = 0;
  // forEach, not for…of: Deno's Headers iterator sorts and copies the list on every call,
  // which measured ~16× slower (bench/headers_bench.ts). forEach yields set-cookie fields one
  // by one, like the iterator.
  source.forEach((value, name) => {
    size += name.length + value.length;
    if (!HOP_BY_HOP.has(name) && !named?.has(name)) out.append(name, value);
  });
  return size;
}

/** What the proxy knows about the client connection. */
export interface ClientInfo {
  /** The peer address of the TCP connection. */
  readonly peer: string;
  /** Whether that peer is a trusted proxy whose `x-forwarded-*` fields may be kept. */
  readonly trusted: boolean;
}

/**
 * Headers for the upstream request: end-to-end fields of the client request plus
 * `x-forwarded-for`, `-proto` and `-host`. The client's `Host` is replaced by the backend's
 * (as nginx's default `proxy_set_header Host $proxy_host`) and kept in `x-forwarded-host`.
 * With `maxFieldBytes` above 0: `undefined` when the client's field names and values total
 * more than that many bytes.
 */
export function upstreamHeaders(request: Headers, client: ClientInfo): Headers;
export function upstreamHeaders(
  request: Headers,
  client: ClientInfo,
  maxFieldBytes: number,
): Headers | undefined;
export function upstreamHeaders(
  request: Headers,
  client: ClientInfo,
  maxFieldBytes = 0,
): Headers | undefined {
  const headers = new Headers();
  // Header values are byte strings (one character per byte), so length counts bytes.
  const size = copyEndToEnd(request, headers);
  if (maxFieldBytes > 0 && size > maxFieldBytes) return undefined;
  const host = request.get("host");
  headers.delete("host");
  const priorFor = client.trusted ? headers.get("x-forwarded-for") : null;
  headers.set("x-forwarded-for", priorFor ? `${priorFor}, ${client.peer}` : client.peer);
  if (!client.trusted || !headers.has("x-forwarded-proto")) {
    headers.set("x-forwarded-proto", "http");
  }
  if (!client.trusted || !headers.has("x-forwarded-host")) {
    if (host !== null) headers.set("x-forwarded-host", host);
    else headers.delete("x-forwarded-host");
  }
  return headers;
}

/** Headers for the client as a copy: end-to-end fields of `response` plus `x-app-url`. */
export function downstreamHeaders(response: Headers, backendUrl: string): Headers {
  const headers = endToEnd(response);
  headers.set("x-app-url", backendUrl);
  return headers;
}
