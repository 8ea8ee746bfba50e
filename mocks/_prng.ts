/**
 * A tiny seeded pseudo-random generator, so a flaky mock fails the same requests on every
 * run with the same seed. Not for anything that needs real randomness.
 *
 * @module
 */

/**
 * mulberry32 (Tommy Ettinger, public domain): 32 bits of state, passes the usual quick
 * statistical checks, plenty for picking which requests fail.
 *
 * @returns a function giving the next number in [0, 1) each call.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
