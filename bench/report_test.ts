import assert from "node:assert/strict";
import { renderChart } from "./chart.ts";
import { baselineTable, mainTable, type Measurement, median, summarise, table } from "./report.ts";
import { render } from "../harness/templates.ts";
import { parseWrkOutput } from "../harness/wrk.ts";

const m = (
  round: number,
  scenario: string,
  subject: string,
  rps: number,
  p99Ms = 1,
): Measurement => ({
  round,
  scenario,
  subject,
  rps,
  p50Ms: p99Ms / 2,
  p99Ms,
  maxMs: p99Ms * 2,
  requests: rps * 10,
  statusErrors: 0,
  socketErrors: 0,
});

Deno.test("median() of an odd and an even number of values", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([]), undefined);
});

Deno.test("summarise() takes ratios to nginx round by round, then their median", () => {
  const runs = [
    m(1, "s", "nginx", 100),
    m(1, "s", "naive", 50),
    m(2, "s", "nginx", 200),
    m(2, "s", "naive", 50),
    m(3, "s", "nginx", 100),
    m(3, "s", "naive", 10),
  ];
  const [nginx, naive] = summarise(runs, [{ name: "s" }], ["nginx", "naive"]);
  assert.equal(nginx.vsNginx, undefined);
  assert.equal(naive.rps, 50);
  assert.equal(naive.vsNginx, 0.25); // median of 0.5, 0.25, 0.1
  assert.equal(naive.vsDirect, undefined);
});

Deno.test("summarise() gives each subject's ratio to both floors beside its ratio to nginx", () => {
  const runs = [
    m(1, "s", "nginx", 200),
    m(1, "s", "floor-connect", 100),
    m(1, "s", "floor-net", 160),
    m(1, "s", "roundabout", 80),
  ];
  const subjects = ["nginx", "floor-connect", "floor-net", "roundabout"];
  const [, connect, net, roundabout] = summarise(runs, [{ name: "s" }], subjects);
  assert.equal(roundabout.vsNginx, 0.4);
  assert.equal(roundabout.vsFloorConnect, 0.8);
  assert.equal(roundabout.vsFloorNet, 0.5);
  assert.equal(connect.vsFloorConnect, undefined);
  assert.equal(net.vsFloorNet, undefined);
  assert.match(mainTable([roundabout]), /×nginx\s+×floor-connect\s+×floor-net/);
  assert.match(mainTable([roundabout]), /0\.40×\s+0\.80×\s+0\.50×/);
});

Deno.test("summarise() compares a resilience scenario with the subject's own baseline", () => {
  const runs = [m(1, "healthy", "naive", 100, 10), m(1, "one-slow", "naive", 25, 3000)];
  const scenarios = [{ name: "healthy" }, { name: "one-slow", baseline: "healthy" }];
  const summaries = summarise(runs, scenarios, ["naive"]);
  const slow = summaries.find((s) => s.scenario === "one-slow")!;
  assert.equal(slow.vsBaselineRps, 0.25);
  assert.equal(slow.vsBaselineP99, 300);
  assert.match(baselineTable(summaries, scenarios)!, /one-slow\s+naive\s+25\s+100\s+0\.25×/);
});

Deno.test("summarise() sums errors over rounds and keeps failed rounds' reasons", () => {
  const runs: Measurement[] = [
    { ...m(1, "s", "x", 10), statusErrors: 3, socketErrors: 1 },
    { ...m(2, "s", "x", 10), statusErrors: 2 },
    { round: 3, scenario: "s", subject: "x", error: "could not start: boom" },
  ];
  const [x] = summarise(runs, [{ name: "s" }], ["x"]);
  assert.equal(x.errors, 6);
  assert.equal(x.rounds, 2);
  assert.deepEqual(x.failures, ["could not start: boom"]);
});

Deno.test("a subject with no successful round shows FAILED in the main table", () => {
  const runs: Measurement[] = [{ round: 1, scenario: "s", subject: "x", error: "boom" }];
  assert.match(mainTable(summarise(runs, [{ name: "s" }], ["x"])), /s\s+x\s+FAILED/);
});

Deno.test("table() right-aligns numeric columns", () => {
  const text = table(["name", "req/s"], [["a", "1,000"], ["bb", "5"]]);
  assert.equal(text, "name  req/s\n----  -----\na     1,000\nbb        5");
});

Deno.test("parseWrkOutput() reads the BENCH_JSON line and converts to ms", () => {
  const out = "Running 1s test\n  8 threads\nBENCH_JSON " + JSON.stringify({
    requests: 1000,
    duration_us: 2_000_000,
    bytes: 5000,
    errors: { connect: 1, read: 2, write: 0, status: 7, timeout: 3 },
    latency_us: { min: 10, p50: 1500, p90: 2000, p99: 4000, p999: 9000, max: 12000 },
  }) + "\n";
  const r = parseWrkOutput(out);
  assert.equal(r.durationS, 2);
  assert.equal(r.statusErrors, 7);
  assert.equal(r.socketErrors, 6);
  assert.equal(r.latencyMs.p99, 4);
  assert.throws(() => parseWrkOutput("no json here"), /no BENCH_JSON line/);
});

Deno.test("render() fills placeholders and refuses to leave one unfilled", () => {
  assert.equal(render("listen {{PORT}};", { PORT: 80 }), "listen 80;");
  assert.throws(() => render("{{PORT}} {{DIR}}", { PORT: 80 }), /\{\{DIR\}\} has no value/);
});

Deno.test("renderChart() draws one bar pair per subject and escapes text", () => {
  const runs = [m(1, "s", "nginx", 100), m(1, "s", "naive", 50)];
  const svg = renderChart({
    title: "a < b",
    subtitle: [],
    scenarios: [{ name: "s", description: "small & quick" }],
    subjects: ["nginx", "naive"],
    summaries: summarise(runs, [{ name: "s" }], ["nginx", "naive"]),
  });
  assert.match(svg, /^<svg xmlns/);
  assert.match(svg, /a &lt; b/);
  assert.match(svg, /small &amp; quick/);
  assert.equal(svg.match(/<rect x="\d+(\.\d+)?" y="\d+" width="[\d.]+" height="16"/g)?.length, 4);
});
