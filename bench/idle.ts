/**
 * The idle-connections measurement: what 1,000 keep-alive client connections that are open
 * but quiet cost a subject in memory. The bench process itself is the client (wrk cannot hold
 * connections idle): it opens the connections a batch at a time on loopback, sends one small
 * GET on each and reads the whole answer, so that every connection is established and has
 * served a request (a proxy may allocate per-connection state lazily), then keeps them all
 * open and idle while the subject's RSS is sampled, then closes them.
 *
 * The bench needs one file descriptor per connection: {@linkcode openFileLimit} is checked
 * first, and a limit too low for `connections` is a failed measurement that says so.
 *
 * @module
 */

/** What one idle run measured. */
export interface IdleResult {
  /** Connections that got a complete answer below 400. */
  readonly served: number;
  /** Connections that failed to open or answered badly or not at all. */
  readonly failed: number;
  /** Why the first failure happened, if any did. */
  readonly firstError?: string;
}

/** Connections opened (and asked) at the same time. */
const BATCH = 50;
/** How long one connection may take to connect and answer, in milliseconds. */
const ANSWER_TIMEOUT_MS = 10_000;

/** The soft open-file limit of this process (`ulimit -n`), or undefined if unknown. */
export function openFileLimit(): number | undefined {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const match = limits.match(/^Max open files\s+(\d+|unlimited)/m);
    if (!match) return undefined;
    return match[1] === "unlimited" ? Infinity : Number(match[1]);
  } catch {
    return undefined;
  }
}

/**
 * Opens `connections` keep-alive connections to `url` (one GET `path` each, answer read in
 * full), calls `whileIdle` with all of them open and quiet, then closes them all.
 */
export async function holdIdleConnections(
  url: string,
  path: string,
  connections: number,
  whileIdle: () => Promise<void>,
): Promise<IdleResult> {
  const limit = openFileLimit();
  // The bench's own descriptors (backends' pipes, logs, the runtime) need some room too.
  if (limit !== undefined && limit < connections + 256) {
    throw new Error(
      `the bench's open-file limit is ${limit}, too low for ${connections} connections: ` +
        `run it after \`ulimit -n ${connections + 1024}\``,
    );
  }
  const { hostname, host } = new URL(url);
  const port = Number(new URL(url).port);
  const request = new TextEncoder().encode(
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: roundabout-bench\r\n\r\n`,
  );
  const open: Deno.TcpConn[] = [];
  let served = 0;
  let failed = 0;
  let firstError: string | undefined;
  try {
    for (let start = 0; start < connections; start += BATCH) {
      const batch = Array.from(
        { length: Math.min(BATCH, connections - start) },
        async () => {
          let conn: Deno.TcpConn | undefined;
          try {
            conn = await Deno.connect({ hostname, port });
            open.push(conn);
            await withTimeout(exchange(conn, request), ANSWER_TIMEOUT_MS);
            served++;
          } catch (error) {
            failed++;
            firstError ??= error instanceof Error ? error.message : String(error);
          }
        },
      );
      await Promise.all(batch);
    }
    await whileIdle();
  } finally {
    for (const conn of open) {
      try {
        conn.close();
      } catch {
        // Already closed by the subject: nothing to release.
      }
    }
  }
  return { served, failed, firstError };
}

/** Sends `request` and reads one whole response (content-length or chunked). */
async function exchange(conn: Deno.TcpConn, request: Uint8Array): Promise<void> {
  await conn.write(request);
  const decoder = new TextDecoder("latin1");
  let text = "";
  const buffer = new Uint8Array(16_384);
  let headEnd = -1;
  let need: ((text: string, bodyStart: number) => boolean) | undefined;
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error("connection closed before the whole answer");
    text += decoder.decode(buffer.subarray(0, n));
    if (headEnd === -1) {
      headEnd = text.indexOf("\r\n\r\n");
      if (headEnd === -1) continue;
      const head = text.slice(0, headEnd);
      const status = Number(head.slice(9, 12));
      if (!(status >= 200 && status < 400)) throw new Error(`answered ${head.split("\r\n")[0]}`);
      if (/\r\nconnection:\s*close/i.test(head)) throw new Error("answer closes the connection");
      const length = head.match(/\r\ncontent-length:\s*(\d+)/i);
      if (length) {
        const bytes = Number(length[1]);
        need = (all, bodyStart) => all.length - bodyStart >= bytes;
      } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        need = (all, bodyStart) => all.indexOf("\r\n0\r\n\r\n", bodyStart - 2) !== -1;
      } else {
        throw new Error("answer without a length cannot keep the connection alive");
      }
    }
    if (need!(text, headEnd + 4)) return;
  }
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no whole answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
