/**
 * The live dashboard on the admin port: the page in a real browser (Debian's chromium driven
 * by puppeteer-core) as an operator sees it, and the figures behind it on a fake clock.
 */
import assert from "node:assert/strict";
import { Backend } from "../backends/backend.ts";
import { History, HISTORY_SAMPLES } from "../admin/history.ts";
import { RecentRequests } from "../admin/recent.ts";
import type { RequestRecord } from "../balancer/balancer.ts";
import { healthSettings } from "../balancer/options.ts";
import { startMock } from "../mocks/mod.ts";
import { HAS_CHROMIUM, withBrowser } from "./_browser.ts";
import { FakeClock } from "./_fake_clock.ts";
import { backends } from "./_helpers.ts";
import { withInstance } from "./_instance.ts";

const TOKEN = "dashboard-test-token";

Deno.test("the history keeps one sample a second per backend, as differences, for 15 minutes", () => {
  const clock = new FakeClock();
  const [a, b] = backends(2);
  const history = new History();
  history.sample([a, b], clock.now());
  a.requests += 7;
  a.failures += 2;
  clock.advance(1_000);
  history.sample([a, b], clock.now());
  const [first, second] = history.samples();
  assert.equal(first.backends[0].tries, 0, "a backend's past is not its first second");
  assert.deepEqual(
    second.backends.map((s) => [s.id, s.tries, s.failures]),
    [[a.id, 7, 2], [b.id, 0, 0]],
  );
  for (let i = 0; i < HISTORY_SAMPLES + 10; i++) history.sample([a, b], clock.now() + i);
  assert.equal(history.samples().length, HISTORY_SAMPLES, "bounded");
});

Deno.test("the history notes a reload when the backends in force change", () => {
  const [a, b, c] = backends(3);
  const history = new History();
  history.sample([a, b], 1_000);
  history.sample([a, b], 2_000);
  assert.deepEqual(history.reloads, []);
  history.sample([a, c], 3_000);
  assert.deepEqual(history.reloads, [{
    at: 3_000,
    added: [{ id: c.id }],
    removed: [{ id: b.id }],
  }]);
});

Deno.test("the history keeps one series per pool and backend: the same URL in two pools does not merge", () => {
  const [top] = backends(1);
  const inApi = new Backend(top.config, healthSettings({ ejectMs: 10_000 }));
  inApi.pool = "api";
  const history = new History();
  history.sample([top, inApi], 1_000);
  inApi.requests += 5;
  inApi.failures += 1;
  history.sample([top, inApi], 2_000);
  assert.deepEqual(
    history.samples()[1].backends.map((s) => [s.id, s.pool, s.tries, s.failures]),
    [[top.id, undefined, 0, 0], [top.id, "api", 5, 1]],
  );
  // A reload that moves the backend to another pool keeps its counts: no spurious second.
  inApi.pool = "web";
  inApi.requests += 2;
  history.sample([top, inApi], 3_000);
  const moved = history.samples()[2].backends[1];
  assert.deepEqual([moved.pool, moved.tries], ["web", 2]);
  assert.deepEqual(history.reloads, [
    { at: 3_000, added: [{ id: top.id, pool: "web" }], removed: [{ id: top.id, pool: "api" }] },
  ]);
});

Deno.test("the recent requests are the last N, newest first", () => {
  const recent = new RecentRequests(3);
  const record = (n: number): RequestRecord => ({
    startMs: n,
    method: "GET",
    path: `/${n}`,
    status: 200,
    tries: [],
    durationMs: 1,
    requestId: `r${n}`,
    client: "127.0.0.1",
    bytesIn: null,
    userAgent: null,
  });
  assert.deepEqual(recent.list(), []);
  for (let n = 1; n <= 5; n++) recent.push(record(n));
  assert.deepEqual(recent.list().map((r) => r.path), ["/5", "/4", "/3"]);
});

Deno.test("the dashboard's own fetches pass the browser guard, another page's do not; history since a time", async () => {
  const app = await startMock("normal");
  try {
    await withInstance(
      { backends: [app.url], admin: { port: 0 }, accessLog: "off" },
      async ({ admin }) => {
        const host = new URL(admin).host;
        const ownPage = await fetch(`${admin}/status`, {
          headers: { origin: `http://${host}`, "sec-fetch-site": "same-origin" },
        });
        assert.equal(ownPage.status, 200, await ownPage.text());
        const other = await fetch(`${admin}/status`, {
          headers: { origin: "http://evil.example", "sec-fetch-site": "same-origin" },
        });
        assert.equal(other.status, 403, await other.text());
        // Two samples, a second apart (the sampler runs on real time here).
        let all: { samples: { at: number }[] } = { samples: [] };
        for (let waited = 0; all.samples.length < 2; waited += 100) {
          assert.ok(
            waited < 10_000,
            "two samples within 10 s (one a second; generous for a loaded CI)",
          );
          if (waited > 0) await new Promise((resolve) => setTimeout(resolve, 100));
          all = await (await fetch(`${admin}/history`)).json();
        }
        const first = all.samples[0].at;
        const after = await (await fetch(`${admin}/history?since=${first}`)).json();
        assert.deepEqual(
          after.samples.slice(0, all.samples.length - 1),
          all.samples.slice(1),
          "every sample after the first, and no other",
        );
        const bad = await fetch(`${admin}/history?since=yesterday`);
        assert.equal(bad.status, 400);
        assert.match((await bad.json()).error, /since="yesterday" is not a time/);
        const page = await fetch(`${admin}/`);
        assert.match(page.headers.get("content-type") ?? "", /text\/html/);
        assert.match(await page.text(), /<title>Roundabout<\/title>/);
      },
    );
  } finally {
    await app.close();
  }
});

