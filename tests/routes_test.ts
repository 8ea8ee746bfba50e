import assert from "node:assert/strict";
import {
  compileRoutes,
  covers,
  hostKey,
  isCatchAll,
  type Route,
  stripPath,
} from "../balancer/routes.ts";

function route(fields: Partial<Route>): Route {
  return { pool: "p", stripPrefix: false, ...fields };
}

function request(
  target: string,
  init: { host?: string; method?: string; headers?: Record<string, string> } = {},
): Request {
  const headers = new Headers(init.headers);
  if (init.host !== undefined) headers.set("host", init.host);
  return new Request(`http://127.0.0.1:8080${target}`, { method: init.method ?? "GET", headers });
}

Deno.test("the first matching route wins, whatever bucket it sits in", () => {
  const matcher = compileRoutes([
    route({ pathPrefix: "/api/admin" }),
    route({ host: "api.example.com" }),
    route({ pathPrefix: "/api" }),
    route({}),
  ]);
  assert.equal(matcher.match(request("/api/admin/x", { host: "api.example.com" })), 0);
  assert.equal(matcher.match(request("/api/users", { host: "api.example.com" })), 1);
  assert.equal(matcher.match(request("/api/users", { host: "www.example.com" })), 2);
  assert.equal(matcher.match(request("/other", { host: "www.example.com" })), 3);
});

Deno.test("no route matching sends the request to the default pool (-1)", () => {
  const matcher = compileRoutes([route({ pathPrefix: "/api" }), route({ host: "a.example" })]);
  assert.equal(matcher.match(request("/static/x", { host: "b.example" })), -1);
  assert.equal(compileRoutes([]).match(request("/")), -1);
});

Deno.test("path prefixes match on segment boundaries only", () => {
  const matcher = compileRoutes([route({ pathPrefix: "/api" })]);
  for (const target of ["/api", "/api/", "/api/x", "/api/x/y", "/api?q=1", "/api/?q=/x"]) {
    assert.equal(matcher.match(request(target)), 0, target);
  }
  for (const target of ["/apiary", "/ap", "/", "/x/api", "/apix?/api"]) {
    assert.equal(matcher.match(request(target)), -1, target);
  }
});

Deno.test("a prefix ending in / needs the path to go on past it", () => {
  const matcher = compileRoutes([route({ pathPrefix: "/api/" })]);
  assert.equal(matcher.match(request("/api/")), 0);
  assert.equal(matcher.match(request("/api/x")), 0);
  assert.equal(matcher.match(request("/api")), -1);
  assert.equal(matcher.match(request("/api?q")), -1);
});

Deno.test("hosts match exactly, case-insensitively and without the port", () => {
  const matcher = compileRoutes([route({ host: "api.example.com" })]);
  assert.equal(matcher.match(request("/", { host: "API.Example.com:8443" })), 0);
  assert.equal(matcher.match(request("/", { host: "api.example.com." })), 0);
  assert.equal(matcher.match(request("/", { host: "x.api.example.com" })), -1);
  assert.equal(hostKey("[::1]:8080"), "[::1]");
});

Deno.test("*.example.com matches subdomains at any depth, not the apex", () => {
  const matcher = compileRoutes([route({ host: "*.example.com" })]);
  assert.equal(matcher.match(request("/", { host: "a.example.com" })), 0);
  assert.equal(matcher.match(request("/", { host: "a.b.example.com" })), 0);
  assert.equal(matcher.match(request("/", { host: "example.com" })), -1);
  assert.equal(matcher.match(request("/", { host: "badexample.com" })), -1);
});

Deno.test("methods and headers narrow a route; a lower route can still match", () => {
  const matcher = compileRoutes([
    route({ pathPrefix: "/api", methods: ["POST", "PUT"] }),
    route({ pathPrefix: "/api", headers: { "x-canary": "1" } }),
    route({ pathPrefix: "/api" }),
  ]);
  assert.equal(matcher.match(request("/api/x", { method: "POST" })), 0);
  assert.equal(matcher.match(request("/api/x", { headers: { "x-canary": "1" } })), 1);
  assert.equal(matcher.match(request("/api/x", { headers: { "x-canary": "2" } })), 2);
  assert.equal(matcher.match(request("/api/x")), 2);
});

Deno.test("a stripped prefix leaves at least / and keeps the query", () => {
  assert.equal(stripPath("/static/css/a.css?v=2", "/static"), "/css/a.css?v=2");
  assert.equal(stripPath("/static", "/static"), "/");
  assert.equal(stripPath("/static?v=1", "/static"), "/?v=1");
  assert.equal(stripPath("/static/", "/static"), "/");
  assert.equal(stripPath("/x", ""), "/x");
});

Deno.test("covers: an earlier route shadows a later one it matches every request of", () => {
  assert.equal(isCatchAll(route({})), true);
  assert.equal(isCatchAll(route({ pathPrefix: "/" })), true);
  assert.equal(covers(route({}), route({ host: "a.example" })), true);
  assert.equal(covers(route({ pathPrefix: "/api" }), route({ pathPrefix: "/api/v1" })), true);
  assert.equal(covers(route({ pathPrefix: "/api/" }), route({ pathPrefix: "/api" })), false);
  assert.equal(covers(route({ pathPrefix: "/api" }), route({ pathPrefix: "/apiary" })), false);
  assert.equal(covers(route({ host: "*.example.com" }), route({ host: "a.example.com" })), true);
  assert.equal(covers(route({ host: "*.example.com" }), route({ host: "*.b.example.com" })), true);
  assert.equal(covers(route({ host: "*.example.com" }), route({ host: "example.com" })), false);
  assert.equal(covers(route({ methods: ["GET", "HEAD"] }), route({ methods: ["GET"] })), true);
  assert.equal(covers(route({ methods: ["GET"] }), route({})), false);
  assert.equal(covers(route({}), route({ headers: { a: "1" } })), true);
  assert.equal(covers(route({ headers: { a: "1" } }), route({})), false);
});

Deno.test("matching looks up a bounded number of entries, however many routes there are", () => {
  const routes = Array.from(
    { length: 5_000 },
    (_, i) => route({ host: `h${i}.example.com`, pathPrefix: `/p${i}` }),
  );
  routes.push(route({ pathPrefix: "/last" }));
  const matcher = compileRoutes(routes);
  assert.equal(matcher.match(request("/p4321/x", { host: "h4321.example.com" })), 4321);
  assert.equal(matcher.match(request("/last", { host: "h1.example.com" })), 5_000);
  assert.equal(matcher.match(request("/p1", { host: "h2.example.com" })), -1);
});
