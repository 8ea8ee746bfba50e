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

/** A copy of `source` without hop-by-hop fields and those its Connection header names. */
export function endToEnd(source: Headers): Headers {
  const named = connectionTokens(source.get("connection"));
  const out = new Headers();
  source.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name) && !named?.has(name)) out.append(name, value);
  });
  return out;
}

/** What the proxy knows about the client connection. */
export interface ClientInfo {
  /** The peer address of the TCP connection. */
  readonly peer: string;
  /** Whether that peer is a trusted proxy whose `x-forwarded-*` and `forwarded` fields may be kept. */
  readonly trusted: boolean;
  /** The request's id, sent upstream as `x-request-id` in place of the client's; unset: kept. */
  readonly requestId?: string;
  /** The scheme the client used to reach us, for `x-forwarded-proto`. Default `http`. */
  readonly proto?: "http" | "https";
  /**
   * The request URL, read only for a request without Host: HTTP/2 carries the authority in
   * `:authority`, which `Deno.serve` puts in the URL, not in the headers (RFC 9113 §8.3.1).
   */
  readonly url?: string;
}

/** The authority (`host[:port]`) of an absolute URL, without parsing it. */
export function authorityOf(url: string): string {
  const start = url.indexOf("//") + 2;
  const end = url.indexOf("/", start);
  return end === -1 ? url.slice(start) : url.slice(start, end);
}

/**
 * Header fields as `[name, value]` pairs, names in lower case. The upstream request carries
 * its fields as one: the client's were checked by `Deno.serve`, so building a `Headers`
 * would validate every name and value again, and the HTTP/1.1 transport only writes them out.
 */
export type FieldList = [string, string][];

/**
 * Fields for the upstream request, in one pass over the client's: its end-to-end fields plus
 * `x-forwarded-for`, `-proto` and `-host`. The client's `Host` is left out (the transport
 * writes `host` from `UpstreamRequest.host`: the client's by default, or with `upstreamHost:
 * backend` the backend's, as nginx's default `proxy_set_header Host $proxy_host`) and kept in
 * `x-forwarded-host`. `x-forwarded-*` fields the client sent are kept (extended, for `-for`)
 * only from a trusted proxy. `Forwarded` (RFC 7239) is treated the same way: from an untrusted
 * peer it is dropped (it would let any client claim an address); from a trusted proxy it is
 * kept with this hop appended (see {@linkcode forwardedElement}). None is added when the
 * client sent none: `x-forwarded-*` already carry the same facts. With `maxFieldBytes` above
 * 0: `undefined` when the client's field names and values total more than that many bytes.
 */
export function upstreamHeaders(request: Headers, client: ClientInfo): FieldList;
export function upstreamHeaders(
  request: Headers,
  client: ClientInfo,
  maxFieldBytes: number,
): FieldList | undefined;
export function upstreamHeaders(
  request: Headers,
  client: ClientInfo,
  maxFieldBytes = 0,
): FieldList | undefined {
  const named = connectionTokens(request.get("connection"));
  const fields: FieldList = [];
  let size = 0;
  let host: string | undefined;
  let priorFor: string | undefined;
  let priorProto: string | undefined;
  let priorHost: string | undefined;
  let priorForwarded: string | undefined;
  // forEach, not for…of: Deno's Headers iterator sorts and copies the list on every call
  // (measured in bench/headers_bench.ts, see bench/README.md). It yields set-cookie fields
  // one by one.
  request.forEach((value, name) => {
    // Header values are byte strings (one character per byte), so length counts bytes.
    size += name.length + value.length;
    if (name === "host") host = value;
    else if (HOP_BY_HOP.has(name) || named?.has(name)) return;
    else if (name === "x-forwarded-for") priorFor = value;
    else if (name === "x-forwarded-proto") priorProto = value;
    else if (name === "x-forwarded-host") priorHost = value;
    else if (name === "x-request-id" && client.requestId !== undefined) return;
    else if (name === "forwarded") {
      // Several Forwarded fields are one comma-separated list (RFC 7239 §4).
      priorForwarded = priorForwarded === undefined ? value : `${priorForwarded}, ${value}`;
    } else fields.push([name, value]);
  });
  if (maxFieldBytes > 0 && size > maxFieldBytes) return undefined;
  if (host === undefined && client.url !== undefined) host = authorityOf(client.url);
  const trusted = client.trusted;
  fields.push([
    "x-forwarded-for",
    trusted && priorFor ? `${priorFor}, ${client.peer}` : client.peer,
  ]);
  const proto = client.proto ?? "http";
  fields.push(["x-forwarded-proto", trusted && priorProto !== undefined ? priorProto : proto]);
  const forwardedHost = trusted && priorHost !== undefined ? priorHost : host;
  if (forwardedHost !== undefined) fields.push(["x-forwarded-host", forwardedHost]);
  if (trusted && priorForwarded !== undefined) {
    fields.push(["forwarded", `${priorForwarded}, ${forwardedElement(client.peer, host, proto)}`]);
  }
  if (client.requestId !== undefined) fields.push(["x-request-id", client.requestId]);
  return fields;
}

/** RFC 7239 `token` characters (RFC 9110 tchar): a value of only these needs no quotes. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * This hop as a `Forwarded` element (RFC 7239 §4): `for=<peer>;proto=<proto>;host=<host>`, an
 * IPv6 peer in brackets and quotes (§6), a value with characters outside `token` (a host
 * with a port) quoted. The Host value has passed `balancer/refusals.ts`, so it holds no `"`
 * or `\`.
 */
export function forwardedElement(
  peer: string,
  host: string | undefined,
  proto: "http" | "https" = "http",
): string {
  const node = peer.includes(":") ? `"[${peer}]"` : peer;
  const element = `for=${node};proto=${proto}`;
  if (host === undefined) return element;
  return `${element};host=${TOKEN.test(host) ? host : `"${host}"`}`;
}

/** Whether `fields` has a field called `name` (lower case). */
export function hasField(fields: FieldList, name: string): boolean {
  for (const field of fields) if (field[0] === name) return true;
  return false;
}

/**
 * Methods whose repetition has no further effect (RFC 9110 §9.2.2). TRACE is one too, but it
 * is refused at the edge and never forwarded.
 */
const IDEMPOTENT_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

/** The field by which a client says a request may be repeated safely (IETF httpapi draft). */
export const IDEMPOTENCY_KEY = "idempotency-key";

/** Whether sending `method` twice has the effect of sending it once. */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method);
}
