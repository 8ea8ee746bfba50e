/**
 * `pools` and `routes` in the config file: the route's schema, the file ↔ model conversion
 * of routes, and the problems that involve several of them (an unknown pool, an unreachable
 * route, a pool without backends), each named by its path, all at once.
 *
 * Where the default pool (the top-level `backends`) may be empty: only when a route before
 * any other catches every request and no route names `default`, since then it serves nothing.
 *
 * @module
 */

import * as v from "../lib/check.ts";
import { covers, isCatchAll, type Route } from "../balancer/routes.ts";
import { formatDuration } from "../lib/duration.ts";
import { formatPath, problemLine, quote } from "./problems.ts";
import { DEFAULT_POOL, POOL_NAME } from "./settings.ts";
import {
  DURATION,
  type DurationValue,
  ms,
  repeatedBackends,
  REQUEST_PATH,
  SWITCH,
} from "./values.ts";

const HOST_WORDS = "expected a host name such as api.example.com, or *.example.com for " +
  "any subdomain";
const HOST = v.string(HOST_WORDS)
  .regex(/^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/, HOST_WORDS);

const PREFIX_WORDS = "expected a path starting with /, without ? or #, such as /api";
const PREFIX = REQUEST_PATH.regex(/^[^?#\s]*$/, PREFIX_WORDS);

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const METHOD_WORDS = "expected a method such as GET";
const METHODS = v.array(
  v.string(METHOD_WORDS).regex(TOKEN, METHOD_WORDS),
  'expected a list of methods such as ["GET", "HEAD"]',
).min(1, "expected at least one method");

const HEADER_WORDS = "expected header names mapped to exact values";
const HEADERS = v.record(
  v.string().regex(TOKEN, "expected a header name"),
  v.string("expected the header's exact value, a string"),
  HEADER_WORDS,
);

/** One route as the file holds it. */
export const ROUTE = v.object({
  host: HOST.describe(
    "Host to match: exact (case-insensitive, port ignored) or *.example.com " +
      "(any subdomain at any depth, not the apex).",
  ).optional(),
  pathPrefix: PREFIX.describe(
    "Path prefix to match on segment boundaries: /api matches " +
      "/api, /api/x and /api?q, not /apiary; /api/ matches /api/x only.",
  ).optional(),
  methods: METHODS.describe("Methods to match (any case); unset, every method.").optional(),
  headers: HEADERS.describe(
    "Request headers that must all be present with these exact " +
      "values.",
  ).optional(),
  pool: v.string("expected the name of a pool (or default)")
    .describe("The pool that serves what this route matches; default is the top level."),
  stripPrefix: SWITCH.describe(
    "Remove pathPrefix from the path sent to the backend, leaving " +
      "at least /. Default false.",
  ).optional(),
  timeout: DURATION.describe("Per-try timeout for this route, in place of its pool's.")
    .optional(),
}, "expected a route object with a pool");

/** The routes: in order, the first match wins; unmatched requests go to the default pool. */
export const ROUTES = v.array(ROUTE, "expected a list of routes")
  .describe(
    "Where requests go: an ordered list, the first route that matches names the " +
      "pool; a request that matches none goes to the top-level backends (the default pool).",
  );

type RouteFile = v.Infer<typeof ROUTE>;

/** A route as the model holds it, from its file form (assumed valid). */
export function toRoute(file: RouteFile): Route {
  return {
    ...(file.host === undefined ? {} : { host: file.host.toLowerCase() }),
    ...(file.pathPrefix === undefined ? {} : { pathPrefix: file.pathPrefix }),
    ...(file.methods === undefined ? {} : { methods: file.methods.map((m) => m.toUpperCase()) }),
    ...(file.headers === undefined ? {} : {
      headers: Object.fromEntries(
        Object.entries(file.headers).map(([name, value]) => [name.toLowerCase(), value]),
      ),
    }),
    pool: file.pool,
    stripPrefix: file.stripPrefix ?? false,
    ...(file.timeout === undefined ? {} : { timeoutMs: ms(file.timeout as DurationValue) }),
  };
}

/** A route as the file holds it, from the model. */
export function fromRoute(route: Route): RouteFile {
  const { timeoutMs, stripPrefix, ...rest } = route;
  return {
    ...rest,
    ...(stripPrefix ? { stripPrefix } : {}),
    ...(timeoutMs === undefined ? {} : { timeout: formatDuration(timeoutMs) }),
  } as RouteFile;
}

/** Whether the routes leave the default pool without a request to serve. */
export function defaultPoolUnused(routes: unknown): boolean {
  const list = wellFormed(routes);
  const firstCatchAll = list.findIndex((route) => route !== undefined && isCatchAll(route));
  if (firstCatchAll === -1) return false;
  return !list.slice(0, firstCatchAll + 1).some((route) => route?.pool === DEFAULT_POOL);
}

/** The routes that passed the schema, as the model holds them; `undefined` for the others. */
function wellFormed(routes: unknown): (Route | undefined)[] {
  if (!Array.isArray(routes)) return [];
  return routes.map((file) => {
    const parsed = ROUTE.parse(file);
    return parsed.ok ? toRoute(parsed.value) : undefined;
  });
}

/** How a path inside the pools and routes is named: `prefix` (a file's name) and the path. */
type WhereOf = (path: PropertyKey[]) => { name: string; style: "path" };

/**
 * Problems among pools and routes, as lines: pool names, pools without backends or with one
 * twice, routes naming an unknown pool, routes an earlier one shadows. `prefix` is put before
 * each path (a file's name, or nothing). Values that failed the schema are skipped here (the
 * schema has named them).
 */
export function routingProblems(pools: unknown, routes: unknown, prefix: string): string[] {
  const where: WhereOf = (path) => ({ name: prefix + formatPath(path), style: "path" });
  const problems: string[] = [];
  const names = poolProblems(pools, where, problems);
  if (Array.isArray(routes)) routeProblems(routes, [...names, DEFAULT_POOL], where, problems);
  return problems;
}

/** Adds the pools' problems to `problems`; returns the names of the pools (not `default`). */
function poolProblems(pools: unknown, where: WhereOf, problems: string[]): string[] {
  const names: string[] = [];
  if (pools === null || typeof pools !== "object" || Array.isArray(pools)) return names;
  for (const [name, pool] of Object.entries(pools)) {
    if (name === DEFAULT_POOL) {
      problems.push(problemLine(
        where(["pools", name]),
        "the name default is the top-level pool (the top-level settings): give this pool " +
          "another name",
      ));
      continue;
    }
    if (!POOL_NAME.test(name)) {
      problems.push(problemLine(
        where(["pools", name]),
        "is not a pool name: expected lower-case letters, digits, _ and - (at most 63, " +
          "starting with a letter or digit)",
      ));
    }
    names.push(name);
    const backends = (pool as { backends?: unknown })?.backends;
    if (backends === undefined || Array.isArray(backends) && backends.length === 0) {
      problems.push(
        problemLine(where(["pools", name, "backends"]), "a pool needs at least one backend"),
      );
    }
    for (const [i, text] of repeatedBackends(backends)) {
      problems.push(
        problemLine(where(["pools", name, "backends", i]), "is given twice", { value: text }),
      );
    }
  }
  return names;
}

/**
 * Adds the routes' problems to `problems`: unknown pools (`known` are the names), and routes
 * an earlier one covers (checked once per configuration, pair by pair).
 */
function routeProblems(
  routes: unknown[],
  known: readonly string[],
  where: WhereOf,
  problems: string[],
): void {
  routes.forEach((route, i) => {
    const pool = (route as { pool?: unknown })?.pool;
    if (typeof pool === "string" && !known.includes(pool)) {
      problems.push(problemLine(
        where(["routes", i, "pool"]),
        `unknown pool ${quote(pool)} (pools: ${known.join(", ")})`,
      ));
    }
  });
  const list = wellFormed(routes);
  list.forEach((later, j) => {
    if (later === undefined) return;
    const earlier = list.findIndex((route, i) =>
      i < j && route !== undefined && covers(route, later)
    );
    if (earlier === -1) return;
    const what = isCatchAll(list[earlier]!)
      ? `routes[${earlier}] (a catch-all)`
      : `routes[${earlier}]`;
    problems.push(
      problemLine(where(["routes", j]), `unreachable: ${what} matches every request it would`),
    );
  });
}
