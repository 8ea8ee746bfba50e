/**
 * Randomness that tests and benchmarks can repeat.
 *
 * @module
 */

/** A source of numbers in [0, 1), like `Math.random`. */
export type Random = () => number;

/**
 * A seeded generator (mulberry32, public domain) for repeatable tests and benchmarks. Not
 * for anything that needs real randomness.
 */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
