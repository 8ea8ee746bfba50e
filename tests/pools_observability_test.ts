/**
 * Pools as operators see them: the access log names the pool, metrics label named pools'
 * series, `/status` lists pools and routes, and backend operations take `?pool=` (a URL in
 * several pools without it is a 409 listing them). Adding to and removing from a named pool:
 * `admin_pools_test.ts`.
 */
import assert from "node:assert/strict";
import { withInstance } from "./_instance.ts";
import { withMocks } from "./_mocks.ts";
import { statusTable } from "../cli/status.ts";

async function call(url: string, init?: RequestInit) {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.json() };
}

async function text(url: string): Promise<string> {
  return await (await fetch(url)).text();
}

/** Two pools sharing the URL of `shared`, a route to each, the admin API on. */
function config(top: string, shared: string) {
  return {
    backends: [top, shared],
    admin: { port: 0 },
    accessLog: "json",
    pools: { api: { backends: [shared], timeout: "5s" } },
    routes: [{ pathPrefix: "/api", pool: "api", timeout: "7s" }],
  };
}

Deno.test("the access log names the pool that served each request", async () => {
  await withMocks(2, async ([top, shared]) => {
    await withInstance(config(top.url, shared.url), async ({ instance, accessLines }) => {
      await text(`${instance.running.url}/api/x`);
      await text(`${instance.running.url}/other`);
      const lines = accessLines.map((line) => JSON.parse(line));
      assert.deepEqual(lines.map((l) => [l.path, l.pool]), [["/api/x", "api"], [
        "/other",
        "default",
      ]]);
    });
  });
});

Deno.test("metrics label every backend series with its pool once there are named pools", async () => {
  await withMocks(2, async ([top, shared]) => {
    await withInstance(config(top.url, shared.url), async ({ instance, admin }) => {
      await text(`${instance.running.url}/api/x`);
      const metrics = await text(`${admin}/metrics`);
      const inApi = `backend="${shared.url}",pool="api"`;
      assert.match(
        metrics,
        new RegExp(`roundabout_requests_total\\{${inApi},method="GET",code="2xx"\\} 1\n`),
      );
      assert.match(
        metrics,
        new RegExp(`roundabout_backend_state\\{${inApi},state="healthy"\\} 1\n`),
      );
      // The same URL in the default pool is another series, labelled pool="default": one
      // scrape never mixes series with and without the label.
      const inDefault = `backend="${shared.url}",pool="default"`;
      assert.match(
        metrics,
        new RegExp(`roundabout_requests_total\\{${inDefault},method="GET",code="2xx"\\} 0\n`),
      );
      assert.match(
        metrics,
        new RegExp(
          `roundabout_backend_state\\{backend="${top.url}",pool="default",state="healthy"\\} 1\n`,
        ),
      );
      assert.doesNotMatch(metrics, /roundabout_backend_state\{backend="[^"]*",state=/);
    });
  });
});

Deno.test("/status lists pools with their backends and routes with what they match", async () => {
  await withMocks(2, async ([top, shared]) => {
    await withInstance(config(top.url, shared.url), async ({ admin }) => {
      const { body } = await call(`${admin}/status`);
      assert.deepEqual(
        body.pools.map((p: { name: string; timeoutMs: number; backends: { url: string }[] }) => [
          p.name,
          p.timeoutMs,
          p.backends.map((b) => b.url),
        ]),
        [["default", 2_000, [top.url, shared.url]], ["api", 5_000, [shared.url]]],
      );
      assert.equal(body.pools[1].backends[0].pool, "api");
      const table = statusTable(body);
      assert.match(
        table,
        /\npools: default \(round-robin, 2000ms\), api \(round-robin, 5000ms\); 1 route\(s\)\n/,
      );
      assert.match(table, new RegExp(`\n${new URL(shared.url).host} \\(api\\) +healthy`));
      assert.deepEqual(body.routes, [
        {
          index: 0,
          match: { pathPrefix: "/api" },
          pool: "api",
          stripPrefix: false,
          timeoutMs: 7_000,
        },
      ]);
    });
  });
});

Deno.test("a backend operation on a URL in several pools needs ?pool; with it, only that pool's backend changes", async () => {
  await withMocks(2, async ([top, shared]) => {
    await withInstance(config(top.url, shared.url), async ({ instance, admin }) => {
      const id = new URL(shared.url).host;
      const ambiguous = await call(`${admin}/backends/${id}/disable`, { method: "POST" });
      assert.equal(ambiguous.status, 409);
      assert.deepEqual(ambiguous.body.pools, ["default", "api"]);
      assert.match(ambiguous.body.error, /\?pool=NAME/);

      const disabled = await call(`${admin}/backends/${id}/disable?pool=api`, { method: "POST" });
      assert.equal(disabled.status, 200);
      assert.equal(disabled.body.backend.state, "disabled");
      assert.equal(disabled.body.backend.pool, "api");
      const now = Date.now();
      assert.equal(instance.running.pools.get("api")!.backends[0].health.state(now), "disabled");
      assert.equal(instance.running.balancer.backends[1].health.state(now), "healthy");

      // A URL in the default pool only needs no ?pool, as before.
      const only = await call(`${admin}/backends/${new URL(top.url).host}`);
      assert.equal(only.status, 200);
      const unknown = await call(`${admin}/backends/${id}?pool=nope`);
      assert.equal(unknown.status, 404);
      assert.deepEqual(unknown.body.pools, ["default", "api"]);

      const remove = await call(`${admin}/backends/${id}?pool=api`, { method: "DELETE" });
      assert.equal(remove.status, 409);
      assert.match(remove.body.error, /cannot remove the last backend of pool api/);
    });
  });
});
