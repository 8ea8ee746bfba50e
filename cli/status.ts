/**
 * `roundabout status`: what a running balancer believes about its backends, read from its
 * admin API, as a table (or the raw JSON).
 *
 * @module
 */

import { CONVENTIONAL_ADMIN_PORT } from "../config/model.ts";
import type { BackendStatus, StatusDocument } from "../admin/status.ts";
import { describeSticky } from "../balancer/sticky.ts";
import { parseFlags, quote, stringFlag, UsageError } from "./usage.ts";

const DEFAULT_ADMIN = `http://127.0.0.1:${CONVENTIONAL_ADMIN_PORT}`;

export const STATUS_HELP =
  `roundabout status: the backends of a running balancer, from its admin API

Usage: roundabout status [--admin URL] [--token TOKEN] [--json]

Options:
  --admin URL      the admin API (default ${DEFAULT_ADMIN}; see balance --admin-port)
  --token TOKEN    its bearer token (default: ROUNDABOUT_ADMIN_TOKEN)
  --json           print the status document as it is`;

const SPEC = {
  admin: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
} as const;

/** Runs the command; resolves with the exit status. */
export async function statusCommand(args: readonly string[]): Promise<number> {
  const { flags, positionals } = parseFlags("status", args, SPEC);
  if (flags.help) {
    console.log(STATUS_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`status: unexpected argument ${quote(positionals[0])} (see --help)`);
  }
  const admin = (stringFlag(flags, "admin") ?? DEFAULT_ADMIN).replace(/\/+$/, "");
  const token = stringFlag(flags, "token") ?? (Deno.env.get("ROUNDABOUT_ADMIN_TOKEN") || undefined);
  const text = await fetchStatus(admin, token);
  if (text === undefined) return 1;
  const status = asStatusDocument(text);
  if (typeof status === "string") {
    throw new UsageError(
      `status: ${admin} did not answer like Roundabout's admin API: ${status} ` +
        "(is --admin the admin port, not the balancer's?)",
    );
  }
  console.log(flags.json ? text : statusTable(status, admin));
  return 0;
}

/** `text` as a status document, or what is wrong with it (e.g. the balancer port's answer). */
function asStatusDocument(text: string): StatusDocument | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `GET /status answered ${quote(text.slice(0, 60))}, not JSON`;
  }
  const document = value as Partial<StatusDocument> | null;
  if (typeof document !== "object" || document === null || !Array.isArray(document.backends)) {
    return "GET /status answered JSON without a backends list";
  }
  return document as StatusDocument;
}

/**
 * The status document's text from the admin API at `admin`, or `undefined` once the reason
 * it could not be had is printed.
 *
 * @throws {UsageError} when `admin` is not an http(s) URL.
 */
async function fetchStatus(admin: string, token: string | undefined): Promise<string | undefined> {
  let url: URL;
  try {
    url = new URL(`${admin}/status`);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new TypeError();
  } catch {
    throw new UsageError(`--admin ${quote(admin)}: expected a URL such as ${DEFAULT_ADMIN}`);
  }
  let response: Response;
  try {
    response = await fetch(url, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(5_000),
    });
  } catch (error) {
    const reason = error instanceof DOMException && error.name === "TimeoutError"
      ? "no answer within 5s"
      : "cannot connect";
    console.error(
      `roundabout: status: ${admin}: ${reason} (is the balancer running with --admin-port?)`,
    );
    return undefined;
  }
  const text = await response.text();
  if (response.ok) return text;
  let error = text;
  try {
    error = JSON.parse(text).error ?? text;
  } catch { /* not JSON */ }
  const hint = response.status === 401 ? " (give --token or ROUNDABOUT_ADMIN_TOKEN)" : "";
  console.error(`roundabout: status: ${admin} answered ${response.status}: ${error}${hint}`);
  return undefined;
}

/**
 * The status document as a table a person reads, after a heading: the policy, the time, the
 * balancer's own load, and with `--workers N` which worker answered `admin` (its URL).
 */
export function statusTable(status: StatusDocument, admin?: string): string {
  const rows: string[][] = [[
    "ID",
    "STATE",
    "WEIGHT",
    "IN-FLIGHT",
    "REQUESTS",
    "FAILURES",
    "EJECTIONS",
    "P50",
    "P99",
    "CAUSE",
  ]];
  const ms = (value: number | null) => value === null ? "-" : `${Math.round(value)}ms`;
  const add = (backend: BackendStatus, note = "") =>
    rows.push([
      backend.pool === undefined ? backend.id : `${backend.id} (${backend.pool})`,
      // The ISO time's clock part (UTC, as `at` in the heading): when the ejection ends.
      backend.state + (backend.ejectedUntil ? ` until ${backend.ejectedUntil.slice(11, 19)}` : "") +
      note,
      String(backend.weight),
      String(backend.inFlight),
      String(backend.requests),
      String(backend.failures),
      String(backend.ejections),
      ms(backend.latencyMs.p50),
      ms(backend.latencyMs.p99),
      backend.cause ? `${backend.cause.source}: ${backend.cause.detail}` : "-",
    ]);
  for (const backend of status.backends) add(backend);
  // The named pools' backends, after the default pool's, their pool beside their id.
  for (const pool of status.pools?.slice(1) ?? []) {
    for (const backend of pool.backends) add(backend);
  }
  // `?? []`: a balancer from before `draining` was in the document still prints.
  for (const backend of status.draining ?? []) add(backend, " (removed)");
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) =>
    row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  ")
  );
  return [...heading(status, admin), "", ...lines].join("\n");
}

/** The lines above the table. */
function heading(status: StatusDocument, admin: string | undefined): string[] {
  const sticky = status.sticky ? `, sticky by ${describeSticky(status.sticky)}` : "";
  const lines = [`policy ${status.policy}${sticky}, at ${status.at}`];
  const load = status.overload;
  // `load &&`: a balancer from before `overload` was in the document still prints.
  if (load) {
    lines.push(
      `${load.overloaded ? "OVERLOADED" : "not overloaded"}: event-loop lag ${
        Math.round(load.eventLoopLagMs)
      }ms, ${load.episodes} overload episode(s) since start`,
    );
  }
  if (status.worker) lines.push(workerLine(status.worker, admin));
  if (status.pools !== undefined) {
    const pools = status.pools.map((pool) => `${pool.name} (${pool.policy}, ${pool.timeoutMs}ms)`);
    lines.push(`pools: ${pools.join(", ")}; ${status.routes?.length ?? 0} route(s)`);
  }
  return lines;
}

/** Which worker answered: each serves its own figures on admin port + its index. */
function workerLine(worker: { index: number; count: number }, admin: string | undefined): string {
  const port = admin === undefined ? NaN : Number(/:(\d+)$/.exec(admin)?.[1]);
  const place = `worker ${worker.index} of ${worker.count}, numbered from 0`;
  if (Number.isNaN(port)) return `${place}: each worker has its own figures`;
  const first = port - worker.index;
  return `${place} (admin port ${port}; the others on ${first}-${first + worker.count - 1}): ` +
    "each worker has its own figures";
}
