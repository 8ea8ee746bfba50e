/**
 * What an operator sees beyond the traffic: `/metrics` open to a scraper without the token
 * when `metrics.public` says so, admin actions recorded in the event log with who asked, and
 * `roundabout up` keeping its access log pure JSON on stdout, probe results in the metrics,
 * and `roundabout status` saying which worker answered and how loaded it is.
 */
import assert from "node:assert/strict";
import { withApp, withInstance } from "./_instance.ts";
import { waitForLine } from "./_helpers.ts";
import { FakeClock } from "./_fake_clock.ts";
import { Backend } from "../backends/backend.ts";
import { Prober } from "../backends/probes.ts";
import { DEFAULT_OPTIONS, healthSettings } from "../balancer/options.ts";
import { Metrics } from "../admin/metrics.ts";
import type { StatusDocument } from "../admin/status.ts";
import { statusTable } from "../cli/status.ts";

const TOKEN = "s3cret-token-for-tests";
const AUTH = { authorization: `Bearer ${TOKEN}` };

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

Deno.test("under up, stdout holds only JSON access log lines; prefixed events go to stderr", async () => {
  const main = new URL("../main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "up", "normal", "--app-ports", "0,0,0", "--port", "0"],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const events: string[] = [];
  const out = new Response(child.stdout).text();
  try {
    const { line, rest } = await waitForLine(child.stderr, /is up: try {2}curl -si (\S+)/, events);
    const url = /curl -si (\S+)/.exec(line)![1];
    for (let i = 0; i < 3; i++) await (await fetch(`${url}/`)).body?.cancel();
    child.kill("SIGTERM");
    await rest;
  } finally {
    await child.status;
  }
  const lines = (await out).split("\n").filter((l) => l);
  assert.equal(lines.length, 3, lines.join("\n"));
  for (const l of lines) assert.equal(typeof JSON.parse(l), "object", l);
  assert.ok(events.some((l) => l.startsWith("[balancer] ")), events.join("\n"));
});

Deno.test("roundabout_probes_total counts each backend's probes by result, from 0", async () => {
  const clock = new FakeClock();
  const options = { ...DEFAULT_OPTIONS.active, path: "/health", intervalMs: 5_000 };
  const settings = healthSettings({ ...DEFAULT_OPTIONS, active: options });
  const pool = ["http://a.test", "http://b.test"].map((url) =>
    new Backend({ url, weight: 1 }, settings)
  );
  const metrics = new Metrics();
  const probes = () =>
    metrics.render(pool, clock.now()).split("\n").filter((l) =>
      l.startsWith("roundabout_probes_total{")
    );
  assert.deepEqual(probes(), [
    'roundabout_probes_total{backend="http://a.test",result="pass"} 0',
    'roundabout_probes_total{backend="http://a.test",result="fail"} 0',
    'roundabout_probes_total{backend="http://b.test",result="pass"} 0',
    'roundabout_probes_total{backend="http://b.test",result="fail"} 0',
  ]);
  const prober = new Prober({
    backends: pool,
    options,
    clock: clock.now,
    probe: (url) => Promise.resolve(url.startsWith("http://a.test") ? 200 : 503),
    timers: clock,
  });
  prober.start();
  await clock.advanceSettling(0);
  await clock.advanceSettling(5_000);
  await prober.stop();
  assert.deepEqual(probes(), [
    'roundabout_probes_total{backend="http://a.test",result="pass"} 2',
    'roundabout_probes_total{backend="http://a.test",result="fail"} 0',
    'roundabout_probes_total{backend="http://b.test",result="pass"} 0',
    'roundabout_probes_total{backend="http://b.test",result="fail"} 2',
  ]);
});

Deno.test("status says which worker answered, when an ejection ends, and the overload state", () => {
  const backend = {
    id: "127.0.0.1:8001",
    state: "failed",
    ejectedUntil: "2026-01-02T10:20:30.000Z",
    weight: 1,
    inFlight: 0,
    requests: 4,
    failures: 2,
    ejections: 1,
    latencyMs: { p50: 3, p99: 9 },
    cause: { source: "request", detail: "status 500" },
  };
  const document = {
    policy: "round-robin",
    at: "2026-01-02T10:20:00.000Z",
    backends: [backend],
    draining: [],
    worker: { index: 1, count: 4 },
    overload: { overloaded: true, eventLoopLagMs: 312.4, episodes: 2 },
  } as unknown as StatusDocument;
  const text = statusTable(document, "http://127.0.0.1:9091");
  assert.match(text, /^OVERLOADED: event-loop lag 312ms, 2 overload episode\(s\) since start$/m);
  assert.match(
    text,
    /^worker 1 of 4, numbered from 0 \(admin port 9091; the others on 9090-9093\)/m,
  );
  assert.match(text, /^127\.0\.0\.1:8001 +failed until 10:20:30 +1 /m);
  const single = statusTable({
    ...document,
    worker: undefined,
    overload: { overloaded: false, eventLoopLagMs: 1, episodes: 0 },
  });
  assert.doesNotMatch(single, /worker/);
  assert.match(single, /^not overloaded: event-loop lag 1ms/m);
});
