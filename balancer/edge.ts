/**
 * Requests refused before any backend is chosen, because forwarding them could not be right.
 *
 * @module
 */

/**
 * Methods never forwarded. CONNECT asks the proxy itself for a tunnel, TRACE and TRACK echo
 * requests back (cross-site tracing); nginx refuses TRACE the same way. `fetch` cannot send
 * them at all, which must not read as a backend failure.
 */
const REFUSED_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * A valid Host value: `uri-host [":" port]` (RFC 9112 §3.2). Deno.serve builds `request.url`
 * from Host, so a Host with a `/`, `?` or `#` would otherwise change the path sent upstream.
 */
const VALID_HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::\d*)?$/;

/** The answer for a request that must not be forwarded, or `undefined` to forward it. */
export function refuseAtEdge(request: Request): Response | undefined {
  if (REFUSED_METHODS.has(request.method)) {
    return Response.json(
      { error: `method ${request.method} is not forwarded` },
      { status: 405, headers: { allow: "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS" } },
    );
  }
  const host = request.headers.get("host");
  if (host !== null && !VALID_HOST.test(host)) {
    // RFC 9112 §3.2: a server must answer 400 to a request with an invalid Host.
    return Response.json({ error: "invalid Host header" }, { status: 400 });
  }
  return undefined;
}
