/**
 * Bearer-token checking for the admin API, in constant time: both tokens are hashed with
 * SHA-256 and the digests compared byte by byte without an early exit, so neither the
 * position of the first wrong character nor the token's length shows in the timing.
 *
 * @module
 */

const encoder = new TextEncoder();

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
