/**
 * Byte buffers.
 *
 * @module
 */

/**
 * The bytes of `parts` one after another in one buffer. A single part comes back as it is,
 * not copied: callers must not rely on getting a fresh buffer then.
 *
 * @param size the parts' total length, when the caller has counted it already.
 */
export function concatBytes<T extends Uint8Array>(
  parts: readonly T[],
  size: number = totalLength(parts),
): T | Uint8Array<ArrayBuffer> {
  if (parts.length === 1) return parts[0];
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.byteLength;
  }
  return joined;
}

function totalLength(parts: readonly Uint8Array[]): number {
  let size = 0;
  for (const part of parts) size += part.byteLength;
  return size;
}
