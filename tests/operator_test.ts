/**
 * What an operator sees beyond the traffic: `/metrics` open to a scraper without the token
 * when `metrics.public` says so, and admin actions recorded in the event log with who asked.
 */
import assert from "node:assert/strict";
import { type RunningMock, startMock } from "../mocks/mod.ts";
import { withInstance } from "./_instance.ts";

const TOKEN = "s3cret-token-for-tests";
const AUTH = { authorization: `Bearer ${TOKEN}` };

async function withApp(test: (app: RunningMock) => Promise<void>): Promise<void> {
  const app = await startMock("normal");
  try {
    await test(app);
  } finally {
    await app.close();
  }
}

async function statusOf(url: string, init: RequestInit = {}): Promise<number> {
  const response = await fetch(url, init);
  await response.body?.cancel();
  return response.status;
}

Deno.test("with metrics.public, GET /metrics needs no token and everything else still does", async () => {
  await withApp(async (app) => {
    const config = {
      backends: [app.url],
      admin: { port: 0, token: TOKEN },
      metrics: { public: true },
      accessLog: "off",
    };
    await withInstance(config, async ({ admin }) => {
      const scrape = await fetch(`${admin}/metrics`);
      assert.equal(scrape.status, 200);
      assert.match(await scrape.text(), /^roundabout_retries_total 0$/m);
      assert.equal(await statusOf(`${admin}/status`), 401);
      assert.equal(await statusOf(`${admin}/metrics`, { method: "POST" }), 401);
      // The guard against web pages still applies.
      assert.equal(
        await statusOf(`${admin}/metrics`, { headers: { "sec-fetch-site": "cross-site" } }),
        403,
      );
    });
  });
});

Deno.test("without metrics.public, GET /metrics needs the token", async () => {
  await withApp(async (app) => {
    const config = { backends: [app.url], admin: { port: 0, token: TOKEN }, accessLog: "off" };
    await withInstance(config, async ({ admin }) => {
      assert.equal(await statusOf(`${admin}/metrics`), 401);
      assert.equal(await statusOf(`${admin}/metrics`, { headers: AUTH }), 200);
    });
  });
});

Deno.test("admin actions are in the event log with the peer address that asked", async () => {
  await withApp(async (app) => {
    const config = { backends: [app.url], admin: { port: 0 }, accessLog: "off" };
    await withInstance(config, async ({ admin, logs }) => {
      const [{ id }] = (await (await fetch(`${admin}/backends`)).json()).backends;
      const post = (path: string) => statusOf(`${admin}${path}`, { method: "POST" });
      assert.equal(await post(`/backends/${encodeURIComponent(id)}/disable`), 200);
      assert.equal(await post(`/backends/${encodeURIComponent(id)}/enable`), 200);
      assert.equal(await post(`/backends/${encodeURIComponent(id)}/drain`), 200);
      assert.equal(await post("/reload"), 200);
      const actions = logs.filter((line) => /^admin [^ ]+: /.test(line));
      assert.deepEqual(actions, [
        `admin 127.0.0.1: disabled backend ${app.url}`,
        `admin 127.0.0.1: enabled backend ${app.url}`,
        `admin 127.0.0.1: drained backend ${app.url}`,
        "admin 127.0.0.1: asked to reload (POST /reload)",
      ]);
    });
  });
});
