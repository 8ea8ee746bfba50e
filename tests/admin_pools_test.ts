/**
 * The admin API changes a named pool's backends as it changes the default pool's:
 * `POST /backends?pool=NAME` (or `"pool"` in the body) adds, `DELETE /backends/ID?pool=NAME`
 * drains and removes, both through the live configuration (`GET /config` shows the result,
 * a reload of the file puts the file's pools back).
 */
import assert from "node:assert/strict";
import { eventually } from "./_helpers.ts";
import { withInstance } from "./_instance.ts";
import { withMocks } from "./_mocks.ts";
import { type NodeBackend, startNodeBackend } from "./_node_backend.ts";

async function call(url: string, init?: RequestInit) {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.json() };
}

function post(url: string, body: unknown) {
  return call(url, { method: "POST", body: JSON.stringify(body) });
}

/** Which backend answered a request to `url` (the mocks say it in `x-app-url`). */
async function servedBy(url: string): Promise<string | null> {
  const response = await fetch(url);
  await response.body?.cancel();
  assert.equal(response.status, 200, `${url} answered ${response.status}`);
  return response.headers.get("x-app-url");
}

/** The default pool `top`, a pool `api` of `api`, `/api` routed to it, the admin API on. */
function config(top: string, api: readonly string[]) {
  return {
    backends: [top],
    admin: { port: 0 },
    accessLog: "off",
    pools: { api: { backends: api, timeout: "5s" } },
    routes: [{ pathPrefix: "/api", pool: "api" }],
  };
}

Deno.test("POST /backends?pool= adds to a named pool: routed requests reach it, GET /config shows it, a reload restores the file's", async () => {
  await withMocks(3, async ([top, one, two]) => {
    await withInstance(config(top.url, [one.url]), async ({ instance, admin, logs }) => {
      const listener = instance.running.url;
      const added = await call(`${admin}/backends?pool=api`, {
        method: "POST",
        body: JSON.stringify({ url: `${two.url}/`, weight: 2 }),
      });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      assert.equal(added.body.backend.url, two.url);
      assert.equal(added.body.backend.pool, "api");
      assert.equal(added.body.backend.weight, 2);

      // Routed requests reach the new backend; the default pool is as it was.
      const seen = new Set<string | null>();
      for (let i = 0; i < 6; i++) seen.add(await servedBy(`${listener}/api/x`));
      // Weighing the most, the new one is taken whenever its turn comes (the other one only
      // half the time: round robin's weighting draws for it, so it may not show in six).
      assert.ok(seen.has(two.url), [...seen].join());
      assert.ok([...seen].every((url) => url === one.url || url === two.url), [...seen].join());
      assert.equal(await servedBy(`${listener}/other`), top.url);
      assert.deepEqual(instance.live.settings.backends.map((b) => b.url), [top.url]);

      const shown = await call(`${admin}/config`);
      assert.deepEqual(shown.body.config.pools.api, {
        backends: [one.url, { url: two.url, weight: 2 }],
        timeout: "5s",
      });
      assert.deepEqual(shown.body.config.backends, [top.url]);
      assert.deepEqual(shown.body.origins.pools, { source: "api", name: "admin API" });
      assert.ok(
        logs.some((line) =>
          /^admin 127\.0\.0\.1: asked to add backend .* \(pool api\)$/.test(line)
        ),
        logs.join("\n"),
      );
      assert.ok(
        logs.includes(
          `configuration from the admin API (POST /backends?pool=api ${two.url}) applied: ` +
            `pool api backends added: ${two.url}`,
        ),
        logs.join("\n"),
      );

      // Already in that pool: 409 with its id, whether ?pool or the body names the pool.
      const again = await post(`${admin}/backends`, { url: two.url, pool: "api" });
      assert.equal(again.status, 409);
      assert.equal(again.body.id, added.body.backend.id);
      assert.equal(again.body.pool, "api");
      assert.match(again.body.error, /already configured in pool api/);

      // A reload reads the file again, as after a change of the default pool.
      const reloaded = await instance.live.reload("a test");
      assert.ok(reloaded.ok);
      assert.ok(reloaded.changes.includes(`pool api backends removed (draining): ${two.url}`));
      assert.deepEqual(instance.running.pools.get("api")!.backends.map((b) => b.url), [one.url]);
      assert.equal(instance.live.origins.get("pools")?.source, "file");
    });
  });
});

