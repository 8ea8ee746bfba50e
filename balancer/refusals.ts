/**
 * Requests refused (or answered by the balancer itself) before any backend is chosen,
 * because forwarding them could not be right.
 *
 * Every check here runs on every request, so each is a header lookup or a length compare;
 * the costlier part of a check runs only once the cheap part has matched.
 *
 * What `Deno.serve` (Deno 2.9.6) decides before this code runs, measured, and what that
 * leaves to the balancer:
 * - A request head over 65,540 bytes (the target included) is answered 400 with an empty body
 *   and a closed connection; so is a non-`OPTIONS` request with the asterisk target.
 * - The handler is not told the HTTP version: an HTTP/1.0 request without Host looks exactly
 *   like an HTTP/1.1 one without Host (see {@linkcode EdgeContext.hostlessOrigin}).
 * - `OPTIONS *` and `OPTIONS /*` reach the handler as the same URL, `…/*`.
 * - `GET` and `HEAD` bodies are read and thrown away: `request.body` is `null` whatever the
 *   headers announced.
 * - `Expect: 100-continue` is answered `100 Continue` as soon as the head is in, before the
 *   handler runs and whether or not it ever reads the body; a refusal (413) follows as the
 *   final answer, with `connection: close`.
 *
 * @module
 */

import { pathAndQuery } from "./balancer.ts";

/** What the checks need besides the request; fixed for a listener, or read per request. */
export interface EdgeContext {
  /**
   * The origin `Deno.serve` puts in `request.url` when a request names no authority at all
   * (no `Host`, no absolute-form target, no HTTP/2 `:authority`), with a trailing `/`: for a
   * loopback or wildcard listener `http://localhost:PORT/`, else `http://ADDR:PORT/`. See
   * {@linkcode hostlessOrigin}.
   */
  readonly hostlessOrigin: string;
  /** Longest request target (path and query) accepted, in bytes; 0: no check. */
  readonly maxTargetBytes: number;
}

/**
 * Methods never forwarded. CONNECT asks the proxy itself for a tunnel, TRACE and TRACK echo
 * requests back (cross-site tracing); nginx refuses TRACE the same way. `fetch` cannot send
 * them at all, which must not read as a backend failure.
 */
const REFUSED_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

/** The methods the balancer forwards, for `Allow`. */
const ALLOWED = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS";

/**
 * A valid Host value: `uri-host [":" port]` (RFC 9112 §3.2). Deno.serve builds `request.url`
 * from Host, so a Host with a `/`, `?` or `#` would otherwise change the path sent upstream.
 */
const VALID_HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::\d*)?$/;

/** The answer for a request that must not be forwarded, or `undefined` to forward it. */
export function refuseAtEdge(request: Request, edge: EdgeContext): Response | undefined {
  const method = request.method;
  if (REFUSED_METHODS.has(method)) {
    return Response.json(
      { error: `method ${method} is not forwarded` },
      { status: 405, headers: { allow: ALLOWED } },
    );
  }
  const headers = request.headers;
  const host = headers.get("host");
  if (host === null) {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400. HTTP/2 carries the
    // authority in `:authority`, which Deno.serve puts in the URL (with no Host field), so
    // only a URL on the fallback origin means that no authority came at all. The handler
    // cannot tell HTTP/1.0 (where Host is optional) from 1.1, so a Host-less HTTP/1.0
    // request is refused too; every HTTP/1.0 client in use (curl -0, ab, wget) sends Host.
    // An h2c request whose `:authority` is exactly the fallback (`localhost:PORT` on a
    // loopback listener) is indistinguishable and refused as well.
    if (request.url.startsWith(edge.hostlessOrigin)) {
      return Response.json(
        { error: "missing Host header: HTTP/1.1 requires one (RFC 9112 §3.2); send Host" },
        { status: 400 },
      );
    }
  } else if (!VALID_HOST.test(host)) {
    // RFC 9112 §3.2: a server must answer 400 to a request with an invalid Host.
    return Response.json({ error: "invalid Host header" }, { status: 400 });
  }
  if (method === "GET" || method === "HEAD") {
    // Deno.serve drops the body of a GET or HEAD (`request.body` is null), so forwarding one
    // would send a different request. RFC 9110 §9.3.1 lets a server refuse it.
    const length = headers.get("content-length");
    if ((length !== null && Number(length) > 0) || headers.has("transfer-encoding")) {
      return Response.json(
        {
          error: `${method} with a request body cannot be forwarded (the body would be ` +
            "dropped); send the body with POST, or send the request without one",
        },
        { status: 400 },
      );
    }
  } else if (method === "OPTIONS" && request.url.endsWith("/*") && isAsterisk(request.url)) {
    // `OPTIONS *` asks about the server in general (RFC 9110 §9.3.7), and the balancer is
    // the server the client talks to: it answers itself. Forwarding is not possible anyway:
    // Deno.serve hands the handler `/*` for both `OPTIONS *` and `OPTIONS /*`, so the
    // asterisk form cannot be told apart, let alone sent on. A request for a resource
    // literally named `/*` is answered here too.
    return new Response(null, { status: 204, headers: { allow: ALLOWED } });
  }
  const maxTarget = edge.maxTargetBytes;
  // The URL is at least as long as its path: only a long one needs the path measured.
  if (maxTarget > 0 && request.url.length > maxTarget) {
    const length = pathAndQuery(request.url).length;
    if (length > maxTarget) {
      return Response.json(
        {
          error: `request target (path and query) of ${length} bytes is longer than ` +
            `${maxTarget} bytes; send long parameters in a POST body instead`,
          limitBytes: maxTarget,
        },
        { status: 414 },
      );
    }
  }
  return undefined;
}

/** Whether the path and query of `url` are exactly `/*`. */
function isAsterisk(url: string): boolean {
  return pathAndQuery(url) === "/*";
}

/**
 * The origin `Deno.serve` gives a request without authority on a listener at `addr`, as
 * Deno 2.9.6 builds it (ext/http request_properties.rs, `req_host_from_addr`).
 */
export function hostlessOrigin(addr: Deno.NetAddr): string {
  const port = addr.port === 80 ? "" : `:${addr.port}`;
  const loopbackOrWildcard = /^(?:127\.|0\.0\.0\.0$|::1?$)/.test(addr.hostname);
  if (loopbackOrWildcard) return `http://localhost${port}/`;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return `http://${host}${port}/`;
}
