/**
 * Pools and routes end to end, on real mock apps: host and path routes reach their pools, a
 * stripped prefix reaches the backend, a route's own timeout serves what its pool's default
 * would cut, and reloads move backends with their state and swap routes atomically.
 */
import assert from "node:assert/strict";
import { type RunningMock, startMock } from "../mocks/mod.ts";
import type { MockKind } from "../mocks/mod.ts";
import { deadPort, eventually } from "./_helpers.ts";
import { withInstance } from "./_instance.ts";
import { inForce } from "../balancer/dispatch.ts";
import { Balancer } from "../balancer/balancer.ts";
import { DEFAULT_OPTIONS } from "../balancer/options.ts";
import { createPolicy } from "../policies/mod.ts";
import { AutoTransport } from "../transports/auto.ts";
import { startBalancer } from "../balancer/server.ts";
import { connect, wsBackend } from "./_websocket.ts";

async function withMocks(
  kinds: [MockKind, { delayMs?: number }?][],
  test: (apps: RunningMock[]) => Promise<void>,
) {
  const apps: RunningMock[] = [];
  try {
    for (const [kind, options] of kinds) apps.push(await startMock(kind, options));
    await test(apps);
  } finally {
    await Promise.all(apps.map((app) => app.close()));
  }
}

async function get(url: string, headers: Record<string, string> = {}) {
  const started = performance.now();
  // fetch replaces a Host header unless its client allows it.
  using client = Deno.createHttpClient({ allowHost: true });
  const response = await fetch(url, { headers, client });
  const text = await response.text();
  return {
    status: response.status,
    app: response.headers.get("x-app-url"),
    text,
    ms: performance.now() - started,
  };
}

Deno.test("host and path routes reach their pools; unmatched requests the default pool", async () => {
  await withMocks([["normal"], ["normal"], ["normal"]], async ([top, api, files]) => {
    await withInstance({
      backends: [top.url],
      pools: { api: { backends: [api.url] }, files: { backends: [files.url] } },
      routes: [
        { host: "api.example.com", pool: "api" },
        { pathPrefix: "/static", pool: "files", stripPrefix: true },
      ],
    }, async ({ instance }) => {
      const url = instance.running.url;
      assert.equal((await get(`${url}/x`, { host: "api.example.com:8080" })).app, api.url);
      assert.equal((await get(`${url}/static/x`)).app, files.url);
      assert.equal((await get(`${url}/staticky`)).app, top.url);
      assert.equal((await get(`${url}/x`)).app, top.url);
      const echoed = JSON.parse((await get(`${url}/static/echo?v=2`)).text);
      assert.equal(echoed.path, "/echo", "the prefix is stripped on the way");
      assert.equal(echoed.query, "v=2");
    });
  });
});

Deno.test("a route's own timeout serves a slow backend that its pool's timeout would cut", async () => {
  await withMocks([["delayed", { delayMs: 300 }]], async ([slow]) => {
    await withInstance({
      backends: [slow.url],
      timeout: "100ms",
      pools: { longpoll: { backends: [slow.url] } },
      routes: [{ pathPrefix: "/poll", pool: "longpoll", timeout: "2s" }],
    }, async ({ instance }) => {
      const url = instance.running.url;
      const polled = await get(`${url}/poll`);
      assert.equal(polled.status, 200);
      assert.ok(polled.ms >= 250, `answered after the backend's delay (${polled.ms}ms)`);
      const cut = await get(`${url}/other`);
      assert.equal(cut.status, 504, "the default pool keeps its 100ms timeout");
      const [inLongpoll] = instance.running.pools.get("longpoll")!.backends;
      const [inDefault] = instance.running.balancer.backends;
      assert.notEqual(inLongpoll, inDefault, "one URL in two pools is two backends");
      assert.equal(inLongpoll.health.state(Date.now()), "healthy");
      assert.equal(inDefault.health.state(Date.now()), "failed");
    });
  });
});

Deno.test("a reload moving a backend to another pool keeps its state: ejected stays ejected", async () => {
  await withMocks([["normal"], ["normal"]], async ([a, b]) => {
    const dead = `http://127.0.0.1:${deadPort()}`;
    await withInstance({
      backends: [a.url, dead],
      retryDowntime: "1m",
      pools: { api: { backends: [b.url] } },
      routes: [{ pathPrefix: "/api", pool: "api" }],
    }, async ({ instance, path }) => {
      const url = instance.running.url;
      for (let i = 0; i < 2; i++) assert.equal((await get(`${url}/x`)).status, 200);
      const [, ejected] = instance.running.balancer.backends;
      assert.equal(ejected.health.state(Date.now()), "failed");
      const outcome = await instance.live.applyDocument({
        listen: { port: 0 },
        backends: [a.url],
        retryDowntime: "1m",
        pools: { api: { backends: [b.url, dead] } },
        routes: [{ pathPrefix: "/api", pool: "api" }],
      }, "test");
      assert.ok(outcome.ok, JSON.stringify(outcome));
      const moved = instance.running.pools.get("api")!.backends[1];
      assert.equal(moved, ejected, "the same backend, with its figures");
      assert.equal(moved.health.state(Date.now()), "failed");
      assert.equal(moved.failures, 1);
      assert.deepEqual(instance.running.draining, [], "a moved backend is not drained");
      for (let i = 0; i < 3; i++) assert.equal((await get(`${url}/api/x`)).app, b.url);
      assert.ok(path.length > 0);
    });
  });
});

