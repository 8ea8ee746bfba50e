/**
 * The health checks orchestrators call: `/healthz` and `/readyz` on the admin API without a
 * token, and on the balancer's own port with `health.onListener` (forwarded without it).
 */
import assert from "node:assert/strict";
import { healthcheckCommand } from "../cli/healthcheck.ts";
import { UsageError } from "../cli/usage.ts";
import { deadPort } from "./_helpers.ts";
import { withApp, withInstance } from "./_instance.ts";

const TOKEN = "s3cret-token-for-tests";
const AUTH = { authorization: `Bearer ${TOKEN}` };

async function call(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { text };
  }
  return { status: response.status, body, headers: response.headers };
}

Deno.test("the admin API answers /healthz and /readyz without a token, and /status still needs it", async () => {
  await withApp(async (app) => {
    await withInstance(
      { backends: [app.url], admin: { port: 0, token: TOKEN }, accessLog: "off" },
      async ({ admin }) => {
        const live = await call(`${admin}/healthz`);
        assert.equal(live.status, 200);
        assert.equal(live.body.status, "ok");
        const ready = await call(`${admin}/readyz`);
        assert.equal(ready.status, 200);
        assert.deepEqual(ready.body, {
          status: "ready",
          available: 1,
          total: 1,
          states: { healthy: 1 },
        });
        assert.equal(ready.headers.get("cache-control"), "no-store");
        assert.equal((await call(`${admin}/status`)).status, 401);
        assert.equal((await call(`${admin}/status`, { headers: AUTH })).status, 200);
        // Only the two GETs skip the token: anything else on those paths still needs it.
        assert.equal((await call(`${admin}/readyz`, { method: "POST" })).status, 401);
      },
    );
  });
});

Deno.test("a web page cannot read /readyz even though it needs no token", async () => {
  await withApp(async (app) => {
    await withInstance(
      { backends: [app.url], admin: { port: 0, token: TOKEN }, accessLog: "off" },
      async ({ admin }) => {
        const fromPage = await call(`${admin}/readyz`, {
          headers: { origin: "https://evil.example" },
        });
        assert.equal(fromPage.status, 403);
        const crossSite = await call(`${admin}/healthz`, {
          headers: { "sec-fetch-site": "cross-site" },
        });
        assert.equal(crossSite.status, 403);
      },
    );
  });
});

Deno.test("/readyz answers 503 saying why when every backend is disabled, and 200 once one is back", async () => {
  await withApp(async (app) => {
    await withInstance(
      { backends: [app.url], admin: { port: 0, token: TOKEN }, accessLog: "off" },
      async ({ admin }) => {
        const list = await call(`${admin}/backends`, { headers: AUTH });
        const id = String((list.body.backends as { id: string }[])[0].id);
        const post = { method: "POST", headers: AUTH };
        assert.equal((await call(`${admin}/backends/${id}/disable`, post)).status, 200);

        const out = await call(`${admin}/readyz`);
        assert.equal(out.status, 503);
        assert.equal(out.body.status, "not ready");
        assert.match(String(out.body.reason), /no backend available: all 1 are out of rotation/);
        assert.deepEqual(out.body.states, { disabled: 1 });
        // Still alive: a restart would not bring a backend back.
        assert.equal((await call(`${admin}/healthz`)).status, 200);

        assert.equal((await call(`${admin}/backends/${id}/enable`, post)).status, 200);
        assert.equal((await call(`${admin}/readyz`)).status, 200);
      },
    );
  });
});

Deno.test("/readyz answers 503 when every backend is ejected, and names no backend address", async () => {
  const dead = `http://127.0.0.1:${deadPort()}`;
  await withInstance(
    { backends: [dead], admin: { port: 0, token: TOKEN }, accessLog: "off" },
    async ({ instance, admin }) => {
      assert.equal((await call(`${admin}/readyz`)).status, 200, "not failed before a try");
      assert.equal((await call(`${instance.running.url}/`)).status, 502);
      const out = await call(`${admin}/readyz`);
      assert.equal(out.status, 503);
      assert.deepEqual(out.body.states, { failed: 1 });
      assert.equal(out.body.available, 0);
      assert.doesNotMatch(JSON.stringify(out.body), /127\.0\.0\.1/);
    },
  );
});

