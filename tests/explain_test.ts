/**
 * "Why this backend": each policy's reason for its pick, why the others were passed over,
 * and the explanations end to end through the admin API's `GET /recent` (and nowhere else).
 */
import assert from "node:assert/strict";
import { Backend } from "../backends/backend.ts";
import { explainPick, skipReason } from "../balancer/explain.ts";
import { jsonLine } from "../balancer/access_log.ts";
import { DEFAULT_OPTIONS, healthSettings } from "../balancer/options.ts";
import type { RequestRecord } from "../balancer/balancer.ts";
import { LeastRequest } from "../policies/least_request.ts";
import { PeakEwma } from "../policies/peak_ewma.ts";
import { RoundRobin } from "../policies/round_robin.ts";
import { WeightedRoundRobin } from "../policies/weighted_round_robin.ts";
import { startMock } from "../mocks/mod.ts";
import { FakeClock } from "./_fake_clock.ts";
import { backends } from "./_helpers.ts";
import { withInstance } from "./_instance.ts";

/** Randomness that repeats `values`, so a two-choices pick draws known candidates. */
function cycle(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

const admin = (detail: string, atMs: number) => ({ source: "admin" as const, detail, atMs });

Deno.test("round robin explains its pick as next in turn", () => {
  const policy = new RoundRobin();
  const list = backends(3);
  const chosen = policy.pick(list, 0, [])!;
  assert.equal(policy.explain(), "next in turn");
  assert.equal(explainPick(policy, list, chosen, 0, [], undefined).reason, "next in turn");
});

Deno.test("weighted round robin explains its pick as the largest current weight", () => {
  const policy = new WeightedRoundRobin();
  const list = backends(2, 10_000, [5, 1]);
  const chosen = policy.pick(list, 0, [])!;
  assert.equal(chosen, list[0]);
  assert.equal(policy.explain(chosen, 0), "largest current weight (weight 5)");
});

Deno.test("least request names the rival with more in flight, or says it was the only one", () => {
  const policy = new LeastRequest(cycle(0, 0.6));
  const [a, b] = backends(2);
  a.startTry();
  a.startTry();
  a.startTry();
  const chosen = policy.pick([a, b], 0, [])!;
  assert.equal(chosen, b);
  assert.equal(policy.explain(chosen, 0), "fewer in flight than a.test (0 vs 3)");
  const alone = policy.pick([a, b], 0, [b])!;
  assert.equal(alone, a);
  assert.equal(policy.explain(alone, 0), "the only eligible backend");
  const idle = new LeastRequest(cycle(0, 0.6));
  const [c, d] = backends(4).slice(2);
  const first = idle.pick([c, d], 0, [])!;
  assert.equal(idle.explain(first, 0), "as many in flight as d.test (0), drawn first");
});

Deno.test("peak EWMA names the rival and both expected latencies", () => {
  const policy = new PeakEwma(cycle(0, 0.6));
  const [a, b] = backends(2);
  a.latency.record(0, 100, 100);
  b.latency.record(0, 10, 10);
  const chosen = policy.pick([a, b], 0, [])!;
  assert.equal(chosen, b);
  assert.equal(
    policy.explain(chosen, 0),
    "lower expected latency than a.test (10 ms vs 100 ms)",
  );
});

Deno.test("a pick says why every other backend was passed over", () => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
  const now = clock.now();
  const [failed, disabled, draining, tried, chosen, idle] = backends(6, 3_000);
  failed.recordFailure("5xx", "status 500", now, 5, 1_000);
  disabled.disable(admin("maintenance", now));
  draining.drain(admin("deploy", now));
  const why = explainPick(
    new RoundRobin(),
    [failed, disabled, draining, tried, chosen, idle],
    chosen,
    now,
    [
      tried,
    ],
    undefined,
  );
  assert.deepEqual(why.skipped, [
    { backend: failed.url, reason: "failed until 12:00:03 UTC: status 500" },
    { backend: disabled.url, reason: "disabled by an operator: maintenance" },
    { backend: draining.url, reason: "draining: deploy" },
    { backend: tried.url, reason: "already tried by this request" },
  ], "a backend in rotation at full weight is not listed");
});

