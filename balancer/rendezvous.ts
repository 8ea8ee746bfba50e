/**
 * Stickiness by rendezvous hashing (highest random weight, Thaler and Ravishankar 1996):
 * `sticky: { header: NAME }` keys a request by that header's value, `sticky: { clientAddress:
 * true }` by the client's address. Every available backend scores the key, and the highest
 * score takes it. A key's scores do not depend on the other backends, so adding a backend
 * moves only the keys it now wins (about 1/n of them), and removing or losing one moves only
 * the keys it had: each to its own runner-up, which spreads them over the others.
 *
 * Weighted: the score is `weight / -ln(u)`, with `u` the key's hash with the backend in
 * (0, 1), so a backend wins a key with probability weight / total weight (the configured
 * weight, so slow start does not move keys back and forth).
 *
 * The hash: FNV-1a over the key, then, per backend, a murmur3 finaliser of the key's hash
 * and the backend's own (made once per balancer). Not cryptographic: a client that chooses
 * its header value chooses its backend, as with any hash of what the client sends.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import { describeSticky, type Stickiness, type StickyParts, type StickyRequest } from "./sticky.ts";

/** FNV-1a, 32 bits, over the UTF-16 code units of `text`. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  }
  return hash >>> 0;
}

/** murmur3's 32-bit finaliser: every input bit flips each output bit with probability ~1/2. */
export function mix32(value: number): number {
  let h = value;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Rendezvous hashing over a balancer's backends. */
export class Rendezvous {
  readonly #backends: readonly Backend[];
  /** Each backend's seed: the hash of its URL. */
  readonly #seeds: Uint32Array;

  constructor(backends: readonly Backend[]) {
    this.#backends = backends;
    this.#seeds = Uint32Array.from(backends, (backend) => fnv1a(backend.url));
  }

  /** The available backend with the highest weighted score for `key`, or `undefined`. */
  pick(key: string, nowMs: number): Backend | undefined {
    const keyHash = fnv1a(key);
    let best: Backend | undefined;
    let bestScore = -1;
    for (let i = 0; i < this.#backends.length; i++) {
      const backend = this.#backends[i];
      if (!backend.available(nowMs)) continue;
      const unit = (mix32(keyHash ^ this.#seeds[i]) + 0.5) / 4_294_967_296; // in (0, 1)
      const score = backend.config.weight / -Math.log(unit);
      if (score > bestScore) {
        bestScore = score;
        best = backend;
      }
    }
    return best;
  }
}

/** Stickiness by a header's value or by the client's address. */
export class RendezvousStickiness implements Stickiness {
  readonly #hashing: Rendezvous;

  private constructor(
    readonly description: string,
    parts: StickyParts,
    readonly keyOf: (request: StickyRequest) => string | null,
  ) {
    this.#hashing = new Rendezvous(parts.backends);
  }

  /** Keyed by the value of the header `name`; a request without it goes to the policy. */
  static byHeader(name: string, parts: StickyParts): RendezvousStickiness {
    return new RendezvousStickiness(
      describeSticky({ header: name }),
      parts,
      (request) => request.request.headers.get(name),
    );
  }

  /** Keyed by the client's address (see {@linkcode clientAddress}). */
  static byClientAddress(parts: StickyParts): RendezvousStickiness {
    const trusted = new Set(parts.trustedProxies);
    return new RendezvousStickiness(
      describeSticky({ clientAddress: true }),
      parts,
      (request) => clientAddress(request, trusted),
    );
  }

  preferred(request: StickyRequest, nowMs: number): Backend | undefined {
    const key = this.keyOf(request);
    return key === null ? undefined : this.#hashing.pick(key, nowMs);
  }

  /** Nothing to add: the same key finds the same backend again. */
  onAnswer(): void {}
}

/**
 * The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
 * address in its `x-forwarded-for` that is not a trusted proxy itself (entries further left
 * are whatever the client claimed, so they are not believed), as nginx's
 * `real_ip_recursive`; the leftmost when every one is trusted.
 */
export function clientAddress(request: StickyRequest, trusted: ReadonlySet<string>): string {
  if (!request.trusted) return request.peer;
  const forwarded = request.request.headers.get("x-forwarded-for");
  if (forwarded === null) return request.peer;
  const hops = forwarded.split(",");
  let leftmost = request.peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i].trim();
    if (hop === "") continue;
    if (!trusted.has(hop)) return hop;
    leftmost = hop;
  }
  return leftmost;
}
