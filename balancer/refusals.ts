/**
 * Every refusal in one place: the requests answered by the balancer itself because
 * forwarding them could not be right, and the answer for each (status and JSON error). The
 * handler asks {@linkcode refuse} once per request, before any backend is chosen; a body
 * refused while it is read (too large, its client idle, unreadable) is answered by
 * {@linkcode answerBodyRefusal}. No backend sees a refused request, nor is it blamed.
 *
 * | status | refused because |
 * | --- | --- |
 * | 405 | CONNECT, TRACE, TRACK |
 * | 400 | no Host (HTTP/1.1), an invalid Host, a GET or HEAD with a body, an unreadable body |
 * | 204 | `OPTIONS *`: answered by the balancer itself |
 * | 414 | request target over `maxTargetBytes` |
 * | 431 | header fields over `maxHeaderBytes` |
 * | 413 | body over `maxBodyBytes`, declared or counted while read |
 * | 408 | a streamed body whose client went quiet for `bodyIdleTimeoutMs` |
 * | 499 | an unreadable body whose client is gone (nobody reads the answer) |
 * | 200/503 | `/healthz`, `/readyz` with `health.onListener`: answered by the balancer (`readiness.ts`) |
 *
 * Every check here runs on every request, so each is a header lookup or a length compare;
 * the costlier part of a check runs only once the cheap part has matched.
 *
 * What `Deno.serve` (Deno 2.9.6) decides before this code runs, measured, and what that
 * leaves to the balancer:
 * - A request head over 65,540 bytes (the target included) is answered 400 with an empty body
 *   and a closed connection; so is a non-`OPTIONS` request with the asterisk target.
 * - The handler is not told the HTTP version: an HTTP/1.0 request without Host looks exactly
 *   like an HTTP/1.1 one without Host (see {@linkcode RefusalLimits.hostlessOrigin}).
 * - `OPTIONS *` and `OPTIONS /*` reach the handler as the same URL, `…/*`.
 * - `GET` and `HEAD` bodies are read and thrown away: `request.body` is `null` whatever the
 *   headers announced.
 * - `Expect: 100-continue` is answered `100 Continue` as soon as the head is in, before the
 *   handler runs and whether or not it ever reads the body; a refusal (413) follows as the
 *   final answer, with `connection: close`.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { BodyRefusal } from "./body.ts";
import type { FieldList } from "../lib/headers.ts";
import type { Clock } from "../lib/time.ts";
import { LIVENESS_PATH, livenessAnswer, READINESS_PATH, readinessAnswer } from "./readiness.ts";

/** What the checks need besides the request: fixed for one configuration on one listener. */
export interface RefusalLimits {
  /**
   * The origin `Deno.serve` puts in `request.url` when a request names no authority at all
   * (no `Host`, no absolute-form target, no HTTP/2 `:authority`), with a trailing `/`: for a
   * loopback or wildcard listener `http://localhost:PORT/`, else `http://ADDR:PORT/`. See
   * {@linkcode hostlessOrigin}. Unset (a balancer not on a listener): no Host is required.
   */
  readonly hostlessOrigin?: string;
  /** Longest request target (path and query) accepted, in bytes; 0: no check. */
  readonly maxTargetBytes: number;
  /** Largest header section accepted, in bytes (see `upstreamHeaders`). */
  readonly maxHeaderBytes: number;
  /** Largest body accepted, in bytes; 0: no limit. */
  readonly maxBodyBytes: number;
  /** How long a streamed body's client may send nothing, in milliseconds. */
  readonly bodyIdleTimeoutMs: number;
  /**
   * Set with `health.onListener`: `/healthz` and `/readyz` are answered here about these
   * backends, never forwarded. Unset (the default), those paths go to a backend like any.
   */
  readonly health?: { readonly backends: readonly Backend[]; readonly clock: Clock };
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

/**
 * The answer for a request that must not be forwarded, or `undefined` to forward it.
 * `fields` are its header fields as they would go upstream, `undefined` when they are over
 * `maxHeaderBytes` (see `upstreamHeaders`); `length` is its `content-length`, which
 * `Deno.serve` has checked is a valid length and holds the client to.
 */
export function refuse(
  request: Request,
  fields: FieldList | undefined,
  length: string | null,
  limits: RefusalLimits,
): Response | undefined {
  // Off by default: one property read, and no path is looked at.
  if (limits.health !== undefined) {
    const answer = answerHealth(request, limits.health);
    if (answer !== undefined) return answer;
  }
  const refusal = refuseForm(request, limits);
  if (refusal !== undefined) return refusal;
  if (fields === undefined) return tooLarge(431, "request header fields", limits.maxHeaderBytes);
  if (length !== null && limits.maxBodyBytes > 0 && Number(length) > limits.maxBodyBytes) {
    return tooLarge(413, "request body", limits.maxBodyBytes);
  }
  return undefined;
}

/** The answer for a body refused while it was read (see `body.ts`). */
export function answerBodyRefusal(
  refusal: BodyRefusal,
  signal: AbortSignal,
  limits: RefusalLimits,
): Response {
  if (refusal === "too-large") return tooLarge(413, "request body", limits.maxBodyBytes);
  if (refusal === "idle") {
    return Response.json(
      { error: `request body idle for ${limits.bodyIdleTimeoutMs}ms` },
      { status: 408 },
    );
  }
  // Deno.serve usually closes the connection at the malformed bytes, so the client rarely
  // gets to read this answer; it is what the access log records.
  if (signal.aborted) return clientGone();
  return Response.json(
    {
      error: "request body could not be read: malformed chunked coding or cut short; " +
        "send a well-formed body",
    },
    { status: 400 },
  );
}

/**
 * The answer to an orchestrator's probe on the balancer's own port, or `undefined` for any
 * other path. The query is ignored: `/readyz?verbose` is still the probe.
 */
function answerHealth(
  request: Request,
  health: NonNullable<RefusalLimits["health"]>,
): Response | undefined {
  const target = pathAndQuery(request.url);
  const query = target.indexOf("?");
  const path = query === -1 ? target : target.slice(0, query);
  if (path !== LIVENESS_PATH && path !== READINESS_PATH) return undefined;
  const method = request.method;
  if (method !== "GET" && method !== "HEAD") {
    return Response.json(
      { error: `${method} is not allowed on ${path}: it is the balancer's own health check` },
      { status: 405, headers: { allow: "GET, HEAD" } },
    );
  }
  if (path === LIVENESS_PATH) return livenessAnswer();
  return readinessAnswer(health.backends, health.clock());
}

/** 499 (nginx's "client closed request"): nobody reads it, the access log records it. */
export function clientGone(): Response {
  return new Response(null, { status: 499 });
}

/**
 * 503: the request waited its per-try timeout for a slot in the admission gate
 * (`maxInFlight`, see `admission.ts`); no backend saw it. Retry-After: 1, as the queue
 * drains within about one timeout.
 */
export function answerAdmissionTimeout(waitedMs: number): Response {
  return Response.json(
    {
      error: `the balancer is at its limit of requests in flight (maxInFlight) and this ` +
        `one waited ${Math.round(waitedMs)}ms for a slot; retry later`,
    },
    { status: 503, headers: { "retry-after": "1" } },
  );
}

/** 413 or 431: the request is over one of the size limits; no backend saw it. */
function tooLarge(status: 413 | 431, what: string, limitBytes: number): Response {
  return Response.json(
    { error: `${what} larger than ${limitBytes} bytes`, limitBytes },
    { status },
  );
}

/** The refusals of the request's form: its method, Host, target and a body on GET. */
function refuseForm(request: Request, limits: RefusalLimits): Response | undefined {
  const method = request.method;
  if (REFUSED_METHODS.has(method)) {
    return Response.json(
      { error: `method ${method} is not forwarded` },
      { status: 405, headers: { allow: ALLOWED } },
    );
  }
  const refusal = refuseHost(request, limits);
  if (refusal !== undefined) return refusal;
  const headers = request.headers;
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
  const maxTarget = limits.maxTargetBytes;
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

/** 400 for a request without Host (where one is required) or with an invalid one. */
function refuseHost(request: Request, limits: RefusalLimits): Response | undefined {
  const host = request.headers.get("host");
  if (host === null) {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is answered 400. HTTP/2 carries the
    // authority in `:authority`, which Deno.serve puts in the URL (with no Host field), so
    // only a URL on the fallback origin means that no authority came at all. The handler
    // cannot tell HTTP/1.0 (where Host is optional) from 1.1, so a Host-less HTTP/1.0
    // request is refused too; every HTTP/1.0 client in use (curl -0, ab, wget) sends Host.
    // An h2c request whose `:authority` is exactly the fallback (`localhost:PORT` on a
    // loopback listener) is indistinguishable and refused as well.
    const hostless = limits.hostlessOrigin;
    if (hostless !== undefined && request.url.startsWith(hostless)) {
      return Response.json(
        { error: "missing Host header: HTTP/1.1 requires one (RFC 9112 §3.2); send Host" },
        { status: 400 },
      );
    }
  } else if (!VALID_HOST.test(host)) {
    // RFC 9112 §3.2: a server must answer 400 to a request with an invalid Host.
    return Response.json({ error: "invalid Host header" }, { status: 400 });
  }
  return undefined;
}

/** The path and query of a request URL, e.g. `/a?b=1`. Never the client's host. */
export function pathAndQuery(url: string): string {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  return slash === -1 ? "/" : url.slice(slash);
}

/** Whether the path and query of `url` are exactly `/*`. */
function isAsterisk(url: string): boolean {
  return pathAndQuery(url) === "/*";
}

/**
 * The origin `Deno.serve` gives a request without authority on a listener at `addr`, as
 * Deno 2.9.6 builds it (ext/http request_properties.rs, `req_host_from_addr`).
 */
export function hostlessOrigin(addr: Deno.NetAddr, tls = false): string {
  const scheme = tls ? "https" : "http";
  const port = addr.port === (tls ? 443 : 80) ? "" : `:${addr.port}`;
  const loopbackOrWildcard = /^(?:127\.|0\.0\.0\.0$|::1?$)/.test(addr.hostname);
  if (loopbackOrWildcard) return `${scheme}://localhost${port}/`;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return `${scheme}://${host}${port}/`;
}
