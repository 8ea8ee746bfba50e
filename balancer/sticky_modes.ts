/**
 * Which {@linkcode Stickiness} a `sticky` setting asks for: the one place that knows every
 * mode (the interface in `sticky.ts` knows none, so the modes can use its helpers).
 *
 * @module
 */

import { CookieStickiness } from "./sticky_cookie.ts";
import { RendezvousStickiness } from "./rendezvous.ts";
import type { Stickiness, StickyParts, StickySpec } from "./sticky.ts";

/** The stickiness `spec` asks for, over `parts.backends`. */
export function createStickiness(spec: StickySpec, parts: StickyParts): Stickiness {
  if ("cookie" in spec) return new CookieStickiness(spec.cookie, parts);
  if ("header" in spec) return RendezvousStickiness.byHeader(spec.header, parts);
  return RendezvousStickiness.byClientAddress(parts);
}
