/**
 * The admin API as a Hono app, testable with `app.request()` and served on its own port by
 * `server.ts`. Every answer is JSON except `/metrics`; every error names the problem
 * (`errors.ts`). The routes live by concern: `status_api.ts`, `config_api.ts`,
 * `backends_api.ts`; the guards every request passes first in `auth.ts`.
 *
 * | method and path                     | what it does                                           |
 * | ----------------------------------- | ------------------------------------------------------ |
 * | `GET /`                             | the live dashboard, an HTML page (no token needed for the page itself) |
 * | `GET /history`                      | per-backend figures each second for 15 minutes, and reloads seen |
 * | `GET /recent`                       | the last 50 requests with every try                    |
 * | `GET /status`                       | per-backend state, cause, in-flight, counts, latency   |
 * | `GET /metrics`                      | Prometheus text format 0.0.4 (no token with `metrics.public`) |
 * | `GET /config`                       | the configuration in force and where each value came from |
 * | `POST /config`                      | applies a whole config document (as in the file)       |
 * | `POST /reload`                      | re-reads the config file, environment and flags        |
 * | `GET /backends`                     | the backends' status entries                           |
 * | `POST /backends`                    | adds `{ "url": …, "weight"?: … }`                       |
 * | `DELETE /backends/{id}[?wait=10s]`  | removes a backend: drained first, gone once empty      |
 * | `POST /backends/{id}/drain[?wait=]` | no new requests; with `wait`, answers once it is empty (504 if not in time) |
 * | `POST /backends/{id}/disable`       | out of rotation until enabled                          |
 * | `POST /backends/{id}/enable`        | back into rotation                                     |
 * | `GET /healthz`, `GET /readyz`       | liveness, readiness (no token needed; `health_api.ts`) |
 *
 * With `--workers N`, each worker serves its own admin API (admin port + its index). Its
 * `/status` names the worker; `POST /reload` reloads every worker; the endpoints that would
 * change one worker's backends or configuration only (`POST /config`, `POST` and `DELETE`
 * under `/backends`) answer 409: the workers would disagree, so change the config file and
 * reload instead.
 *
 * @module
 */

import { type Handler, Hono } from "hono";
import { problem } from "./errors.ts";
import { refuseBrowsers, requireToken } from "./auth.ts";
import type { AdminParts } from "./parts.ts";
import { metricsApi, statusApi } from "./status_api.ts";
import { configApi } from "./config_api.ts";
import { backendsApi } from "./backends_api.ts";
import { dashboardApi, dashboardPage } from "./dashboard_api.ts";
import { healthApi } from "./health_api.ts";

export type { AdminParts, WorkerRole } from "./parts.ts";

/** The admin API. */
export function adminApp(parts: AdminParts): Hono {
  const app = new Hono()
    .use(refuseBrowsers(parts.token))
    // Before the token guard: orchestrators' probes carry no token.
    .route("/", healthApi(parts));
  // A scraper that cannot send a token is let in to read figures, and to nothing else.
  if (parts.metricsPublic) app.route("/", metricsApi(parts));
  app.route("/", dashboardPage())
    .use(requireToken(parts.token))
    .route("/", statusApi(parts))
    .route("/", dashboardApi(parts))
    .route("/", configApi(parts))
    .route("/", backendsApi(parts));
  if (!parts.metricsPublic) app.route("/", metricsApi(parts));
  answerTheRest(app);
  app.onError((error, c) =>
    problem(c, 500, `internal error: ${error instanceof Error ? error.message : error}`)
  );
  return app;
}

/**
 * Answers what no route takes: a method an endpoint lacks with 405 and `Allow` (RFC 9110
 * §15.5.6), an unknown path with 404 listing the endpoints. Both lists come from the routes
 * `app` has, so they cannot drift from them. Call it once every route is in place.
 */
function answerTheRest(app: Hono): void {
  const allowed = new Map<string, string[]>();
  for (const { method, path } of app.routes) {
    if (method === "ALL") continue; // the guards
    const methods = allowed.get(path) ?? [];
    if (!methods.includes(method)) methods.push(method);
    allowed.set(path, methods);
  }
  for (const [path, methods] of allowed) app.all(path, wrongMethod(methods));
  const endpoints = [...allowed.keys()];
  app.notFound((c) =>
    problem(c, 404, `no such endpoint: ${c.req.method} ${c.req.path}`, { endpoints })
  );
}

/** The 405 of an endpoint that takes only `methods`. */
function wrongMethod(methods: readonly string[]): Handler {
  const allow = methods.join(", ");
  return (c) =>
    problem(c, 405, `${c.req.method} is not allowed on ${c.req.path}`, { allowed: methods }, {
      allow,
    });
}
