/**
 * The admin API as an operator meets it: a bearer token when configured, JSON errors that
 * name the problem (401, 404, 405, 400, 409), and backend changes (add, remove with
 * draining, drain with a wait, enable).
 */
import assert from "node:assert/strict";
import { sameToken } from "../admin/auth.ts";
import { startAdmin } from "../admin/server.ts";
import { type RunningMock, startMock } from "../mocks/mod.ts";
import { eventually } from "./_helpers.ts";
import { withInstance } from "./_instance.ts";

async function withApps(
  kinds: ("normal" | "delayed")[],
  test: (apps: RunningMock[]) => Promise<void>,
) {
  const apps: RunningMock[] = [];
  try {
    for (const kind of kinds) apps.push(await startMock(kind, { delayMs: 400 }));
    await test(apps);
  } finally {
    await Promise.all(apps.map((app) => app.close()));
  }
}

async function call(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
}

const TOKEN = "s3cret-token-for-tests";

Deno.test("the admin API needs the right bearer token when one is configured", async () => {
  await withApps(["normal"], async ([app]) => {
    await withInstance(
      { backends: [app.url], admin: { port: 0, token: TOKEN }, accessLog: "off" },
      async ({ admin }) => {
        const none = await call(`${admin}/status`);
        assert.equal(none.status, 401);
        assert.match(String(none.body.error), /Bearer/);
        assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="roundabout-admin"');

        const wrong = await call(`${admin}/status`, {
          headers: { authorization: "Bearer not-the-token" },
        });
        assert.equal(wrong.status, 401);
        assert.equal(wrong.body.error, "wrong token");
        assert.match(wrong.headers.get("www-authenticate")!, /error="invalid_token"/);

        // Unauthorised requests learn nothing about routes either.
        assert.equal((await call(`${admin}/nowhere`)).status, 401);

        const right = await call(`${admin}/status`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        assert.equal(right.status, 200);
        assert.equal((right.body.backends as unknown[]).length, 1);
      },
    );
  });
});

Deno.test("tokens are compared whole, whatever their length", async () => {
  assert.equal(await sameToken(TOKEN, TOKEN), true);
  assert.equal(await sameToken(TOKEN.slice(0, -1), TOKEN), false);
  assert.equal(await sameToken(`${TOKEN}x`, TOKEN), false);
  assert.equal(await sameToken("", TOKEN), false);
});

Deno.test("the admin API refuses to listen beyond loopback without a token", () => {
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => startAdmin({ hostname: "0.0.0.0", port: 0 } as any),
    /without a token/,
  );
});

Deno.test("wrong method, unknown endpoint or backend, and bad JSON get JSON errors naming the problem", async () => {
  await withApps(["normal"], async ([app]) => {
    await withInstance(
      { backends: [app.url], admin: { port: 0 }, accessLog: "off" },
      async ({ admin }) => {
        const wrongMethod = await call(`${admin}/status`, { method: "DELETE" });
        assert.equal(wrongMethod.status, 405);
        assert.equal(wrongMethod.headers.get("allow"), "GET");
        assert.equal(wrongMethod.body.error, "DELETE is not allowed on /status");

        // HEAD is GET without the content (RFC 9110 §9.3.2), wherever GET is allowed.
        const head = await fetch(`${admin}/status`, { method: "HEAD" });
        assert.equal(head.status, 200);
        assert.equal(await head.text(), "");

        const backendsMethod = await call(`${admin}/backends`, { method: "PUT" });
        assert.equal(backendsMethod.status, 405);
        assert.equal(backendsMethod.headers.get("allow"), "GET, POST");

        const unknown = await call(`${admin}/nowhere`);
        assert.equal(unknown.status, 404);
        assert.equal(unknown.body.error, "no such endpoint: GET /nowhere");

        const noBackend = await call(`${admin}/backends/nobody:1/drain`, { method: "POST" });
        assert.equal(noBackend.status, 404);
        assert.equal(noBackend.body.error, 'no backend with id "nobody:1"');

        const badJson = await call(`${admin}/backends`, { method: "POST", body: "{ url: " });
        assert.equal(badJson.status, 400);
        assert.match(String(badJson.body.error), /^the body is not valid JSON: line 1, column 3/);

        const badBackend = await call(`${admin}/backends`, {
          method: "POST",
          body: JSON.stringify({ url: "htp://x", weight: 0, colour: "red" }),
        });
        assert.equal(badBackend.status, 400);
        assert.deepEqual(badBackend.body.problems, [
          'url: "htp://x" is not an http(s) URL such as http://127.0.0.1:8001',
          "weight: expected a whole number from 1 to 1000, got 0",
          "colour: is not a known setting (expected one of url, weight)",
        ]);

        const duplicate = await call(`${admin}/backends`, {
          method: "POST",
          body: JSON.stringify({ url: app.url }),
        });
        assert.equal(duplicate.status, 409);

        const badWait = await call(`${admin}/backends/${new URL(app.url).host}/drain?wait=soon`, {
          method: "POST",
        });
        assert.equal(badWait.status, 400);
        assert.match(String(badWait.body.error), /^wait "soon": expected a duration/);

        const lastOne = await call(`${admin}/backends/${new URL(app.url).host}`, {
          method: "DELETE",
        });
        assert.equal(lastOne.status, 409);
        assert.match(String(lastOne.body.error), /cannot remove the last backend/);

        const badConfig = await call(`${admin}/config`, {
          method: "POST",
          body: JSON.stringify({ backends: [], timeout: -1 }),
        });
        assert.equal(badConfig.status, 400);
        assert.equal((badConfig.body.problems as string[]).length, 2);
      },
    );
  });
});

