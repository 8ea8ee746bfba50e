/**
 * Who may call the admin API. Two guards run before any route: one refuses requests a web
 * page made (CSRF, DNS rebinding), the other checks the bearer token when one is set. The
 * token is compared in constant time: both tokens are hashed with SHA-256 and the digests
 * compared byte by byte without an early exit, so neither the position of the first wrong
 * character nor the token's length shows in the timing.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { isLoopback } from "../config/model.ts";
import { problem } from "./errors.ts";

const encoder = new TextEncoder();

/**
 * Refuses requests from other web pages. A page in the operator's browser can send "simple"
 * cross-origin requests to a loopback API with no preflight (CSRF), or reach it under the
 * page's own name once that name resolves to 127.0.0.1 (DNS rebinding). Browsers mark such
 * requests with Origin or Sec-Fetch-Site; curl and `roundabout status` send neither. The
 * one page let through is the API's own dashboard (`GET /`): its fetches are same-origin,
 * with an Origin naming the Host they were sent to. Without a token the API listens on
 * loopback only, so it must then be called by a loopback name, which also stops a
 * rebound name from passing as same-origin.
 */
export function refuseBrowsers(token: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (!sameOrigin(c.req.header("origin"), c.req.header("sec-fetch-site"), c.req.header("host"))) {
      return problem(c, 403, "requests from other web pages are refused");
    }
    const host = c.req.header("host");
    if (token === undefined && host !== undefined && !isLoopback(hostOf(host))) {
      return problem(c, 403, `Host ${JSON.stringify(host)} is not a loopback name`);
    }
    return await next();
  };
}

/**
 * Lets through only requests that carry `Authorization: Bearer <token>` (RFC 6750), before
 * any route is matched: an unauthorised caller learns nothing, not even which paths exist.
 * With no token configured, everything passes.
 */
export function requireToken(token: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (token === undefined) return await next();
    const given = bearerToken(c.req.header("authorization"));
    if (given === undefined) {
      return unauthorised(c, "this admin API needs Authorization: Bearer <token>", false);
    }
    if (!(await sameToken(given, token))) return unauthorised(c, "wrong token", true);
    return await next();
  };
}

/** Whether `given` equals `expected`, taking the same time whatever `given` is. */
export async function sameToken(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  let difference = 0;
  for (let i = 0; i < x.length; i++) difference |= x[i] ^ y[i];
  return difference === 0;
}

/** The token of an `Authorization: Bearer …` header, or `undefined`. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}

/** A 401 with the challenge of RFC 6750 §3: `invalid_token` when a token was given. */
function unauthorised(c: Context, error: string, wrong: boolean): Response {
  const challenge = wrong
    ? 'Bearer realm="roundabout-admin", error="invalid_token"'
    : 'Bearer realm="roundabout-admin"';
  return problem(c, 401, error, {}, { "www-authenticate": challenge });
}

/**
 * Whether a request came from no page at all or from a page of this very origin: a
 * Sec-Fetch-Site of `none` or `same-origin` (or none, from older browsers and tools), and an
 * Origin, when sent, that is `http://` and the Host the request went to.
 */
function sameOrigin(
  origin: string | undefined,
  site: string | undefined,
  host: string | undefined,
): boolean {
  if (site !== undefined && site !== "none" && site !== "same-origin") return false;
  if (origin === undefined) return true;
  return host !== undefined && origin === `http://${host}`;
}

/** The name in a Host header, without port or IPv6 brackets. */
function hostOf(header: string): string {
  const bracketed = /^\[([^\]]*)\]/.exec(header);
  return bracketed ? bracketed[1] : header.replace(/:\d*$/, "");
}
