/**
 * Reloading without dropping anything: the configuration changes under steady traffic
 * through every path (the file changing, a rename over it, a SIGHUP-style reload, POST
 * /config, POST and DELETE /backends) and no client request fails; an invalid configuration
 * is rejected and the old one keeps serving.
 */
import assert from "node:assert/strict";
import { deadPort, eventually } from "./_helpers.ts";
import { withInstance } from "./_instance.ts";
import { withMocks } from "./_mocks.ts";

/** Concurrent loops of POSTs until `stop` resolves; counts every outcome. */
async function steadyTraffic(url: string, loops: number, stop: Promise<void>) {
  let running = true;
  stop.then(() => running = false);
  const failures: string[] = [];
  let ok = 0;
  const seen = new Map<string, number>();
  await Promise.all(Array.from({ length: loops }, async (_, loop) => {
    for (let n = 0; running; n++) {
      try {
        const response = await fetch(url, {
          method: "POST",
          body: JSON.stringify({ loop, n }),
          headers: { "content-type": "application/json" },
        });
        const body = await response.text();
        if (response.status !== 200 || body !== JSON.stringify({ loop, n })) {
          failures.push(`${response.status} ${body.slice(0, 200)}`);
        } else {
          ok++;
          const app = response.headers.get("x-app-url") ?? "?";
          seen.set(app, (seen.get(app) ?? 0) + 1);
        }
      } catch (error) {
        failures.push(String(error));
      }
    }
  }));
  return { ok, failures, seen };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

Deno.test("reloads under steady traffic (file, rename, SIGHUP-style, POST /config, POST and DELETE /backends) fail no request", async () => {
  await withMocks(4, async (apps) => {
    const [a, b, c, d] = apps.map((app) => app.url);
    const config = (backends: string[]) => ({
      listen: { port: 0 },
      backends,
      admin: { port: 0 },
      accessLog: "off",
    });
    await withInstance(config([a, b]), async ({ instance, path, admin, logs }) => {
      const live = instance.live;
      const urls = () => live.settings.backends.map((backend) => backend.url);
      let finish!: () => void;
      const stop = new Promise<void>((resolve) => finish = resolve);
      const traffic = steadyTraffic(instance.running.url, 4, stop);
      const post = async (route: string, body?: unknown, method = "POST") => {
        const response = await fetch(admin + route, {
          method,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const json = await response.json();
        assert.ok(response.ok, `${method} ${route}: ${response.status} ${JSON.stringify(json)}`);
        return json;
      };

      await sleep(150);
      // 1. The file changes (the watcher reloads): C joins.
      await Deno.writeTextFile(path, JSON.stringify(config([a, b, c])));
      await eventually(() => urls().join() === [a, b, c].join(), "the file change to apply");
      await sleep(150);
      // 2. An editor's save: a new file renamed over the old one. A and B leave, D joins.
      await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(config([c, d])));
      await Deno.rename(`${path}.tmp`, path);
      await eventually(() => urls().join() === [c, d].join(), "the renamed file to apply");
      await sleep(150);
      // 3. The admin API adds A back, then removes C.
      await post("/backends", { url: a });
      await sleep(100);
      const cId = instance.running.balancer.backends.find((x) => x.url === c)!.id;
      await post(`/backends/${encodeURIComponent(cId)}`, undefined, "DELETE");
      assert.deepEqual(urls(), [d, a]);
      await sleep(150);
      // 4. A whole document through POST /config.
      await post("/config", config([b, c, d]));
      assert.deepEqual(urls(), [b, c, d]);
      await sleep(150);
      // 5. What SIGHUP does: re-read the sources (the file still says C, D).
      const outcome = await live.reload("SIGHUP");
      assert.ok(outcome.ok);
      assert.deepEqual(urls(), [c, d]);
      await sleep(150);
      // 6. Back to A and B through the file.
      await Deno.writeTextFile(path, JSON.stringify(config([a, b])));
      await eventually(() => urls().join() === [a, b].join(), "the last file change to apply");
      await sleep(150);
      finish();
      const { ok, failures, seen } = await traffic;

      assert.deepEqual(failures, [], "no client request failed");
      assert.ok(ok > 100, `steady traffic: ${ok} requests`);
      for (const url of [a, b, c, d]) assert.ok(seen.get(url)! > 0, `${url} served some`);
      const applied = logs.filter((line) => line.includes("applied"));
      assert.ok(applied.length >= 6, logs.join("\n"));
    }, { watch: true });
  });
});

Deno.test("a backend kept across a reload keeps its health state and figures; a removed one drains", async () => {
  await withMocks(3, async (apps) => {
    const [a, b, c] = apps.map((app) => app.url);
    await withInstance({ backends: [a, b], accessLog: "off" }, async ({ instance, path }) => {
      const before = instance.running.balancer.backends;
      for (let i = 0; i < 4; i++) await (await fetch(instance.running.url)).body?.cancel();
      before[1].health.disable({
        source: "admin",
        detail: "held out by the test",
        atMs: Date.now(),
      });
      await Deno.writeTextFile(
        path,
        JSON.stringify({ listen: { port: 0 }, backends: [b, c], timeout: "1s" }),
      );
      const outcome = await instance.live.reload("a test");
      assert.ok(outcome.ok);
      assert.ok(outcome.changes.includes('timeout: "2s" → "1s"'), outcome.changes.join("\n"));
      const after = instance.running.balancer.backends;
      assert.equal(after[0], before[1], "B is the same object");
      assert.equal(after[0].requests, 2, "with its figures");
      assert.equal(after[0].health.state(Date.now()), "disabled", "and its health state");
      assert.equal(instance.running.balancer.options.timeoutMs, 1_000);
      assert.equal(before[0].health.state(Date.now()), "draining", "A drains");
      assert.deepEqual(instance.running.draining, [], "and is forgotten, having nothing in flight");
      const response = await fetch(instance.running.url);
      await response.body?.cancel();
      assert.equal(response.headers.get("x-app-url"), c, "B is disabled, A is gone: C answers");
    });
  });
});

Deno.test("a reload that changes the retry downtime reaches kept backends: a failure afterwards ejects for the new downtime", async () => {
  await withMocks(1, async ([app]) => {
    const dead = `http://127.0.0.1:${deadPort()}`;
    const config = { backends: [app.url, dead], accessLog: "off", retryDowntime: "10s" };
    await withInstance(config, async ({ instance, path, logs }) => {
      const before = instance.running.balancer.backends[1];
      await Deno.writeTextFile(path, JSON.stringify({ ...config, retryDowntime: "60s" }));
      const outcome = await instance.live.reload("a test");
      assert.ok(outcome.ok);
      assert.ok(
        outcome.changes.includes('retryDowntime: "10s" → "1m"'),
        outcome.changes.join("\n"),
      );
      const kept = instance.running.balancer.backends[1];
      assert.equal(kept, before, "the dead backend is kept, the same object");
      for (let i = 0; i < 2; i++) {
        const response = await fetch(instance.running.url);
        await response.body?.cancel();
        assert.equal(response.status, 200, "the request moves on to the app");
      }
      assert.equal(kept.health.ejections, 1);
      const lengthMs = kept.health.ejectedUntilMs - kept.health.cause!.atMs;
      assert.equal(lengthMs, 60_000, "ejected for the new downtime, not the old 10s");
      assert.ok(
        logs.some((line) => line.includes(`backend ${dead} marked failed for 1m`)),
        logs.join("\n"),
      );
    });
  });
});

Deno.test("an invalid configuration is rejected with every problem, and the old one keeps serving", async () => {
  await withMocks(2, async (apps) => {
    const [a, b] = apps.map((app) => app.url);
    await withInstance(
      { backends: [a, b], accessLog: "off", admin: { port: 0 } },
      async ({ instance, path, logs, admin }) => {
        await Deno.writeTextFile(
          path,
          `{ "backends": ["${a}", "htp://x"], // a typo and a bad value
             "timeout": "soon", "retryDowntim": "5s" }`,
        );
        const outcome = await instance.live.reload("SIGHUP");
        assert.equal(outcome.ok, false);
        const expected = [
          `backends[1]: "htp://x" is not an http(s) URL`,
          `timeout: expected a duration`,
          `retryDowntim: is not a known setting`,
        ];
        for (const text of expected) {
          assert.ok(!outcome.ok && outcome.problems.some((p) => p.includes(text)), text);
          assert.ok(logs.some((line) => line.includes(text)), `logged: ${text}`);
        }
        assert.ok(logs.some((line) => line.includes("rejected, the current one stays in force")));
        assert.deepEqual(instance.live.settings.backends.map((x) => x.url), [a, b]);
        assert.equal(instance.running.balancer.options.timeoutMs, 2_000);
        const answers = [];
        for (let i = 0; i < 2; i++) {
          const response = await fetch(instance.running.url);
          await response.body?.cancel();
          answers.push(response.headers.get("x-app-url"));
        }
        assert.deepEqual(answers, [a, b], "the old configuration still serves");

        // The same through the admin API: 400 with the same messages.
        const response = await fetch(`${admin}/reload`, { method: "POST" });
        const body = await response.json();
        assert.equal(response.status, 400);
        assert.equal(body.error, "invalid configuration");
        for (const text of expected) {
          assert.ok(body.problems.some((p: string) => p.includes(text)), text);
        }
      },
    );
  });
});

Deno.test("a listen address change is not applied live, and says so", async () => {
  await withMocks(1, async ([app]) => {
    await withInstance({ backends: [app.url], accessLog: "off" }, async ({ instance, logs }) => {
      const outcome = await instance.live.applyDocument(
        { backends: [app.url], listen: { port: 1 }, retryDowntime: "3s" },
        "a test",
      );
      assert.ok(outcome.ok);
      assert.deepEqual(outcome.kept, ["listen"]);
      assert.ok(logs.some((line) => line.includes("listen cannot change while running")));
      assert.equal(instance.live.settings.listen.port, 0);
      assert.equal(instance.running.balancer.options.retryDowntimeMs, 3_000);
    });
  });
});

Deno.test("turning memoryTrim off is not applied live, and says so", async () => {
  await withMocks(1, async ([app]) => {
    await withInstance({ backends: [app.url], accessLog: "off" }, async ({ instance, logs }) => {
      const outcome = await instance.live.applyDocument(
        { backends: [app.url], listen: { port: 0 }, memoryTrim: false, retryDowntime: "3s" },
        "a test",
      );
      assert.ok(outcome.ok);
      assert.deepEqual(outcome.kept, ["memoryTrim"]);
      assert.ok(
        logs.some((line) =>
          line === "memoryTrim cannot change while running (memory trimming is set up at start); " +
              "keeping true until a restart"
        ),
        logs.join("\n"),
      );
      assert.equal(instance.live.settings.memoryTrim, true);
      assert.equal(instance.running.balancer.options.retryDowntimeMs, 3_000);
    });
  });
});