Deno.test("POST /backends adds, DELETE removes after draining, drain waits until empty, enable returns", async () => {
  await withApps(["normal", "delayed", "normal"], async ([a, slow, c]) => {
    await withInstance(
      { backends: [a.url, slow.url], admin: { port: 0 }, accessLog: "off" },
      async ({ instance, admin }) => {
        const id = (app: RunningMock) => new URL(app.url).host;
        const ask = async () => {
          const response = await fetch(instance.running.url);
          await response.body?.cancel();
          return response.headers.get("x-app-url");
        };

        // Add C: 201 with its status entry, and it takes traffic.
        const added = await call(`${admin}/backends`, {
          method: "POST",
          body: JSON.stringify({ url: `${c.url}/`, weight: 2 }),
        });
        assert.equal(added.status, 201);
        assert.equal((added.body.backend as { url: string }).url, c.url);
        assert.equal((added.body.backend as { weight: number }).weight, 2);
        assert.deepEqual(instance.live.settings.backends.map((b) => b.url), [
          a.url,
          slow.url,
          c.url,
        ]);
        assert.equal(instance.live.origins.get("backends")?.source, "api");

        // Drain the slow one while a request is in flight on it: a short wait times out (504),
        // a long one answers once the request is done.
        let inFlight: Promise<string | null> | undefined;
        // C weighs twice the others: with round robin's weighting, A and the slow app are
        // skipped half the time; a few requests reach the slow app.
        for (let i = 0; i < 30 && inFlight === undefined; i++) {
          const response = fetch(instance.running.url);
          await eventually(
            () => slow.arrivals + a.arrivals + c.arrivals > i,
            "a request to arrive",
          );
          if (slow.arrivals > 0) {
            inFlight = response.then(async (r) => {
              await r.body?.cancel();
              return r.headers.get("x-app-url");
            });
          } else {
            await (await response).body?.cancel();
          }
        }
        assert.ok(inFlight, "a request reached the slow app");
        const short = await call(`${admin}/backends/${id(slow)}/drain?wait=50ms`, {
          method: "POST",
        });
        assert.equal(short.status, 504);
        assert.match(String(short.body.error), /still has 1 request\(s\) in flight after 50ms/);
        assert.equal((short.body.backend as { state: string }).state, "draining");
        const long = await call(`${admin}/backends/${id(slow)}/drain?wait=5s`, { method: "POST" });
        assert.equal(long.status, 200);
        assert.equal((long.body.backend as { inFlight: number }).inFlight, 0);
        assert.equal(await inFlight, slow.url, "the in-flight request finished on it");
        const arrivals = slow.arrivals;
        for (let i = 0; i < 4; i++) assert.notEqual(await ask(), slow.url);
        assert.equal(slow.arrivals, arrivals, "a draining backend gets no new request");

        // Enable it again: it takes traffic.
        const enabled = await call(`${admin}/backends/${id(slow)}/enable`, { method: "POST" });
        assert.equal(enabled.status, 200);
        assert.equal((enabled.body.backend as { state: string }).state, "healthy");

        // Remove A: gone from the configuration and from rotation.
        const removed = await call(`${admin}/backends/${id(a)}?wait=2s`, { method: "DELETE" });
        assert.equal(removed.status, 200);
        assert.deepEqual(instance.live.settings.backends.map((b) => b.url), [slow.url, c.url]);
        const status = await call(`${admin}/status`);
        assert.deepEqual(
          (status.body.backends as { id: string }[]).map((b) => b.id),
          [id(slow), id(c)],
        );
        const before = a.arrivals;
        for (let i = 0; i < 3; i++) assert.notEqual(await ask(), a.url);
        assert.equal(a.arrivals, before);
      },
    );
  });
});
