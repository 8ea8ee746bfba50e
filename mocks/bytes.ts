/**
 * The deterministic body `GET /bytes/N` serves, exported so a test can check every byte
 * that came back through a proxy.
 *
 * @module
 */

/** Largest N `GET /bytes/N` accepts (64 MiB): a typo must not exhaust the mock's memory. */
export const MAX_PATTERN_BYTES = 64 * 1024 * 1024;

/** `length` bytes where byte `i` is `i % 256`. */
export function patternBytes(length: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = i & 0xff;
  return bytes;
}
