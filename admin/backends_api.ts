/**
 * The backends through the admin API. Adding and removing change the live configuration
 * (checked as the file is); draining, disabling and enabling are operator actions on the
 * backend itself, recorded in its history with `source: "admin"`.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import type { Backend } from "../backends/backend.ts";
import { formatDuration, parseDuration } from "../lib/duration.ts";
import { DEFAULT_POOL } from "../config/settings.ts";
import { BACKEND_BODY, backendConfig } from "../config/model.ts";
import { issueLines } from "../config/problems.ts";
import { backendStatus, statusSnapshot } from "./status.ts";
import { problem, readJson } from "./errors.ts";
import { type AdminParts, audit, everyBackend, oneWorkerOnly } from "./parts.ts";

/** Longest `?wait=` accepted. */
export const MAX_WAIT_MS = 300_000;

/** `/backends` and `/backends/{id}[/drain|/disable|/enable]`. */
export function backendsApi(parts: AdminParts): Hono {
  const oneWorker = oneWorkerOnly(parts);
  const { running, clock } = parts;
  return new Hono()
    .get("/backends", (c) => {
      const nowMs = clock();
      const backends = [...running.pools.values()].flatMap((pool) =>
        statusSnapshot(pool, nowMs).backends
      );
      return c.json({ backends });
    })
    .post("/backends", oneWorker, (c) => addBackend(c, parts))
    .get("/backends/:id", (c) => withBackend(c, parts, (backend) => c.json(entry(backend, parts))))
    .delete("/backends/:id", oneWorker, (c) => withBackend(c, parts, removeBackend))
    .post("/backends/:id/drain", oneWorker, (c) => withBackend(c, parts, drainBackend))
    .post("/backends/:id/disable", oneWorker, (c) => withBackend(c, parts, disableBackend))
    .post("/backends/:id/enable", oneWorker, (c) => withBackend(c, parts, enableBackend));
}

type BackendHandler = (
  backend: Backend,
  c: Context,
  parts: AdminParts,
) => Response | Promise<Response>;

/**
 * Runs `then` with the backend the path's `{id}` names, in the pool `?pool=` names when
 * given. 404 listing the ids when there is none; 409 listing the pools when the id is in
 * several and `?pool` does not say which.
 */
function withBackend(
  c: Context,
  parts: AdminParts,
  then: BackendHandler,
): Response | Promise<Response> {
  const id = decodeURIComponent(c.req.param("id") ?? "");
  const pool = c.req.query("pool");
  const every = everyBackend(parts);
  const named = every.filter((b) => b.id === id && (pool === undefined || b.pool === pool));
  // One in force and one still draining elsewhere: the one in force is meant.
  const inForce = named.filter((b) => isInForce(b, parts));
  const candidates = inForce.length > 0 ? inForce : named;
  if (candidates.length === 0) {
    const where = pool === undefined ? "" : ` in pool ${JSON.stringify(pool)}`;
    return problem(c, 404, `no backend with id ${JSON.stringify(id)}${where}`, {
      ids: [...new Set(every.map((b) => b.id))],
      pools: [...parts.running.pools.keys()],
    });
  }
  if (candidates.length > 1) {
    const pools = candidates.map((b) => b.pool);
    return problem(
      c,
      409,
      `backend ${JSON.stringify(id)} is in several pools (${pools.join(", ")}): ` +
        "say which with ?pool=NAME",
      { pools },
    );
  }
  return then(candidates[0], c, parts);
}

/** A backend as the event log names it: its URL, and its pool unless the default one. */
function named(backend: Pick<Backend, "url" | "pool">): string {
  return backend.pool === DEFAULT_POOL ? backend.url : `${backend.url} (pool ${backend.pool})`;
}

/** Whether `backend` is in force in some pool (not only draining). */
function isInForce(backend: Backend, parts: AdminParts): boolean {
  return parts.running.pools.get(backend.pool)?.backends.includes(backend) ?? false;
}

/**
 * `POST /backends[?pool=NAME]`: adds `{ "url": …, "weight"?: …, "pool"?: … }` to the pool
 * named by `?pool` or the body (both may, if they agree), else the default pool; 201 with
 * its status entry.
 */
async function addBackend(c: Context, parts: AdminParts): Promise<Response> {
  const body = await readJson(c);
  if (body instanceof Response) return body;
  const pool = poolOf(c, body, parts);
  if (pool instanceof Response) return pool;
  const parsed = BACKEND_BODY.parse(withoutPool(body));
  if (!parsed.ok) {
    const problems = issueLines(
      parsed.issues,
      (path) => ({ name: path.length === 0 ? "body" : path.join("."), style: "path" }),
    );
    return problem(c, 400, "invalid backend", { problems });
  }
  const config = backendConfig(parsed.value);
  audit(c, parts, `asked to add backend ${named({ url: config.url, pool })}`);
  const inPool = (b: Backend) => b.url === config.url && b.pool === pool;
  const settings = parts.live.settings;
  const configured = settings.pools.find((p) => p.name === pool)?.backends ?? settings.backends;
  if (configured.some((b) => b.url === config.url)) {
    const existing = everyBackend(parts).find(inPool);
    const where = pool === DEFAULT_POOL ? "" : ` in pool ${pool}`;
    return problem(c, 409, `backend ${config.url} is already configured${where}`, {
      id: existing?.id,
      pool,
    });
  }
  const result = await parts.live.applyBackends(
    (backends) => [...backends, config],
    `the admin API (POST /backends${poolQuery(pool)} ${config.url})`,
    pool,
  );
  if (!result.ok) return problem(c, 400, "invalid backend", { problems: result.problems });
  const added = everyBackend(parts).find(inPool)!;
  return c.json(entry(added, parts), 201);
}

