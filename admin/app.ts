/**
 * The admin API as a Hono app, testable with `app.request()` and served on its own port by
 * `server.ts`. Every answer is JSON except `/metrics`; every error names the problem.
 *
 * | method and path                     | what it does                                           |
 * | ----------------------------------- | ------------------------------------------------------ |
 * | `GET /status`                       | per-backend state, cause, in-flight, counts, latency   |
 * | `GET /metrics`                      | Prometheus text format 0.0.4                           |
 * | `GET /config`                       | the configuration in force and where each value came from |
 * | `POST /config`                      | applies a whole config document (as in the file)       |
 * | `POST /reload`                      | re-reads the config file, environment and flags        |
 * | `GET /backends`                     | the backends' status entries                           |
 * | `POST /backends`                    | adds `{ "url": …, "weight"?: … }`                       |
 * | `DELETE /backends/{id}[?wait=10s]`  | removes a backend: drained first, gone once empty      |
 * | `POST /backends/{id}/drain[?wait=]` | no new requests; with `wait`, answers once it is empty (504 if not in time) |
 * | `POST /backends/{id}/disable`       | out of rotation until enabled                          |
 * | `POST /backends/{id}/enable`        | back into rotation                                     |
 *
 * With `--workers N`, each worker serves its own admin API (admin port + its index). Its
 * `/status` names the worker; `POST /reload` reloads every worker; the endpoints that would
 * change one worker's backends or configuration only (`POST /config`, `POST` and `DELETE`
 * under `/backends`) answer 409: the workers would disagree, so change the config file and
 * reload instead.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import type { Backend } from "../backends/backend.ts";
import type { Clock } from "../lib/time.ts";
import { formatDuration, parseDuration } from "../lib/duration.ts";
import type { LiveConfig, Outcome } from "../config/live.ts";
import { BACKEND_BODY, backendConfig, isLoopback, toFile } from "../config/model.ts";
import { JsoncError, parseJsonc } from "../config/jsonc.ts";
import { issueLines } from "../config/problems.ts";
import type { RunningBalancer } from "../balancer/server.ts";
import { backendStatus, statusSnapshot } from "./status.ts";
import { bearerToken, sameToken } from "./auth.ts";
import type { Metrics } from "./metrics.ts";

/** What the admin API works with. */
export interface AdminParts {
  readonly live: LiveConfig;
  readonly running: RunningBalancer;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Bearer token every request must carry; unset: none needed. */
  readonly token?: string;
  /** How often a `wait` polls the in-flight count, in milliseconds. Default 20. */
  readonly pollMs?: number;
  /** Aborted when the process stops: waits end at once. */
  readonly stopping?: AbortSignal;
  /** Set when this is one of several workers (`--workers N`). */
  readonly worker?: WorkerRole;
}

/** Which of several workers an instance is, and how it reaches the others. */
export interface WorkerRole {
  /** From 0. */
  readonly index: number;
  /** How many workers there are. */
  readonly count: number;
  /** Asks every other worker to reload (through the main thread). */
  reloadOthers(reason: string): void;
}

/** Longest `?wait=` accepted. */
export const MAX_WAIT_MS = 300_000;

type Handler = (c: Context) => Response | Promise<Response>;

