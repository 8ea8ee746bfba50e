/**
 * The metrics endpoint as Prometheus reads it: scraped after known traffic and parsed by a
 * real text-format parser (parse-prometheus-text-format), the figures match what was sent.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { type RunningMock, startMock } from "../mocks/mod.ts";
import { withInstance } from "./_instance.ts";
import { deadPort } from "./_helpers.ts";
import { VERSION } from "../lib/version.ts";

interface Family {
  name: string;
  type: string;
  help: string;
  metrics: {
    value?: string;
    labels?: Record<string, string>;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

Deno.test("a metrics scrape, parsed by a Prometheus text-format parser, matches the traffic sent", async () => {
  const apps: RunningMock[] = [];
  try {
    for (const kind of ["normal", "alternating", "normal"] as const) {
      apps.push(await startMock(kind));
    }
    const [a, b, c] = apps.map((app) => app.url);
    await withInstance(
      { backends: [a, b, c], admin: { port: 0 }, accessLog: "off" },
      async ({ instance, admin }) => {
        const answeredBy = new Map<string, number>();
        // 6 POSTs: A; B fails (500, ejected) and C answers; then A, C, A, C; and 2 GETs.
        for (let i = 0; i < 8; i++) {
          const response = await fetch(instance.running.url, {
            method: i < 6 ? "POST" : "GET",
            body: i < 6 ? "{}" : undefined,
          });
          await response.body?.cancel();
          assert.equal(response.status, 200);
          const app = response.headers.get("x-app-url")!;
          answeredBy.set(app, (answeredBy.get(app) ?? 0) + 1);
        }
        const response = await fetch(`${admin}/metrics`);
        assert.equal(
          response.headers.get("content-type"),
          "text/plain; version=0.0.4; charset=utf-8",
        );
        const text = await response.text();
        const families: Family[] = parsePrometheusTextFormat(text);
        const family = (name: string) => {
          const found = families.find((f) => f.name === name);
          assert.ok(found, `${name} is exposed`);
          assert.ok(found.help.length > 0, `${name} has HELP`);
          return found;
        };

        const requests = family("roundabout_requests_total");
        assert.equal(requests.type, "COUNTER");
        const total = requests.metrics.reduce((sum, m) => sum + Number(m.value), 0);
        assert.equal(total, 8);
        for (const [app, count] of answeredBy) {
          const sent = requests.metrics
            .filter((m) => m.labels?.backend === app && m.labels.code === "2xx")
            .reduce((sum, m) => sum + Number(m.value), 0);
          assert.equal(sent, count, `requests answered by ${app}`);
        }
        const gets = requests.metrics.filter((m) => m.labels?.method === "GET");
        assert.equal(gets.reduce((sum, m) => sum + Number(m.value), 0), 2);

        assert.equal(family("roundabout_retries_total").metrics[0].value, "1");
        const ejections = family("roundabout_ejections_total").metrics;
        assert.equal(ejections.find((m) => m.labels?.backend === b)?.value, "1");
        assert.equal(ejections.find((m) => m.labels?.backend === a)?.value, "0");

        assert.equal(family("roundabout_upstream_latency_seconds").type, "HISTOGRAM");
        // This parser only reads histograms without labels besides `le` (it folds label sets
        // together and drops labelled _sum/_count), so each backend's histogram is handed to
        // it on its own: the family's HELP and TYPE lines and that backend's samples, with
        // the backend label taken out.
        const histogram = (backend: string) => {
          const label = `backend="${backend}"`;
          const lines = text.split("\n").filter((line) =>
            line.startsWith("# HELP roundabout_upstream_latency_seconds ") ||
            line.startsWith("# TYPE roundabout_upstream_latency_seconds ") ||
            (line.startsWith("roundabout_upstream_latency_seconds") && line.includes(label))
          ).map((line) => line.replace(`${label},`, "").replace(`{${label}}`, ""));
          const [parsed]: Family[] = parsePrometheusTextFormat(lines.join("\n") + "\n");
          return parsed.metrics[0];
        };
        let tries = 0;
        for (const url of [a, b, c]) {
          const h = histogram(url);
          assert.equal(h.buckets?.["+Inf"], h.count, `${url}: +Inf bucket = count`);
          assert.ok(Number(h.sum) >= 0 && Number(h.sum) < 5, `${url}: sum ${h.sum}`);
          const bound = (le: string) => le === "+Inf" ? Infinity : Number(le);
          const bounds = Object.keys(h.buckets!).sort((x, y) => bound(x) - bound(y));
          assert.equal(bounds.length, 12);
          for (let i = 1; i < bounds.length; i++) {
            assert.ok(Number(h.buckets![bounds[i]]) >= Number(h.buckets![bounds[i - 1]]));
          }
          tries += Number(h.count);
        }
        assert.equal(Number(histogram(b).count), 1, "B was tried once, then ejected");
        assert.equal(tries, 9, "8 requests, one of them tried twice");

        const state = family("roundabout_backend_state");
        assert.equal(state.type, "GAUGE");
        const current = (url: string) =>
          state.metrics.filter((m) => m.labels?.backend === url && m.value === "1")
            .map((m) => m.labels?.state);
        assert.deepEqual(current(a), ["healthy"]);
        assert.deepEqual(current(b), ["failed"]);
        const inFlight = family("roundabout_backend_in_flight").metrics;
        assert.deepEqual(inFlight.map((m) => m.value), ["0", "0", "0"]);
      },
    );
  } finally {
    await Promise.all(apps.map((app) => app.close()));
  }
});

/** The samples of `text` by their full series line up to the value, e.g. `x{a="b"}`. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    map.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return map;
}

Deno.test("every per-backend series is at 0 from the start; failures are counted by kind", async () => {
  const app = await startMock("alternating");
  const dead = `http://127.0.0.1:${deadPort()}`;
  try {
    await withInstance(
      { backends: [app.url, dead], admin: { port: 0 }, accessLog: "off" },
      async ({ instance, admin, path }) => {
        const scrape = async () => {
          const text = await (await fetch(`${admin}/metrics`)).text();
          parsePrometheusTextFormat(text); // it parses
          return samples(text);
        };
        const before = await scrape();
        for (const backend of [app.url, dead]) {
          for (const status of ["1xx", "2xx", "3xx", "4xx", "5xx"]) {
            const name =
              `roundabout_requests_total{backend="${backend}",method="GET",code="${status}"}`;
            assert.equal(before.get(name), 0, name);
          }
          for (const kind of ["connect", "timeout", "reset", "5xx"]) {
            const name = `roundabout_backend_failures_total{backend="${backend}",kind="${kind}"}`;
            assert.equal(before.get(name), 0, name);
          }
        }
        assert.equal(before.get("roundabout_request_duration_seconds_count"), 0);
        assert.equal(before.get(`roundabout_build_info{version="${VERSION}"}`), 1);
        assert.equal(before.get('roundabout_config_reloads_total{result="success"}'), 0);

        // The alternating app answers its first request 500: the request moves on to the
        // dead port (connect), and the client gets the real 500.
        for (let i = 0; i < 2; i++) {
          const response = await fetch(instance.running.url);
          await response.body?.cancel();
        }
        await Deno.writeTextFile(path, "{ not json");
        const rejected = await fetch(`${admin}/reload`, { method: "POST" });
        await rejected.body?.cancel();
        assert.ok(rejected.status >= 400, `a broken file is rejected: ${rejected.status}`);
        const started = Date.now() / 1000;
        await Deno.writeTextFile(
          path,
          JSON.stringify({ listen: { port: 0 }, backends: [app.url, dead], admin: { port: 0 } }),
        );
        const reloaded = await fetch(`${admin}/reload`, { method: "POST" });
        await reloaded.body?.cancel();
        assert.equal(reloaded.status, 200);

        const after = await scrape();
        const failures = (backend: string, kind: string) =>
          after.get(`roundabout_backend_failures_total{backend="${backend}",kind="${kind}"}`);
        assert.equal(failures(app.url, "5xx"), 1);
        assert.equal(failures(dead, "connect"), 1);
        assert.equal(failures(app.url, "connect"), 0);
        assert.equal(after.get("roundabout_request_duration_seconds_count"), 2);
        assert.equal(after.get('roundabout_request_duration_seconds_bucket{le="+Inf"}'), 2);
        assert.equal(after.get('roundabout_config_reloads_total{result="success"}'), 1);
        assert.equal(after.get('roundabout_config_reloads_total{result="failure"}'), 1);
        const last = after.get("roundabout_config_last_reload_success_timestamp_seconds")!;
        assert.ok(last >= Math.floor(started) && last <= Date.now() / 1000 + 1, String(last));
      },
    );
  } finally {
    await app.close();
  }
});

Deno.test("process metrics say the CPU time, resident memory and start time", async () => {
  await withInstance(
    { backends: ["http://127.0.0.1:1"], admin: { port: 0 }, accessLog: "off" },
    async ({ admin }) => {
      const text = await (await fetch(`${admin}/metrics`)).text();
      const families: Family[] = parsePrometheusTextFormat(text);
      const value = (name: string) =>
        Number(families.find((f) => f.name === name)?.metrics[0].value);
      assert.ok(value("process_cpu_seconds_total") > 0);
      assert.ok(value("process_resident_memory_bytes") > 10 * 2 ** 20, "over 10 MiB resident");
      const start = value("process_start_time_seconds");
      const now = Date.now() / 1000;
      assert.ok(start <= now && start > now - 3600, `started at ${start}, now ${now}`);
      // Open files need /proc/self, which Deno opens only to --allow-all (tests run without).
      const fds = families.find((f) => f.name === "process_open_fds");
      if (fds !== undefined) assert.ok(Number(fds.metrics[0].value) >= 3);
    },
  );
});