Deno.test("routes and pools change atomically: no request sees one configuration's route with another's pool", async () => {
  await withMocks([["normal"], ["normal"], ["normal"]], async ([top, one, two]) => {
    const config = (flip: boolean) => ({
      listen: { port: 0 },
      backends: [top.url],
      pools: { one: { backends: [one.url] }, two: { backends: [two.url] } },
      // Pool one is only ever reached with the prefix stripped, pool two only without.
      routes: [
        flip
          ? { pathPrefix: "/x", pool: "two" }
          : { pathPrefix: "/x", pool: "one", stripPrefix: true },
      ],
    });
    await withInstance(config(false), async ({ instance }) => {
      const url = instance.running.url;
      let stop = false;
      const mixed: string[] = [];
      let served = 0;
      const traffic = Promise.all(Array.from({ length: 4 }, async () => {
        while (!stop) {
          const { app, text } = await get(`${url}/x/echo`);
          const path = JSON.parse(text).path;
          served++;
          if ((app === one.url) !== (path === "/echo") || app === top.url) {
            mixed.push(`${app} ${path}`);
          }
        }
      }));
      for (let i = 0; i < 20; i++) {
        const outcome = await instance.live.applyDocument(config(i % 2 === 0), `flip ${i}`);
        assert.ok(outcome.ok);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      stop = true;
      await traffic;
      assert.deepEqual(mixed, []);
      assert.ok(served > 20, `traffic flowed during the flips (${served})`);
    });
  });
});

Deno.test("without routes the listener's handler is the default pool's own", () => {
  const transport = new AutoTransport();
  try {
    const balancer = new Balancer({
      options: DEFAULT_OPTIONS,
      backends: [],
      policy: createPolicy("round-robin"),
      transport,
      clock: Date.now,
    });
    const pools = new Map([["default", balancer]]);
    assert.equal(inForce(pools, []).handle, balancer.handle, "no matcher in between");
    const routed = inForce(pools, [{ pathPrefix: "/a", pool: "default", stripPrefix: false }]);
    assert.notEqual(routed.handle, balancer.handle);
  } finally {
    transport.close();
  }
});

Deno.test("a pool that sets active.path is probed with its own settings; the others are not", async () => {
  await withMocks([["normal"], ["normal"]], async ([top, api]) => {
    await withInstance({
      backends: [top.url],
      pools: { api: { backends: [api.url], active: { path: "/health", interval: "50ms" } } },
    }, async ({ instance }) => {
      const [probed] = instance.running.pools.get("api")!.backends;
      await eventually(() => probed.probe?.ok === true, "the api pool's backend is probed");
      assert.equal(instance.running.balancer.backends[0].probe, null);
      assert.equal(instance.running.prober, undefined, "the default pool has no prober");
    });
  });
});

Deno.test("a reload says which pools and routes changed", async () => {
  await withMocks([["normal"], ["normal"]], async ([top, api]) => {
    const config = (pools: Record<string, unknown>, routes: unknown[]) => ({
      listen: { port: 0 },
      backends: [top.url],
      pools,
      routes,
    });
    await withInstance(
      config({ api: { backends: [api.url] } }, [{ pathPrefix: "/api", pool: "api" }]),
      async ({ instance }) => {
        const outcome = await instance.live.applyDocument(
          config({ api: { backends: [api.url], timeout: "5s" }, more: { backends: [top.url] } }, [
            { pathPrefix: "/api", pool: "api" },
            { pathPrefix: "/more", pool: "more" },
          ]),
          "test",
        );
        assert.ok(outcome.ok);
        assert.deepEqual(outcome.changes, [
          "pools added: more",
          "pool api changed",
          "routes: 1 → 2",
        ]);
      },
    );
  });
});

Deno.test("a WebSocket through a route that strips its prefix reaches the backend's path", async () => {
  const backend = wsBackend();
  const other = wsBackend();
  const balancer = startBalancer({
    port: 0,
    backends: [{ url: other.url, weight: 1 }],
    pools: [{
      name: "ws",
      backends: [{ url: backend.url, weight: 1 }],
      options: DEFAULT_OPTIONS,
    }],
    routes: [{ pathPrefix: "/ws", pool: "ws", stripPrefix: true }],
  });
  const upgrade = (path: string) =>
    fetch(`${balancer.url}${path}`, {
      headers: {
        upgrade: "websocket",
        connection: "upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
  try {
    // The backend refuses /forbidden: only a stripped /ws/forbidden gets there as that.
    const refused = await upgrade("/ws/forbidden");
    assert.equal(refused.status, 403);
    await refused.body?.cancel();
    const client = await connect(`${balancer.url.replace("http", "ws")}/ws/chat`, []);
    client.socket.send("hello");
    await eventually(() => client.messages.length === 1, "the echo");
    assert.equal(client.messages[0], "hello");
    assert.equal(backend.seen.length, 1, "the ws pool's backend took it");
    assert.equal(other.seen.length, 0);
    client.socket.close();
    await client.closed;
  } finally {
    await balancer.shutdown();
    await backend.shutdown();
    await other.shutdown();
  }
});