/** The admin API. */
export function adminApp(parts: AdminParts): Hono {
  const { live, running, metrics, clock } = parts;
  const app = new Hono();

  // A page in the operator's browser can send "simple" cross-origin requests to a loopback
  // API with no preflight (CSRF), or reach it under the page's own name once that name
  // resolves to 127.0.0.1 (DNS rebinding). Browsers mark such requests with Origin or
  // Sec-Fetch-Site; curl and `roundabout status` send neither. Without a token, the API
  // listens on loopback only, so it must be called by a loopback name.
  app.use("*", async (c, next) => {
    const site = c.req.header("sec-fetch-site");
    if (c.req.header("origin") !== undefined || (site !== undefined && site !== "none")) {
      return problem(c, 403, "requests from web pages are refused");
    }
    const host = c.req.header("host");
    if (parts.token === undefined && host !== undefined && !isLoopback(hostOf(host))) {
      return problem(c, 403, `Host ${JSON.stringify(host)} is not a loopback name`);
    }
    return await next();
  });

  app.use("*", async (c, next) => {
    if (parts.token === undefined) return await next();
    const given = bearerToken(c.req.header("authorization"));
    if (given === undefined) {
      return unauthorised(c, "this admin API needs Authorization: Bearer <token>", false);
    }
    if (!(await sameToken(given, parts.token))) return unauthorised(c, "wrong token", true);
    return await next();
  });

  const routes: Record<string, Record<string, Handler>> = {
    "/status": {
      GET: (c) => c.json(status()),
    },
    "/metrics": {
      GET: (c) =>
        c.body(metrics.render(everyBackend(), clock(), running.lag), 200, {
          "content-type": "text/plain; version=0.0.4; charset=utf-8",
        }),
    },
    "/config": {
      GET: (c) =>
        c.json({ config: toFile(live.settings), origins: Object.fromEntries(live.origins) }),
      POST: async (c) => {
        const body = await readJson(c);
        if (body instanceof Response) return body;
        return outcome(c, await live.applyDocument(body, "the admin API (POST /config)"));
      },
    },
    "/reload": {
      POST: async (c) => {
        const worker = parts.worker;
        if (worker === undefined) {
          return outcome(c, await live.reload("the admin API (POST /reload)"));
        }
        const reason = `the admin API (POST /reload on worker ${worker.index})`;
        // Every worker re-reads the same sources; this one answers with its own outcome.
        worker.reloadOthers(reason);
        return outcome(c, await live.reload(reason));
      },
    },
    "/backends": {
      GET: (c) => c.json({ backends: status().backends }),
      POST: async (c) => {
        const body = await readJson(c);
        if (body instanceof Response) return body;
        const parsed = BACKEND_BODY.safeParse(body, { reportInput: true });
        if (!parsed.success) {
          const problems = issueLines(
            parsed.error.issues,
            (path) => ({ name: path.length === 0 ? "body" : path.join("."), style: "path" }),
            BACKEND_BODY,
          );
          return problem(c, 400, "invalid backend", { problems });
        }
        const config = backendConfig(parsed.data);
        if (live.settings.backends.some((b) => b.url === config.url)) {
          const existing = find((b) => b.url === config.url);
          return problem(c, 409, `backend ${config.url} is already configured`, {
            id: existing?.id,
          });
        }
        const result = await live.applyBackends(
          (backends) => [...backends, config],
          `the admin API (POST /backends ${config.url})`,
        );
        if (!result.ok) return problem(c, 400, "invalid backend", { problems: result.problems });
        const added = find((b) => b.url === config.url)!;
        return c.json({ backend: backendStatus(added, clock()) }, 201);
      },
    },
    "/backends/:id": {
      GET: (c) => withBackend(c, (backend) => c.json({ backend: backendStatus(backend, clock()) })),
      DELETE: (c) =>
        withBackend(c, async (backend) => {
          const wait = waitOf(c);
          if (wait instanceof Response) return wait;
          if (running.balancer.backends.includes(backend)) {
            const result = await live.applyBackends(
              (backends) =>
                backends.length === 1
                  ? "cannot remove the last backend: add another one first"
                  : backends.filter((b) => b.url !== backend.url),
              `the admin API (DELETE /backends/${backend.id})`,
            );
            if (!result.ok) return problem(c, 409, result.problems.join("; "));
          }
          return await untilEmpty(c, backend, wait, "removed");
        }),
    },
    "/backends/:id/drain": {
      POST: (c) =>
        withBackend(c, async (backend) => {
          const wait = waitOf(c);
          if (wait instanceof Response) return wait;
          backend.health.drain({
            source: "admin",
            detail: "drained through the admin API",
            atMs: clock(),
          });
          return await untilEmpty(c, backend, wait, "draining");
        }),
    },
    "/backends/:id/disable": {
      POST: (c) =>
        withBackend(c, (backend) => {
          backend.health.disable({
            source: "admin",
            detail: "disabled through the admin API",
            atMs: clock(),
          });
          return c.json({ backend: backendStatus(backend, clock()) });
        }),
    },
    "/backends/:id/enable": {
      POST: (c) =>
        withBackend(c, (backend) => {
          if (!running.balancer.backends.includes(backend)) {
            return problem(c, 409, `backend ${backend.id} was removed; add it again instead`);
          }
          backend.health.enable({
            source: "admin",
            detail: "enabled through the admin API",
            atMs: clock(),
          });
          return c.json({ backend: backendStatus(backend, clock()) });
        }),
    },
  };

  for (const [path, methods] of Object.entries(routes)) {
    const allowed = Object.keys(methods).join(", ");
    app.all(path, (c) => {
      const handler = methods[c.req.method];
      if (
        parts.worker && Object.hasOwn(methods, c.req.method) && changesOneWorker(path, c.req.method)
      ) {
        return problem(
          c,
          409,
          `${c.req.method} ${c.req.path} would change worker ${parts.worker.index} only, ` +
            `and the ${parts.worker.count} workers would disagree: change the config file ` +
            "and reload (SIGHUP or POST /reload) instead",
          { worker: { index: parts.worker.index, count: parts.worker.count } },
        );
      }
      if (handler) return handler(c);
      return problem(c, 405, `${c.req.method} is not allowed on ${c.req.path}`, {
        allowed: Object.keys(methods),
      }, { allow: allowed });
    });
  }
  app.notFound((c) =>
    problem(c, 404, `no such endpoint: ${c.req.method} ${c.req.path}`, {
      endpoints: Object.keys(routes),
    })
  );
  app.onError((error, c) =>
    problem(c, 500, `internal error: ${error instanceof Error ? error.message : error}`)
  );

  function everyBackend(): Backend[] {
    return [...running.balancer.backends, ...running.draining];
  }

  function status() {
    const nowMs = clock();
    const document = statusSnapshot(running.balancer, nowMs);
    const worker = parts.worker && { index: parts.worker.index, count: parts.worker.count };
    const lag = running.lag;
    return {
      ...document,
      ...(worker ? { worker } : {}),
      draining: running.draining.map((b) => backendStatus(b, nowMs)),
      // The balancer's own load (see balancer/overload.ts): whether timeouts are its fault.
      overload: {
        overloaded: lag.overloaded,
        eventLoopLagMs: Math.round(lag.lagMs()),
        episodes: lag.episodes,
      },
    };
  }

  function find(test: (backend: Backend) => boolean): Backend | undefined {
    return everyBackend().find(test);
  }

  function withBackend(
    c: Context,
    then: (backend: Backend) => Response | Promise<Response>,
  ): Response | Promise<Response> {
    const id = decodeURIComponent(c.req.param("id") ?? "");
    const backend = find((b) => b.id === id);
    if (!backend) {
      return problem(c, 404, `no backend with id ${JSON.stringify(id)}`, {
        ids: everyBackend().map((b) => b.id),
      });
    }
    return then(backend);
  }

  /** Answers once `backend` has nothing in flight, or 504 after `waitMs`. */
  async function untilEmpty(
    c: Context,
    backend: Backend,
    waitMs: number | undefined,
    what: string,
  ): Promise<Response> {
    const body = () => ({ backend: backendStatus(backend, clock()) });
    if (waitMs === undefined || backend.inFlight === 0) {
      return c.json(body(), backend.inFlight === 0 || waitMs !== undefined ? 200 : 202);
    }
    const signal = c.req.raw.signal;
    const deadline = Date.now() + waitMs;
    while (
      backend.inFlight > 0 && Date.now() < deadline && !signal.aborted && !parts.stopping?.aborted
    ) {
      await sleep(Math.min(parts.pollMs ?? 20, deadline - Date.now()));
    }
    if (backend.inFlight === 0) return c.json(body());
    return problem(
      c,
      504,
      `backend ${backend.id} still has ${backend.inFlight} request(s) in flight after ${
        formatDuration(waitMs)
      } (${what})`,
      body(),
    );
  }

  return app;
}

