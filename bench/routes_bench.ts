/**
 * Cost of routing: `RouteMatcher.match` with 1, 10 and 1,000 routes (a realistic mix: one
 * host route and one path route per tenant, then a catch-all), and the whole request path
 * with no routes (the handler in force is the default pool's own) against today's
 * `Balancer.handle`, and with 10 and 1,000 routes. The transport answers at once, so only
 * the balancer's own work is measured.
 *
 * ```sh
 * deno bench bench/routes_bench.ts
 * ```
 *
 * @module
 */

import { Backend } from "../backends/backend.ts";
import { Balancer } from "../balancer/balancer.ts";
import { inForce } from "../balancer/dispatch.ts";
import { DEFAULT_OPTIONS, healthSettings } from "../balancer/options.ts";
import { compileRoutes, type Route } from "../balancer/routes.ts";
import { RoundRobin } from "../policies/round_robin.ts";
import { ImmediateTransport, INFO } from "./_in_process.ts";

/** `n` routes: per tenant i a host route and a path route, the last one a catch-all. */
export function routes(n: number): Route[] {
  const list: Route[] = [];
  for (let i = 0; list.length < n - 1; i++) {
    list.push({ host: `t${i}.example.com`, pathPrefix: "/api", pool: "a", stripPrefix: false });
    if (list.length < n - 1) {
      list.push({ pathPrefix: `/tenant${i}/files`, pool: "b", stripPrefix: true });
    }
  }
  list.push({ pool: "default", stripPrefix: false });
  return list;
}

/** A GET for `target` with the given Host. */
export function get(target: string, host = "www.example.com"): Request {
  return new Request(`http://127.0.0.1:8080${target}`, { headers: { host } });
}

// Requests made once: matching reads them only.
export const REQUESTS = {
  // The middle of the list: a host route (by tenant) for 10 and 1,000 routes.
  host: get("/api/orders/12345?expand=items", "t4.example.com"),
  // A path route deep in the list.
  path: get("/tenant3/files/css/site.css?v=7"),
  // Nothing but the catch-all matches.
  none: get("/some/other/page/that/is/long", "www.example.com"),
};

for (const n of [1, 10, 1_000]) {
  const matcher = compileRoutes(routes(n));
  for (const [name, request] of Object.entries(REQUESTS)) {
    Deno.bench(`match: ${n} route(s), ${name} request`, { group: `match ${name}` }, () => {
      matcher.match(request);
    });
  }
}

function pool(name: string): Balancer {
  const settings = healthSettings(DEFAULT_OPTIONS);
  return new Balancer({
    options: DEFAULT_OPTIONS,
    backends: [1, 2, 3].map((i) =>
      new Backend({ url: `http://127.0.0.1:800${i}`, weight: 1 }, settings)
    ),
    policy: new RoundRobin(),
    transport: new ImmediateTransport(),
    clock: () => performance.now(),
    hostlessOrigin: "http://localhost:8080/",
    pool: name,
  });
}

const pools = new Map([["default", pool("default")], ["a", pool("a")], ["b", pool("b")]]);
const today = pool("default");
const handlers = {
  "today: Balancer.handle": today.handle,
  "no routes: the handler in force": inForce(pools, []).handle,
  "10 routes: the handler in force": inForce(pools, routes(10)).handle,
  "1,000 routes: the handler in force": inForce(pools, routes(1_000)).handle,
};

for (const [name, handle] of Object.entries(handlers)) {
  Deno.bench(
    `handle: ${name}`,
    { group: "handle", baseline: name.startsWith("today") },
    async () => {
      const response = await handle(get("/tenant3/files/css/site.css?v=7"), INFO);
      await response.body?.cancel();
    },
  );
}