Deno.test("POST /backends names its pool once: in ?pool or the body, the same in both, or a 400; an unknown pool is a 404", async () => {
  await withMocks(3, async ([top, one, two]) => {
    await withInstance(config(top.url, [one.url]), async ({ instance, admin }) => {
      const disagree = await call(`${admin}/backends?pool=api`, {
        method: "POST",
        body: JSON.stringify({ url: two.url, pool: "default" }),
      });
      assert.equal(disagree.status, 400);
      assert.match(disagree.body.error, /\?pool=api and "pool": "default" in the body disagree/);

      const notAName = await post(`${admin}/backends`, { url: two.url, pool: 7 });
      assert.equal(notAName.status, 400);
      assert.match(notAName.body.error, /^pool 7: expected a pool name/);

      const unknown = await post(`${admin}/backends?pool=nope`, { url: two.url });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error, 'no pool named "nope"');
      assert.deepEqual(unknown.body.pools, ["default", "api"]);

      // Nothing changed so far; the same pool in both places adds to it.
      assert.deepEqual(instance.live.settings.pools[0].backends.map((b) => b.url), [one.url]);
      const agree = await call(`${admin}/backends?pool=api`, {
        method: "POST",
        body: JSON.stringify({ url: two.url, pool: "api" }),
      });
      assert.equal(agree.status, 201);
      assert.deepEqual(instance.live.settings.pools[0].backends.map((b) => b.url), [
        one.url,
        two.url,
      ]);

      // Without a pool, the default one, as before; the URL may be in both.
      const toDefault = await post(`${admin}/backends`, { url: two.url });
      assert.equal(toDefault.status, 201);
      assert.equal(toDefault.body.backend.pool, undefined, "a default pool's entry names none");
      assert.deepEqual(instance.running.balancer.backends.map((b) => b.url), [top.url, two.url]);
      assert.deepEqual(instance.live.settings.backends.map((b) => b.url), [top.url, two.url]);
      assert.equal(instance.live.origins.get("backends")?.source, "api");
    });
  });
});

Deno.test("DELETE /backends/ID?pool= drains a named pool's node:http backend, then removes it; the pool's last backend stays", async () => {
  let node: NodeBackend | undefined;
  try {
    node = await startNodeBackend({ mode: "slow", delayMs: 1_000 });
    const slow = node;
    await withMocks(2, async ([top, other]) => {
      await withInstance(config(top.url, [slow.url, other.url]), async (t) => {
        const { instance, admin, logs } = t;
        const listener = instance.running.url;
        const inApi = () => instance.running.pools.get("api")!.backends;
        const idOf = (url: string) => inApi().find((b) => b.url === url)!.id;
        const [slowId, otherId] = [idOf(slow.url), idOf(other.url)];
        // Every /api request goes to the slow backend while the other is out of rotation.
        const disabled = await call(`${admin}/backends/${otherId}/disable?pool=api`, {
          method: "POST",
        });
        assert.equal(disabled.status, 200);

        const held = fetch(`${listener}/api/held`, { headers: { "x-request-id": "held" } });
        await eventually(() => slow.received("held") === 1, "the request to reach node");
        const removal = call(`${admin}/backends/${slowId}?pool=api&wait=10s`, {
          method: "DELETE",
        });
        // Out of the pool at once, draining while its request finishes.
        await eventually(() => !inApi().some((b) => b.url === slow.url), "the removal");
        const draining = instance.running.draining.find((b) => b.url === slow.url);
        assert.equal(draining?.inFlight, 1);
        const answer = await held;
        assert.equal(answer.status, 200);
        await answer.body?.cancel();
        const removed = await removal;
        assert.equal(removed.status, 200, JSON.stringify(removed.body));
        assert.equal(removed.body.backend.inFlight, 0);

        const enabled = await call(`${admin}/backends/${otherId}/enable?pool=api`, {
          method: "POST",
        });
        assert.equal(enabled.status, 200);
        assert.equal(await servedBy(`${listener}/api/after`), other.url);
        assert.equal(slow.deliveries.length, 1);

        const last = await call(`${admin}/backends/${otherId}?pool=api`, { method: "DELETE" });
        assert.equal(last.status, 409);
        assert.equal(
          last.body.error,
          "cannot remove the last backend of pool api: add another one first",
        );
        const shown = await call(`${admin}/config`);
        assert.deepEqual(shown.body.config.pools.api.backends, [other.url]);
        assert.ok(
          logs.includes(`admin 127.0.0.1: asked to remove backend ${slow.url} (pool api)`),
          logs.join("\n"),
        );
        assert.ok(
          logs.includes(
            `configuration from the admin API (DELETE /backends/${slowId}?pool=api) applied: ` +
              `pool api backends removed (draining): ${slow.url}`,
          ),
          logs.join("\n"),
        );
      });
    });
  } finally {
    await node?.close();
  }
});
