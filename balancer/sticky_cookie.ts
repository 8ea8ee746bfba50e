/**
 * Cookie stickiness (`sticky: { cookie: NAME }`): the answer to a client carries
 * `NAME=TOKEN`, where TOKEN names the backend that answered without revealing it: base64url
 * of the first 16 bytes of HMAC-SHA256(secret, backend URL). Without the secret a client
 * can neither read the address from it nor forge a token for a backend of its choice; a
 * token that names no backend of the list is no cookie at all.
 *
 * Each backend's token and whole `Set-Cookie` value are made once per balancer; a request
 * costs one scan of its `Cookie` field and one map lookup, and an answer at most one
 * `Set-Cookie` append, only when the request's cookie did not already name that backend.
 *
 * The cookie is forwarded to the backend like any other: it is the client's, harmless to
 * an application that ignores it, and stripping it would cost every request a rewrite.
 *
 * @module
 */

import { createHmac } from "node:crypto";
import type { Backend } from "../backends/backend.ts";
import { describeSticky, type Stickiness, type StickyParts, type StickyRequest } from "./sticky.ts";

/** The cookie value naming the backend at `url` under `secret`: 22 base64url characters. */
export function cookieToken(secret: string, url: string): string {
  return createHmac("sha256", secret).update(url).digest().subarray(0, 16).toString("base64url");
}

/** A signed cookie naming the backend. */
export class CookieStickiness implements Stickiness {
  readonly description: string;
  readonly #name: string;
  readonly #byToken = new Map<string, Backend>();
  /** Each backend's whole `Set-Cookie` value. */
  readonly #setCookie = new Map<Backend, string>();

  constructor(name: string, parts: StickyParts) {
    this.description = describeSticky({ cookie: name });
    this.#name = name;
    // RFC 6265 section 4.1: Path=/ so every path of the site sends it back; HttpOnly, as
    // scripts have no business with it; SameSite=Lax, as it routes, not authenticates.
    const attributes = `; Path=/; HttpOnly; SameSite=Lax${parts.tls ? "; Secure" : ""}`;
    for (const backend of parts.backends) {
      const token = cookieToken(parts.secret, backend.url);
      this.#byToken.set(token, backend);
      this.#setCookie.set(backend, `${name}=${token}${attributes}`);
    }
  }

  preferred(request: StickyRequest, nowMs: number): Backend | undefined {
    const field = request.request.headers.get("cookie");
    if (field === null) return undefined;
    const backend = findCookie(field, this.#name, this.#byToken);
    return backend !== undefined && backend.available(nowMs) ? backend : undefined;
  }

  onAnswer(headers: Headers, backend: Backend, preferred: Backend | undefined): void {
    if (backend === preferred) return;
    const cookie = this.#setCookie.get(backend);
    if (cookie !== undefined) headers.append("set-cookie", cookie);
  }
}

/**
 * The backend named by the first cookie `name` in a `Cookie` field whose value is a known
 * token, or `undefined`. Pairs are separated by `;` (RFC 6265 section 5.4), or by `,` where
 * several `Cookie` fields were joined into one.
 */
export function findCookie(
  field: string,
  name: string,
  byToken: ReadonlyMap<string, Backend>,
): Backend | undefined {
  let from = 0;
  for (;;) {
    const at = field.indexOf(name, from);
    if (at === -1) return undefined;
    const valueStart = at + name.length;
    from = at + 1;
    if (field.charCodeAt(valueStart) !== EQUALS || !startsPair(field, at)) continue;
    let valueEnd = valueStart + 1;
    while (valueEnd < field.length) {
      const code = field.charCodeAt(valueEnd);
      if (code === SEMICOLON || code === COMMA) break;
      valueEnd++;
    }
    const backend = byToken.get(field.slice(valueStart + 1, valueEnd).trim());
    if (backend !== undefined) return backend;
  }
}

const EQUALS = 61;
const SEMICOLON = 59;
const COMMA = 44;

/** Whether a pair starts at `at`: at the start, or after a separator and spaces. */
function startsPair(field: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0 && (field.charCodeAt(i) === 32 || field.charCodeAt(i) === 9)) i--;
  return i < 0 || field.charCodeAt(i) === SEMICOLON || field.charCodeAt(i) === COMMA;
}
