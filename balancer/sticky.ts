/**
 * Sticky sessions (setting `sticky`): a request goes to the backend its client had before,
 * while that backend is available. One small interface, {@linkcode Stickiness}, with one
 * implementation per file: a signed cookie naming the backend (`sticky_cookie.ts`), or
 * rendezvous hashing of a header's value or of the client's address (`rendezvous.ts`); the
 * spec picks one in `sticky_modes.ts`.
 *
 * Only a request's first try asks; when the sticky backend is not available, or its try
 * fails, the policy picks as usual, and the answer (cookie mode) carries a cookie naming the
 * backend that did answer. Everything per backend is computed once, when a `Balancer` is
 * built; the state is the balancer's, so each backend list has its own. With `sticky` unset
 * the balancer holds none and a request pays one check.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { base64url } from "../lib/hmac.ts";

/** Setting `sticky`: exactly one of these. */
export type StickySpec =
  | { readonly cookie: string }
  | { readonly header: string }
  | { readonly clientAddress: true };

/** What stickiness reads of a request; an `Exchange` is one. */
export interface StickyRequest {
  readonly request: Request;
  /** The TCP peer's address. */
  readonly peer: string;
  /** Whether the peer is a trusted proxy, whose `x-forwarded-for` names the client. */
  readonly trusted: boolean;
}

/** Keeps clients on their backends. */
export interface Stickiness {
  /** A few words for `/status` and pick explanations, e.g. `cookie rb`. */
  readonly description: string;
  /**
   * The backend this request sticks to, when it is available at `nowMs`; `undefined`
   * leaves the pick to the policy. Called once per request, before its first try.
   */
  preferred(request: StickyRequest, nowMs: number): Backend | undefined;
  /**
   * Marks the answer of `backend` so that the client comes back to it. `preferred` is what
   * {@linkcode Stickiness.preferred} returned for this request.
   */
  onAnswer(headers: Headers, backend: Backend, preferred: Backend | undefined): void;
}

/** What a {@linkcode Stickiness} is made with, once per balancer. */
export interface StickyParts {
  readonly backends: readonly Backend[];
  /** The key of cookies (setting `stickySecret`, or the process's own). */
  readonly secret: string;
  /** Whether clients come over TLS: cookies are `Secure` then. */
  readonly tls: boolean;
  /** Setting `trustedProxies`: whose `x-forwarded-for` names the client. */
  readonly trustedProxies: readonly string[];
}

/**
 * A secret for sticky cookies when none is configured: 32 random bytes, made once per
 * process and given to every worker, so that all of them accept each other's cookies.
 */
export function newStickySecret(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** `spec` in a few words, e.g. `cookie rb`, `header x-user`, `client address`. */
export function describeSticky(spec: StickySpec): string {
  if ("cookie" in spec) return `cookie ${spec.cookie}`;
  if ("header" in spec) return `header ${spec.header}`;
  return "client address";
}