/**
 * The pool `POST /backends` adds to: `?pool=` or the body's `"pool"`, the default one when
 * neither says. A 400 when they disagree (or the body's is not a string), a 404 listing the
 * pools when there is no such pool.
 */
function poolOf(c: Context, body: unknown, parts: AdminParts): string | Response {
  const query = c.req.query("pool");
  const given = isObject(body) ? body.pool : undefined;
  if (given !== undefined && typeof given !== "string") {
    return problem(c, 400, `pool ${JSON.stringify(given)}: expected a pool name (a string)`);
  }
  if (query !== undefined && given !== undefined && query !== given) {
    return problem(
      c,
      400,
      `?pool=${query} and "pool": ${JSON.stringify(given)} in the body disagree: ` +
        "name the pool once, or the same in both",
    );
  }
  const pool = query ?? given ?? DEFAULT_POOL;
  const pools = [...parts.running.pools.keys()];
  if (!pools.includes(pool)) {
    return problem(c, 404, `no pool named ${JSON.stringify(pool)}`, { pools });
  }
  return pool;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The body without `pool` (said where it goes, not what it is), for the backend's schema. */
function withoutPool(body: unknown): unknown {
  if (!isObject(body)) return body;
  return Object.fromEntries(Object.entries(body).filter(([key]) => key !== "pool"));
}

/** `?pool=NAME` for a named pool, nothing for the default one: how a reason names it. */
function poolQuery(pool: string): string {
  return pool === DEFAULT_POOL ? "" : `?pool=${pool}`;
}

/**
 * `DELETE /backends/{id}[?pool=NAME][&wait=]`: out of its pool's configuration, drained,
 * gone once empty. A pool's last backend stays (409).
 */
async function removeBackend(
  backend: Backend,
  c: Context,
  parts: AdminParts,
): Promise<Response> {
  const wait = waitOf(c);
  if (wait instanceof Response) return wait;
  audit(c, parts, `asked to remove backend ${named(backend)}`);
  if (isInForce(backend, parts)) {
    const pool = backend.pool;
    const whose = pool === DEFAULT_POOL ? "" : ` of pool ${pool}`;
    const result = await parts.live.applyBackends(
      (backends) =>
        backends.length === 1
          ? `cannot remove the last backend${whose}: add another one first`
          : backends.filter((b) => b.url !== backend.url),
      `the admin API (DELETE /backends/${backend.id}${poolQuery(pool)})`,
      pool,
    );
    if (!result.ok) return problem(c, 409, result.problems.join("; "));
  }
  return await untilEmpty(c, parts, backend, wait, "removed");
}

/** `POST /backends/{id}/drain[?wait=]`: no new requests; with `wait`, answers once empty. */
async function drainBackend(
  backend: Backend,
  c: Context,
  parts: AdminParts,
): Promise<Response> {
  const wait = waitOf(c);
  if (wait instanceof Response) return wait;
  audit(c, parts, `drained backend ${named(backend)}`);
  backend.drain(byAdmin("drained through the admin API", parts));
  return await untilEmpty(c, parts, backend, wait, "draining");
}

/** `POST /backends/{id}/disable`: out of rotation until enabled. */
function disableBackend(backend: Backend, c: Context, parts: AdminParts): Response {
  audit(c, parts, `disabled backend ${named(backend)}`);
  backend.disable(byAdmin("disabled through the admin API", parts));
  return c.json(entry(backend, parts));
}

/** `POST /backends/{id}/enable`: back into rotation; a removed backend must be added again. */
function enableBackend(backend: Backend, c: Context, parts: AdminParts): Response {
  if (!isInForce(backend, parts)) {
    return problem(c, 409, `backend ${backend.id} was removed; add it again instead`);
  }
  audit(c, parts, `enabled backend ${named(backend)}`);
  backend.enable(byAdmin("enabled through the admin API", parts));
  return c.json(entry(backend, parts));
}

/** The answer naming one backend: its status entry now. */
function entry(backend: Backend, parts: AdminParts) {
  return { backend: backendStatus(backend, parts.clock()) };
}

/** An operator's cause, now. */
function byAdmin(detail: string, parts: AdminParts) {
  return { source: "admin", detail, atMs: parts.clock() } as const;
}

/**
 * Answers once `backend` has nothing in flight, or 504 after `waitMs`. With no `wait`, at
 * once: 200 when it is empty, 202 (accepted, still finishing) when it is not.
 */
async function untilEmpty(
  c: Context,
  parts: AdminParts,
  backend: Backend,
  waitMs: number | undefined,
  what: string,
): Promise<Response> {
  const body = () => entry(backend, parts);
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
  const left = `backend ${backend.id} still has ${backend.inFlight} request(s) in flight`;
  return problem(c, 504, `${left} after ${formatDuration(waitMs)} (${what})`, body());
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** The `?wait=` duration, `undefined` without one, or a 400 naming the value. */
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
