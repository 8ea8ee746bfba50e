/**
 * The dashboard with named pools and routes, in a real browser (Debian's chromium driven by
 * puppeteer-core): every pool's backends with their pool, buttons that act on the right pool
 * when a URL is in two, one chart series per pool and backend, and the routes table.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { type RunningMock, startMock } from "../mocks/mod.ts";
import { HAS_CHROMIUM, withBrowser } from "./_browser.ts";
import { withInstance } from "./_instance.ts";

interface BackendEntry {
  id: string;
  pool?: string;
  state: string;
}
interface SampleEntry {
  id: string;
  pool?: string;
  tries: number;
}

/** `shared` in the default pool and in `api` (with `other`); `/api` and a canary route to `api`. */
function config(shared: string, other: string) {
  return {
    backends: [shared],
    timeout: "2s",
    admin: { port: 0 },
    accessLog: "off",
    pools: { api: { backends: [shared, other], policy: "least-request", timeout: "5s" } },
    routes: [
      { pathPrefix: "/api", pool: "api", stripPrefix: true, timeout: "3s" },
      {
        host: "canary.example",
        methods: ["GET", "HEAD"],
        headers: { "x-canary": "1" },
        pool: "api",
      },
    ],
  };
}

/** Each row's cells as text, for the rows `selector` finds. */
function cellsOf(page: Page, selector: string): Promise<string[][]> {
  return page.$$eval(
    selector,
    (rows) => rows.map((r) => [...r.children].map((cell) => cell.textContent ?? "")),
  );
}

/** The summed tries of each series in `GET /history`, keyed "pool id". */
async function triesBySeries(admin: string): Promise<Map<string, number>> {
  const history: { samples: { backends: SampleEntry[] }[] } =
    await (await fetch(`${admin}/history`)).json();
  const tries = new Map<string, number>();
  for (const sample of history.samples) {
    for (const b of sample.backends) {
      const key = `${b.pool ?? "default"} ${b.id}`;
      tries.set(key, (tries.get(key) ?? 0) + b.tries);
    }
  }
  return tries;
}

Deno.test({
  name:
    "in a browser, the dashboard shows every pool's backends with their pool, acts on the right pool, and lists the routes",
  ignore: !HAS_CHROMIUM,
}, async () => {
  const apps: RunningMock[] = [await startMock("normal"), await startMock("normal")];
  const [shared, other] = apps.map((app) => new URL(app.url).host);
  try {
    await withBrowser((browser) =>
      withInstance(config(apps[0].url, apps[1].url), async ({ admin, instance }) => {
        const page = await browser.newPage();
        await page.setViewport({ width: 1280, height: 1100 });
        await page.goto(`${admin}/`);
        await page.waitForSelector(`tr[data-backend][data-pool="api"]`);

        // Every pool's backends, each with its pool (and what the pool runs).
        const rows = await cellsOf(page, "#backends tr");
        assert.deepEqual(
          rows.map((cells) => [cells[0].split("http")[0], cells[1]]),
          [
            [shared, "defaultround-robin · timeout 2000 ms"],
            [shared, "apileast-request · timeout 5000 ms"],
            [other, "apileast-request · timeout 5000 ms"],
          ],
        );
        assert.equal(await page.$eval("#pool-heading", (th) => th.hidden), false);
        assert.match(
          await page.$eval("#where", (e) => e.textContent ?? ""),
          /^default pool policy round-robin · /,
        );

        // The routes in order, with what each matches and where it sends it.
        assert.equal(await page.$eval("#routes-panel", (s) => s.hidden), false);
        assert.deepEqual(await cellsOf(page, "#routes tr.route"), [
          ["0", "any", "/api", "any", "any", "api", "yes", "3000 ms"],
          [
            "1",
            "canary.example",
            "any",
            "GET, HEAD",
            "x-canary: 1",
            "api",
            "no",
            "5000 ms (the pool's)",
          ],
        ]);

        // Traffic to /api only: the shared URL's series in `api` counts it, in default it does not.
        for (let i = 0; i < 6; i++) {
          await (await fetch(`${instance.running.url}/api/x`)).body?.cancel();
        }
        let tries = new Map<string, number>();
        // One sample a second; the bound is generous because a loaded CI machine (the browser
        // shares it) has delayed the sampler past 3 s once.
        for (let waited = 0; (tries.get(`api ${shared}`) ?? 0) === 0; waited += 100) {
          assert.ok(waited < 10_000, "the api pool's tries sampled within 10 s");
          await new Promise((resolve) => setTimeout(resolve, 100));
          tries = await triesBySeries(admin);
        }
        assert.equal(tries.get(`default ${shared}`), 0, [...tries].join());
        assert.equal((tries.get(`api ${shared}`) ?? 0) + (tries.get(`api ${other}`) ?? 0), 6);
        // The recent requests say which pool answered.
        await page.waitForFunction(
          `[...document.querySelectorAll("#requests tr.request")]
            .some((r) => / \\(api\\)$/.test(r.cells[3].textContent))`,
          { timeout: 5_000 },
        );
        // One line per pool for the shared URL, not one merged line.
        await page.waitForFunction(
          `[...document.querySelectorAll('#chart-tries path[data-backend="${shared}"]')]
            .map((p) => p.getAttribute("data-pool")).sort().join() === "api,default"`,
          { timeout: 5_000 },
        );

        // Disable the shared URL in `api` only: without ?pool= the API would answer 409.
        await page.click(`button[data-action="disable"][data-id="${shared}"][data-pool="api"]`);
        await page.waitForSelector(
          `tr[data-backend="${shared}"][data-pool="api"] .state.disabled`,
          { timeout: 5_000 },
        );
        assert.equal(await page.$eval("#message", (e) => e.textContent), "");
        const status: { pools: { name: string; backends: BackendEntry[] }[] } =
          await (await fetch(`${admin}/status`)).json();
        assert.deepEqual(
          status.pools.map((p) => [p.name, p.backends.map((b) => `${b.id} ${b.state}`)]),
          [
            ["default", [`${shared} healthy`]],
            ["api", [`${shared} disabled`, `${other} healthy`]],
          ],
        );
        assert.equal(
          await page.$eval(
            `tr[data-backend="${shared}"][data-pool="default"] .state`,
            (e) => e.textContent,
          ),
          "healthy",
        );
        const shots = await Deno.makeTempDir({ prefix: "roundabout-dashboard-pools-" });
        await page.screenshot({ path: `${shots}/dashboard.png`, fullPage: true });
        console.log(`dashboard screenshot: ${shots}/dashboard.png`);
        await page.close();
      })
    );
  } finally {
    await Promise.all(apps.map((app) => app.close()));
  }
});
