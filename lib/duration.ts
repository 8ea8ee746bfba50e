/**
 * Durations as people write them on a command line or in a config file.
 *
 * @module
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;

/** Longest duration accepted anywhere (one day): larger values are almost always typos. */
export const MAX_DURATION_MS = 86_400_000;

/**
 * Parses `250ms`, `2s`, `1.5s`, `1m`, `1h` or a bare number of milliseconds.
 *
 * @returns whole milliseconds, or `undefined` when the text is not a duration in
 * 0..{@linkcode MAX_DURATION_MS}.
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * parseDuration("2s"); // 2000
 * parseDuration("250"); // 250
 * parseDuration("-1s"); // undefined
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] ?? "ms"]);
  return Number.isFinite(ms) && ms <= MAX_DURATION_MS ? ms : undefined;
}

/** Formats milliseconds the way {@linkcode parseDuration} reads them back. */
export function formatDuration(ms: number): string {
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms !== 0 && ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