Deno.test("a backend in slow start or standing by behind a lower SRV priority is named as such", () => {
  const settings = healthSettings({ ...DEFAULT_OPTIONS, slowStartMs: 10_000 });
  const recovering = new Backend({ url: "http://r.test", weight: 1 }, settings);
  recovering.disable(admin("maintenance", 0));
  recovering.enable(admin("back", 1_000));
  assert.equal(skipReason(recovering, 6_000, []), "slow start: 55% of its weight");
  const [primary] = backends(1);
  const standby = new Backend({ url: "http://s.test", weight: 1, priority: 20 }, settings);
  standby.standbyBehind = [primary];
  assert.equal(
    skipReason(standby, 0, []),
    "standby (SRV priority 20) behind an available backend",
  );
});

Deno.test("a retry's reason says what the request moved on from", () => {
  const [a, b] = backends(2);
  const why = explainPick(new RoundRobin(), [a, b], b, 0, [a], {
    backend: a.url,
    outcome: "status",
    status: 500,
    durationMs: 3,
  });
  assert.equal(why.reason, `moved on after ${a.url} status 500; next in turn`);
  assert.deepEqual(why.skipped, [{ backend: a.url, reason: "already tried by this request" }]);
});

Deno.test("the access log stays as it was when tries carry explanations", () => {
  const record: RequestRecord = {
    startMs: 0,
    method: "GET",
    path: "/",
    status: 200,
    backend: "http://a.test",
    tries: [{
      backend: "http://a.test",
      outcome: "ok",
      status: 200,
      durationMs: 1,
      why: { reason: "next in turn", skipped: [] },
    }],
    durationMs: 1,
    requestId: "r1",
    client: "127.0.0.1",
    bytesIn: null,
    userAgent: null,
  };
  const line = JSON.parse(jsonLine(record));
  assert.deepEqual(line.tries, [{
    backend: "http://a.test",
    outcome: "ok",
    status: 200,
    durationMs: 1,
  }]);
});

interface RecentTry {
  backend: string;
  outcome: string;
  why?: { reason: string; skipped: { backend: string; reason: string }[] };
}

Deno.test("GET /recent says why each try went where, with a failed and a disabled backend skipped", async () => {
  const apps = [await startMock("normal"), await startMock("normal"), await startMock("normal")];
  const [failing, healthy, held] = apps.map((a) => a.url);
  try {
    await fetch(`${failing}/_mock/mode`, {
      method: "POST",
      body: JSON.stringify({ mode: "failing" }),
    }).then((r) => r.text());
    await withInstance(
      { backends: [failing, healthy, held], admin: { port: 0 }, accessLog: "json" },
      async ({ admin, instance, accessLines }) => {
        const heldId = instance.running.balancer.backends[2].id;
        const disabled = await fetch(`${admin}/backends/${heldId}/disable`, { method: "POST" });
        assert.equal(disabled.status, 200, await disabled.text());
        // The first request meets the failing backend, which is ejected, and moves on.
        for (let i = 0; i < 2; i++) {
          const response = await fetch(instance.running.url);
          assert.equal(response.status, 200, await response.text());
        }
        const recent = await (await fetch(`${admin}/recent`)).json();
        const [second, first] = recent.requests as { tries: RecentTry[] }[];
        assert.equal(first.tries.length, 2);
        assert.equal(first.tries[0].backend, failing);
        assert.equal(first.tries[0].why?.reason, "next in turn");
        assert.equal(
          first.tries[1].why?.reason,
          `moved on after ${failing} status 500; next in turn`,
        );
        const skipped = second.tries[0].why?.skipped ?? [];
        assert.equal(second.tries[0].backend, healthy);
        assert.deepEqual(skipped.map((s) => s.backend), [failing, held]);
        assert.match(skipped[0].reason, /^failed until \d\d:\d\d:\d\d UTC: status 500$/);
        assert.match(skipped[1].reason, /^disabled by an operator/);
        assert.ok(accessLines.length >= 2);
        for (const line of accessLines) assert.doesNotMatch(line, /"why"/, "not in the access log");
      },
    );
  } finally {
    await Promise.all(apps.map((a) => a.close()));
  }
});
