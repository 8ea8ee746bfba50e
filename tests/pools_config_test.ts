/**
 * `pools` and `routes` in the config file: a pool inherits what it does not set, durations
 * read as at the top level, every routing mistake is reported at once with its path, and a
 * file without them resolves as before.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../config/problems.ts";
import { fileLayer, objectLayer, resolve } from "../config/sources.ts";
import { toFile } from "../config/model.ts";
import { POOL_SETTINGS } from "../config/settings.ts";
import { BUILT_IN_TOPOLOGIES, readTopology, withAppUrls } from "../app/topology.ts";
import { effectiveTable } from "../cli/check_config.ts";

function problemsOf(document: unknown): string[] {
  try {
    resolve([objectLayer("x.json", document)]);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("the pool-able settings are those marked in the settings table", () => {
  const paths = POOL_SETTINGS.map((setting) => setting.path);
  for (const path of ["backends", "policy", "timeout", "retryDowntime", "slowStart"]) {
    assert.ok(paths.includes(path), path);
  }
  for (const path of ["retryAfterSend", "replayLimit", "passive.backoff", "active.path"]) {
    assert.ok(paths.includes(path), path);
  }
  assert.ok(!paths.includes("listen.port") && !paths.includes("maxInFlight"));
});

Deno.test("a pool takes the top level's settings it does not give, and overrides the others", () => {
  const { settings } = resolve([objectLayer("x.json", {
    backends: ["http://127.0.0.1:8001"],
    timeout: "1s",
    policy: "least-request",
    passive: { failuresToEject: 3 },
    pools: {
      longpoll: {
        backends: ["http://127.0.0.1:8003"],
        timeout: "10s",
        passive: { backoff: "exponential" },
      },
    },
    routes: [{ pathPrefix: "/poll", pool: "longpoll", timeout: 12_000, stripPrefix: true }],
  })]);
  const [pool] = settings.pools;
  assert.equal(pool.name, "longpoll");
  assert.deepEqual(pool.backends, [{ url: "http://127.0.0.1:8003", weight: 1 }]);
  assert.equal(pool.options.timeoutMs, 10_000);
  assert.equal(pool.options.policy, "least-request");
  assert.equal(pool.options.passive.failuresToEject, 3);
  assert.equal(pool.options.passive.backoff, "exponential");
  assert.equal(settings.options.passive.backoff, "none", "the top level is left alone");
  assert.deepEqual(settings.routes, [
    { pathPrefix: "/poll", pool: "longpoll", stripPrefix: true, timeoutMs: 12_000 },
  ]);
  const file = toFile(settings);
  assert.deepEqual(file.routes, [
    { pathPrefix: "/poll", pool: "longpoll", stripPrefix: true, timeout: "12s" },
  ]);
  assert.deepEqual(file.pools, {
    longpoll: {
      backends: ["http://127.0.0.1:8003"],
      timeout: "10s",
      passive: { backoff: "exponential" },
    },
  });
});

Deno.test("hosts, methods and header names are normalised once, when read", () => {
  const { settings } = resolve([objectLayer("x.json", {
    backends: ["http://127.0.0.1:8001"],
    routes: [{
      host: "API.Example.com",
      methods: ["get"],
      headers: { "X-Canary": "1" },
      pool: "default",
    }],
  })]);
  assert.deepEqual(settings.routes[0], {
    host: "api.example.com",
    methods: ["GET"],
    headers: { "x-canary": "1" },
    pool: "default",
    stripPrefix: false,
  });
});

Deno.test("every routing mistake is listed at once, each with its path", () => {
  const problems = problemsOf({
    backends: ["http://127.0.0.1:8001"],
    pools: {
      api: { backends: ["http://127.0.0.1:8002"], timeout: "soon" },
      static: { backends: [] },
      empty: {},
      twice: { backends: ["http://127.0.0.1:8004", "http://127.0.0.1:8004/"] },
      default: { backends: ["http://127.0.0.1:8005"] },
      "Bad Name": { backends: ["http://127.0.0.1:8006"] },
      odd: { backends: ["http://127.0.0.1:8007"], listen: { port: 1 } },
    },
    routes: [
      { host: "api.example.com", pool: "api" },
      { pathPrefix: "/", pool: "api" },
      { pathPrefix: "/static", pool: "static" },
      { pathPrefix: "/x", pool: "apii" },
      { pathPrefix: "nope", pool: "api", methods: [] },
      { pool: "api", sticky: true },
    ],
  });
  const expected = [
    /^x\.json: pools\.api\.timeout: expected a duration/,
    /^x\.json: pools\.odd\.listen: is not a known setting \(expected one of backends, timeout/,
    /^x\.json: routes\[4\]\.pathPrefix: expected a path starting with \//,
    /^x\.json: routes\[4\]\.methods: expected at least one method/,
    /^x\.json: routes\[5\]\.sticky: is not a known setting/,
    /^x\.json: pools\.static\.backends: a pool needs at least one backend$/,
    /^x\.json: pools\.empty\.backends: a pool needs at least one backend$/,
    /^x\.json: pools\.twice\.backends\[1\]: "http:\/\/127\.0\.0\.1:8004\/" is given twice$/,
    /^x\.json: pools\.default: the name default is the top-level pool/,
    /^x\.json: pools\["Bad Name"\]: is not a pool name/,
    /^x\.json: routes\[3\]\.pool: unknown pool "apii" \(pools: api, static, empty, twice, Bad Name, odd, default\)$/,
    /^x\.json: routes\[2\]: unreachable: routes\[1\] \(a catch-all\) matches every request it would$/,
    /^x\.json: routes\[3\]: unreachable: routes\[1\] \(a catch-all\)/,
  ];
  for (const pattern of expected) {
    assert.ok(problems.some((line) => pattern.test(line)), `${pattern}\n${problems.join("\n")}`);
  }
});

Deno.test("a route shadowed by a narrower-looking but covering one is unreachable", () => {
  const problems = problemsOf({
    backends: ["http://127.0.0.1:8001"],
    pools: { a: { backends: ["http://127.0.0.1:8002"] } },
    routes: [
      { host: "*.example.com", pathPrefix: "/api", pool: "a" },
      { host: "x.example.com", pathPrefix: "/api/v1", methods: ["GET"], pool: "a" },
      { host: "example.com", pathPrefix: "/api", pool: "a" },
    ],
  });
  assert.deepEqual(problems, [
    "x.json: routes[1]: unreachable: routes[0] matches every request it would",
  ]);
});

Deno.test("empty top-level backends are fine only when an early catch-all leaves the default pool unused", () => {
  const pools = { all: { backends: ["http://127.0.0.1:8002"] } };
  const ok = resolve([objectLayer("x.json", { pools, routes: [{ pool: "all" }] })]);
  assert.deepEqual(ok.settings.backends, []);
  assert.match(
    problemsOf({ pools, routes: [{ pathPrefix: "/a", pool: "all" }] })[0],
    /--backend is required/,
  );
  assert.match(
    problemsOf({ pools, routes: [{ pathPrefix: "/a", pool: "default" }, { pool: "all" }] })[0],
    /--backend is required/,
  );
});

Deno.test("a file without pools and routes resolves to none", () => {
  const { settings } = resolve([fileLayer("x.json", '{ "backends": ["http://127.0.0.1:8001"] }')]);
  assert.deepEqual(settings.pools, []);
  assert.deepEqual(settings.routes, []);
  assert.equal(toFile(settings).pools, undefined);
  assert.equal(toFile(settings).routes, undefined);
});

Deno.test("a topology's pools point at its apps wherever they run, and the routing topology resolves", () => {
  const topology = readTopology("routing", BUILT_IN_TOPOLOGIES.routing);
  const urls = [
    "http://127.0.0.1:9101",
    "http://127.0.0.1:9102",
    "http://127.0.0.1:9103",
    "http://127.0.0.1:9104",
  ];
  const section = withAppUrls(topology, urls);
  const { settings } = resolve([objectLayer("routing", section)]);
  assert.deepEqual(settings.backends.map((b) => b.url), [urls[3]]);
  assert.deepEqual(
    settings.pools.map((
      pool,
    ) => [pool.name, pool.backends.map((b) => b.url), pool.options.timeoutMs]),
    [["api", [urls[0], urls[1]], 1_000], ["longpoll", [urls[2]], 10_000]],
  );
  assert.deepEqual(settings.routes.map((route) => route.pool), ["api", "api", "longpoll"]);
});

Deno.test("sticky is a pool setting too: a pool can keep its clients while the top level does not", () => {
  const { settings } = resolve([objectLayer("x.json", {
    backends: ["http://127.0.0.1:8001"],
    pools: { api: { backends: ["http://127.0.0.1:8002"], sticky: { cookie: "rb" } } },
  })]);
  assert.equal(settings.options.sticky, undefined);
  assert.deepEqual(settings.pools[0].options.sticky, { cookie: "rb" });
  assert.match(
    problemsOf({
      backends: ["http://127.0.0.1:8001"],
      pools: { api: { backends: ["http://127.0.0.1:8002"], sticky: { cookie: "a", header: "b" } } },
    })[0],
    /^x\.json: pools\.api\.sticky: expected exactly one of cookie, header, clientAddress/,
  );
});

Deno.test("check-config shows each pool's own settings and the routes in order", () => {
  const table = effectiveTable(resolve([objectLayer("x.json", {
    backends: ["http://127.0.0.1:8001"],
    pools: { longpoll: { backends: ["http://127.0.0.1:8003"], timeout: "10s" } },
    routes: [{ pathPrefix: "/poll", pool: "longpoll", timeout: "12s" }],
  })]));
  assert.match(table, /\n {2}longpoll: http:\/\/127\.0\.0\.1:8003 \{"timeout":"10s"\}\n/);
  assert.match(table, /\n {2}\[0\] \{"pathPrefix":"\/poll","timeout":"12s"\} → longpoll\n/);
  const plain = effectiveTable(resolve([objectLayer("x.json", { backends: ["http://a:1"] })]));
  assert.doesNotMatch(plain, /pools|routes/);
});
