/**
 * The configuration in force as one immutable value: each pool's {@linkcode Balancer}, the
 * routes, and the handler that sends a request to its route's pool. Reloads replace it in
 * one assignment, so no request sees part of one configuration and part of another.
 *
 * @module
 */

import type { Balancer } from "./balancer.ts";
import { DEFAULT_POOL } from "./pools.ts";
import { compileRoutes, prefixKey, type Route } from "./routes.ts";

/** What serves requests until the next reconfiguration. */
export interface InForce {
  /** The default pool's balancer: requests no route matches. */
  readonly balancer: Balancer;
  /** Every pool's balancer by name, the default first. */
  readonly pools: ReadonlyMap<string, Balancer>;
  readonly routes: readonly Route[];
  readonly handle: (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response>;
}

/**
 * Puts pools and routes together. Without routes the handler is the default pool's own (no
 * matcher, nothing per request). A route that changes nothing of its pool is served by the
 * pool's balancer; one with its own timeout or a stripped prefix by a view of it made here.
 */
export function inForce(pools: ReadonlyMap<string, Balancer>, routes: readonly Route[]): InForce {
  const fallback = pools.get(DEFAULT_POOL)!;
  if (routes.length === 0) return { balancer: fallback, pools, routes, handle: fallback.handle };
  const views = routes.map((route) => {
    const pool = pools.get(route.pool)!;
    if (!route.stripPrefix && route.timeoutMs === undefined) return pool;
    return pool.forRoute({
      timeoutMs: route.timeoutMs,
      stripPrefix: route.stripPrefix ? prefixKey(route.pathPrefix).key : undefined,
    });
  });
  const matcher = compileRoutes(routes);
  return {
    balancer: fallback,
    pools,
    routes,
    handle: (request, info) => {
      const index = matcher.match(request);
      return (index === -1 ? fallback : views[index]).handle(request, info);
    },
  };
}
