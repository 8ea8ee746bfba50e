/**
 * Request bodies: buffered when small enough to replay on another backend, streamed when not.
 *
 * @module
 */

/** A request body ready to send: bytes can be sent any number of times, a stream once. */
export type PreparedBody = Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null;

/**
 * Reads the body of `request` into memory if it is at most `limit` bytes; otherwise returns
 * a stream that yields the bytes already read followed by the rest, unbuffered.
 */
export async function prepareBody(request: Request, limit: number): Promise<PreparedBody> {
  const body = request.body;
  if (body === null) return null;
  const length = request.headers.get("content-length");
  if (length !== null) {
    // A declared length decides up front; Deno.serve enforces it, so it cannot lie.
    return Number(length) <= limit ? new Uint8Array(await request.arrayBuffer()) : body;
  }
  return await readUpTo(body, limit);
}

async function readUpTo(
  body: ReadableStream<Uint8Array>,
  limit: number,
): Promise<PreparedBody> {
  const reader = body.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  while (size <= limit) {
    const { done, value } = await reader.read();
    if (done) return concat(chunks, size);
    chunks.push(value as Uint8Array<ArrayBuffer>);
    size += value.byteLength;
  }
  // Over the limit: hand on what was read, then the rest as it comes.
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function concat(chunks: Uint8Array<ArrayBuffer>[], size: number): Uint8Array<ArrayBuffer> {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
