/**
 * Access log lines, one per finished request, as JSON (for machines) or text (for people).
 *
 * @module
 */

import type { RequestRecord } from "./balancer.ts";
import { withoutWhy } from "./outcomes.ts";

/** How access log lines are written. `auto` is text on a terminal and JSON otherwise. */
export type AccessLogFormat = "json" | "text" | "off" | "auto";

/**
 * A log line as JSON: time, method, path, status, backend, pool, tries with reasons, duration,
 * request id, client address, declared body length and user agent.
 */
export function jsonLine(record: RequestRecord): string {
  return JSON.stringify({
    time: new Date(record.startMs).toISOString(),
    method: record.method,
    path: record.path,
    status: record.status,
    backend: record.backend ?? null,
    pool: record.pool ?? "default",
    attempts: record.tries.length,
    tries: withoutWhy(record.tries),
    durationMs: record.durationMs,
    requestId: record.requestId,
    client: record.client,
    bytesIn: record.bytesIn,
    userAgent: record.userAgent,
    phases: record.phases, // left out when undefined (the timeline is off)
  });
}

/**
 * A log line for a terminal, e.g.
 * `POST / 200 http://127.0.0.1:8001 3ms id=4f1c2a9e-1 from 127.0.0.1 in 7B "curl/8.5.0"`.
 */
export function textLine(record: RequestRecord): string {
  const backend = record.backend ?? "-";
  let line = `${record.method} ${record.path} ${record.status} ${backend} ${record.durationMs}ms`;
  // The default pool goes unsaid: without pools the line reads as it always did.
  if (record.pool !== undefined && record.pool !== "default") line += ` pool=${record.pool}`;
  line += ` id=${record.requestId} from ${record.client}`;
  if (record.bytesIn !== null) line += ` in ${record.bytesIn}B`;
  if (record.userAgent !== null) line += ` ${JSON.stringify(record.userAgent)}`;
  const failed = record.tries.filter((t) => t.outcome !== "ok");
  if (failed.length > 0) {
    const reasons = failed.map((t) => `${t.backend} ${t.error ?? `status ${t.status}`}`);
    line += ` (moved on from: ${reasons.join("; ")})`;
  }
  return line;
}

/** The log writer for a format, or `undefined` when logging is off. */
export function accessLogger(
  format: AccessLogFormat,
  write: (line: string) => void,
  isTerminal: boolean,
): ((record: RequestRecord) => void) | undefined {
  const chosen = format === "auto" ? (isTerminal ? "text" : "json") : format;
  if (chosen === "off") return undefined;
  const line = chosen === "json" ? jsonLine : textLine;
  return (record) => write(line(record));
}

/** Options of {@linkcode LineBuffer}. */
export interface LineBufferOptions {
  /**
   * How long lines gather before they are written, in milliseconds. 0 writes once the
   * current burst of work is done (a macrotask later). Default 0.
   */
  readonly flushMs?: number;
  /**
   * Most bytes waiting to be written; past it, lines are dropped (and their number logged
   * later) rather than letting a slow reader of stdout hold up requests or memory.
   * Default 4 MiB.
   */
  readonly maxPendingBytes?: number;
}

const encoder = new TextEncoder();

/**
 * Log lines written in batches: `push` only appends to an array, and one write of all the
 * lines gathered goes out after the current burst of work. Under load this turns thousands
 * of small synchronous writes (what `console.log` does) into a few large ones, and the
 * request path never waits for the terminal or the pipe.
 */
export class LineBuffer {
  readonly #write: (bytes: Uint8Array) => Promise<unknown>;
  readonly #flushMs: number;
  readonly #maxPending: number;
  #lines: string[] = [];
  #pendingBytes = 0;
  #dropped = 0;
  #droppedReported = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | undefined;

  /** @param write writes all the bytes, e.g. a `writeAll` to `Deno.stdout` */
  constructor(write: (bytes: Uint8Array) => Promise<unknown>, options: LineBufferOptions = {}) {
    this.#write = write;
    this.#flushMs = options.flushMs ?? 0;
    this.#maxPending = options.maxPendingBytes ?? 4 * 1024 * 1024;
  }

  /** Lines dropped so far because the output could not keep up. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Queues one line (without its newline). */
  readonly push = (line: string): void => {
    if (this.#pendingBytes > this.#maxPending) {
      this.#dropped++;
      return;
    }
    this.#lines.push(line);
    this.#pendingBytes += line.length + 1;
    if (this.#timer === undefined && this.#writing === undefined) {
      this.#timer = setTimeout(this.#flushSoon, this.#flushMs);
    }
  };

  readonly #flushSoon = (): void => {
    this.#timer = undefined;
    this.#writing ??= this.#drain().finally(() => this.#writing = undefined);
  };

  async #drain(): Promise<void> {
    while (this.#lines.length > 0 || this.#dropped > this.#droppedReported) {
      if (this.#dropped > this.#droppedReported) {
        const count = this.#dropped - this.#droppedReported;
        this.#lines.push(`${count} log line(s) dropped: output too slow`);
        this.#droppedReported = this.#dropped;
      }
      const text = this.#lines.join("\n") + "\n";
      this.#lines = [];
      this.#pendingBytes = 0;
      try {
        await this.#write(encoder.encode(text));
      } catch {
        // stdout closed (the reader went away): nothing more can be logged.
        this.#lines = [];
        return;
      }
    }
  }

  /** Writes everything queued and waits for it. */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#flushSoon();
    }
    while (this.#writing) await this.#writing;
    if (this.#lines.length > 0) {
      this.#flushSoon();
      await this.#writing;
    }
  }
}

/** Writes all of `bytes` to a Deno writer such as `Deno.stdout`. */
export async function writeAll(
  writer: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await writer.write(bytes.subarray(offset));
}
