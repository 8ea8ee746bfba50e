/**
 * Access log lines, one per finished request, as JSON (for machines) or text (for people).
 *
 * @module
 */

import type { RequestRecord } from "./balancer.ts";

/** How access log lines are written. `auto` is text on a terminal and JSON otherwise. */
export type AccessLogFormat = "json" | "text" | "off" | "auto";

/** A log line as JSON: time, method, path, status, backend, tries with reasons, duration. */
export function jsonLine(record: RequestRecord): string {
  return JSON.stringify({
    time: new Date(record.startMs).toISOString(),
    method: record.method,
    path: record.path,
    status: record.status,
    backend: record.backend ?? null,
    attempts: record.tries.length,
    tries: record.tries,
    durationMs: record.durationMs,
  });
}

/** A log line for a terminal, e.g. `POST / 200 http://127.0.0.1:8001 3ms`. */
export function textLine(record: RequestRecord): string {
  const backend = record.backend ?? "-";
  let line = `${record.method} ${record.path} ${record.status} ${backend} ${record.durationMs}ms`;
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
