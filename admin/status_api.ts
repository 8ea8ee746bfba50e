/**
 * The admin API's read-only views: `GET /status` (the status document, see `status.ts`) and
 * `GET /metrics` (Prometheus text format 0.0.4, see `metrics.ts`).
 *
 * @module
 */

import { Hono } from "hono";
import { statusDocument } from "./status.ts";
import { type AdminParts, everyBackend } from "./parts.ts";

const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** `GET /status`. */
export function statusApi(parts: AdminParts): Hono {
  const { running, clock } = parts;
  return new Hono().get("/status", (c) => c.json(statusDocument(running, clock(), parts.worker)));
}

/** `GET /metrics`: mounted before the token guard when `metrics.public` is on. */
export function metricsApi(parts: AdminParts): Hono {
  const { running, metrics, clock } = parts;
  return new Hono()
    .get("/metrics", (c) =>
      c.body(
        metrics.render(
          everyBackend(parts),
          clock(),
          running.lag,
          running.dns?.discovery.failures,
          parts.live.reloads,
          running.memoryTrim,
          running.heapReducer,
        ),
        200,
        { "content-type": METRICS_CONTENT_TYPE },
      ));
}