/** Whether a call changes one worker's backends or configuration (not GETs, not reload). */
function changesOneWorker(path: string, method: string): boolean {
  return method !== "GET" && (path === "/config" || path.startsWith("/backends"));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function waitOf(c: Context): number | undefined | Response {
  const text = c.req.query("wait");
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms > MAX_WAIT_MS) {
    return problem(
      c,
      400,
      `wait ${JSON.stringify(text)}: expected a duration such as 500ms or 10s, at most ${
        formatDuration(MAX_WAIT_MS)
      }`,
    );
  }
  return ms;
}

async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") return problem(c, 400, "expected a JSON body");
  try {
    return parseJsonc(text);
  } catch (error) {
    if (error instanceof JsoncError) {
      return problem(c, 400, `the body is not valid JSON: ${error.message}`);
    }
    throw error;
  }
}

function outcome(c: Context, result: Outcome): Response {
  if (!result.ok) return problem(c, 400, "invalid configuration", { problems: result.problems });
  return c.json({ applied: true, changes: result.changes, keptUntilRestart: result.kept });
}

function unauthorised(c: Context, error: string, wrong: boolean): Response {
  const challenge = wrong
    ? 'Bearer realm="roundabout-admin", error="invalid_token"'
    : 'Bearer realm="roundabout-admin"';
  return problem(c, 401, error, {}, { "www-authenticate": challenge });
}

/** The name in a Host header, without port or IPv6 brackets. */
function hostOf(header: string): string {
  const bracketed = /^\[([^\]]*)\]/.exec(header);
  return bracketed ? bracketed[1] : header.replace(/:\d*$/, "");
}

function problem(
  c: Context,
  status: 400 | 401 | 403 | 404 | 405 | 409 | 500 | 504,
  error: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  return c.json({ error, ...extra }, status, headers);
}