Deno.test("with health.onListener the balancer answers /healthz and /readyz itself and forwards neither", async () => {
  await withApp(async (app) => {
    await withInstance(
      { backends: [app.url], health: { onListener: true }, accessLog: "off" },
      async ({ instance }) => {
        const base = instance.running.url;
        const live = await call(`${base}/healthz?id=live`);
        assert.equal(live.status, 200);
        assert.equal(live.body.status, "ok");
        assert.equal(live.headers.get("x-app-url"), null);
        const ready = await call(`${base}/readyz?id=ready`);
        assert.equal(ready.status, 200);
        assert.equal(ready.body.status, "ready");
        const head = await fetch(`${base}/readyz`, { method: "HEAD" });
        await head.body?.cancel();
        assert.equal(head.status, 200);
        const post = await call(`${base}/readyz`, { method: "POST", body: "x" });
        assert.equal(post.status, 405);
        assert.equal(post.headers.get("allow"), "GET, HEAD");
        assert.equal(app.received("live"), 0);
        assert.equal(app.received("ready"), 0);
        // Every other path is forwarded as before.
        const other = await call(`${base}/healthz/deep?id=other`);
        assert.equal(other.headers.get("x-app-url"), app.url);
        assert.equal(app.received("other"), 1);
      },
    );
  });
});

Deno.test("with health.onListener /readyz on the balancer's port answers 503 once every backend is ejected", async () => {
  const dead = `http://127.0.0.1:${deadPort()}`;
  await withInstance(
    { backends: [dead], health: { onListener: true }, accessLog: "off" },
    async ({ instance }) => {
      const base = instance.running.url;
      assert.equal((await call(`${base}/`)).status, 502);
      const out = await call(`${base}/readyz`);
      assert.equal(out.status, 503);
      assert.match(String(out.body.reason), /no backend available/);
      assert.equal((await call(`${base}/healthz`)).status, 200);
    },
  );
});

Deno.test("without health.onListener /healthz and /readyz go to a backend like any path", async () => {
  await withApp(async (app) => {
    await withInstance({ backends: [app.url], accessLog: "off" }, async ({ instance }) => {
      const base = instance.running.url;
      const live = await call(`${base}/healthz?id=live`);
      assert.equal(live.headers.get("x-app-url"), app.url);
      const ready = await call(`${base}/readyz?id=ready`);
      assert.equal(ready.headers.get("x-app-url"), app.url);
      assert.equal(app.received("live"), 1);
      assert.equal(app.received("ready"), 1);
    });
  });
});

Deno.test("roundabout healthcheck exits 0 on a 2xx answer and 1 on a 503 or nothing listening", async () => {
  const dead = `http://127.0.0.1:${deadPort()}`;
  const quiet = console.error;
  console.error = () => {};
  try {
    await withInstance(
      { backends: [dead], admin: { port: 0, token: TOKEN }, accessLog: "off" },
      async ({ instance, admin }) => {
        assert.equal(await healthcheckCommand(["--url", `${admin}/healthz`]), 0);
        assert.equal((await call(`${instance.running.url}/`)).status, 502);
        assert.equal(await healthcheckCommand(["--url", `${admin}/readyz`]), 1);
      },
    );
    assert.equal(await healthcheckCommand(["--url", `${dead}/healthz`]), 1);
  } finally {
    console.error = quiet;
  }
  await assert.rejects(
    () => healthcheckCommand(["--url", "localhost:9090"]),
    (error: Error) =>
      error instanceof UsageError && /--url "localhost:9090": expected/.test(error.message),
  );
});
