/**
 * The live dashboard: `GET /` serves one HTML page built into the program (no file is read
 * at run time, nothing comes from the network), whose script polls `GET /status`,
 * `GET /history` and `GET /recent` every second and calls the backend actions with the
 * token the operator typed. `GET /` needs no token (a browser cannot send one when it
 * navigates) and holds no data; everything it shows comes through the guarded endpoints.
 *
 * @module
 */

import { Hono } from "hono";
import page from "./dashboard.html" with { type: "text" };
import { HISTORY_SAMPLES, SAMPLE_INTERVAL_MS } from "./history.ts";
import type { AdminParts } from "./parts.ts";
import { problem } from "./errors.ts";

/** `GET /`, the page: mounted before the token check. */
export function dashboardPage(): Hono {
  return new Hono().get("/", (c) =>
    c.html(page, 200, {
      // The page runs only its own inline script and talks only to its own origin.
      "content-security-policy": "default-src 'none'; script-src 'unsafe-inline'; " +
        "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; " +
        "frame-ancestors 'none'",
      "cache-control": "no-store",
    }));
}

/**
 * `GET /history[?since=MS]` (per-second figures for 15 minutes, or those taken after `since`)
 * and `GET /recent` (the last requests).
 */
export function dashboardApi(parts: AdminParts): Hono {
  return new Hono()
    .get("/history", (c) => {
      const since = c.req.query("since") ?? "0";
      if (!/^\d+$/.test(since)) {
        return problem(
          c,
          400,
          `since=${JSON.stringify(since)} is not a time: expected milliseconds since the epoch`,
        );
      }
      const after = Number(since);
      return c.json({
        intervalMs: SAMPLE_INTERVAL_MS,
        capacity: HISTORY_SAMPLES,
        samples: (parts.history?.samples() ?? []).filter((s) => s.at > after),
        reloads: parts.history?.reloads ?? [],
      });
    })
    .get("/recent", (c) => c.json({ requests: parts.metrics.recent.list() }));
}