Deno.test({
  name:
    "in a browser, the dashboard lists the backends, draws the chart, shows a failure and drives an operator action",
  ignore: !HAS_CHROMIUM,
}, async () => {
  const apps = [await startMock("normal"), await startMock("normal")];
  const shots = await Deno.makeTempDir({ prefix: "roundabout-dashboard-" });
  try {
    await withBrowser((browser) =>
      withInstance(
        {
          backends: apps.map((a) => a.url),
          admin: { port: 0, token: TOKEN },
          accessLog: "off",
          sticky: { cookie: "rb" },
        },
        async ({ admin, instance }) => {
          const page = await browser.newPage();
          await page.setViewport({ width: 1280, height: 1100 });
          await page.goto(`${admin}/`);
          // Without the token the page asks for it.
          await page.waitForSelector("#login.shown");
          await page.type("#token", TOKEN);
          await page.click("#token-form button");
          await page.waitForSelector("tr[data-backend] .state.healthy");
          const ids = await page.$$eval(
            "tr[data-backend]",
            (rows) => rows.map((r) => r.getAttribute("data-backend")),
          );
          assert.equal(ids.length, 2);
          const where = await page.$eval("#where", (e) => e.textContent);
          assert.match(where ?? "", /^policy round-robin · sticky by cookie rb · /);
          // Without pools and routes the page is as it always was: no Pool column, no routes.
          const shown = await page.evaluate(`[
          document.getElementById("pool-heading").hidden,
          document.getElementById("routes-panel").hidden,
          document.querySelector("tr[data-backend]").cells.length,
        ]`);
          assert.deepEqual(shown, [true, true, 10]);

          const send = async () =>
            (await fetch(instance.running.url, { method: "POST", body: "{}" })).text();
          for (let i = 0; i < 6; i++) await send();
          // The tries chart gets a line of several points per backend as seconds pass.
          // (Expressions as strings: they run in the page, whose DOM types Deno does not have.)
          await page.waitForFunction(
            `[...document.querySelectorAll("#chart-tries path")]
            .filter((p) => p.getAttribute("d").split("L").length >= 2).length === 2`,
            { timeout: 5_000 },
          );

          // The second backend starts failing: the next request that reaches it ejects it.
          await fetch(`${apps[1].url}/_mock/mode`, {
            method: "POST",
            body: JSON.stringify({ mode: "failing" }),
          }).then((r) => r.text());
          for (let i = 0; i < 4; i++) await send();
          await page.waitForFunction(
            `[...document.querySelectorAll("#timeline tr.transition")]
            .some((r) => r.textContent.includes("healthy → failed"))`,
            { timeout: 5_000 },
          );
          await page.waitForSelector(`tr[data-backend="${ids[1]}"] .state.failed`);
          await page.waitForSelector("#requests tr.request li.bad");
          // Each try says why its backend was picked, and which were skipped and why.
          await page.waitForFunction(
            `[...document.querySelectorAll("#requests li .why")]
            .some((w) => w.textContent.includes(": next in turn"))`,
            { timeout: 5_000 },
          );
          await page.waitForFunction(
            `[...document.querySelectorAll("#requests li .why")]
            .some((w) => /skipped \\S+ \\(failed until \\d\\d:\\d\\d:\\d\\d UTC: status 500\\)/
              .test(w.textContent))`,
            { timeout: 5_000 },
          );

          // An operator action from the page, through the API with the token.
          await page.click(`button[data-action="disable"][data-id="${ids[0]}"]`);
          await page.waitForSelector(`tr[data-backend="${ids[0]}"] .state.disabled`);
          assert.equal(instance.running.balancer.backends[0].health.state(Date.now()), "disabled");

          const path = `${shots}/dashboard.png`;
          await page.screenshot({ path, fullPage: true });
          console.log(`dashboard screenshot: ${path}`);
          assert.ok((await Deno.stat(path)).size > 10_000);
          await page.close();
        },
      )
    );
  } finally {
    await Promise.all(apps.map((a) => a.close()));
  }
});
