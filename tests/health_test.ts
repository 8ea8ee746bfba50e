/**
 * The health state machine on a fake clock: passive ejection and its back-off, probes'
 * fall and rise and how they combine with ejection, operators' drain/disable/enable, slow
 * start, and the history that explains it all. Nothing here sleeps.
 */
import assert from "node:assert/strict";
import { FakeClock } from "./_fake_clock.ts";
import { type Cause, Health, HISTORY_SIZE, SLOW_START_FLOOR } from "../backends/health.ts";
import { type BalancerOptions, DEFAULT_OPTIONS, healthSettings } from "../balancer/options.ts";

interface Tweaks {
  retryDowntimeMs?: number;
  slowStartMs?: number;
  passive?: Partial<BalancerOptions["passive"]>;
  active?: Partial<BalancerOptions["active"]>;
}

function setup(tweaks: Tweaks = {}) {
  const clock = new FakeClock();
  const options: BalancerOptions = {
    ...DEFAULT_OPTIONS,
    retryDowntimeMs: tweaks.retryDowntimeMs ?? 10_000,
    slowStartMs: tweaks.slowStartMs ?? 0,
    passive: { ...DEFAULT_OPTIONS.passive, ...tweaks.passive },
    active: { ...DEFAULT_OPTIONS.active, path: "/health", ...tweaks.active },
  };
  const health = new Health(healthSettings(options));
  const at = (source: Cause["source"], detail: string): Cause => ({
    source,
    detail,
    atMs: clock.now(),
  });
  const fail = (kind: Parameters<Health["recordFailure"]>[1] = "5xx", detail = "status 500") =>
    health.recordFailure(at("request", detail), kind);
  const probe = (pass: boolean) =>
    health.recordProbe(pass, at("probe", pass ? "status 200" : "status 503"));
  return { clock, health, at, fail, probe, now: clock.now };
}

Deno.test("with the defaults one failure ejects for the retry downtime, then the backend is back", () => {
  const { clock, health, fail, now } = setup();
  assert.equal(health.state(now()), "healthy");
  assert.equal(fail(), true);
  assert.equal(health.state(now()), "failed");
  assert.equal(health.available(now()), false);
  assert.equal(health.ejectedUntilMs, now() + 10_000);
  assert.deepEqual(health.cause, { source: "request", detail: "status 500", atMs: now() });
  clock.advance(9_999);
  assert.equal(health.available(now()), false);
  clock.advance(1);
  assert.equal(health.available(now()), true);
  assert.equal(health.state(now()), "healthy");
  assert.equal(health.causeAt(now())?.detail, "ejection time over");
});

Deno.test("failuresToEject failures in a row eject; a success in between resets the count", () => {
  const { health, fail, now } = setup({ passive: { failuresToEject: 3 } });
  assert.equal(fail(), false);
  assert.equal(fail(), false);
  health.recordSuccess(now());
  assert.equal(fail(), false);
  assert.equal(fail(), false);
  assert.equal(health.available(now()), true, "two in a row do not eject");
  assert.equal(fail("timeout", "no response within 2s"), true);
  assert.equal(health.state(now()), "failed");
  assert.equal(health.cause?.detail, "3 failures in a row, last: no response within 2s");
});

Deno.test("only the failure kinds in countedFailures count; protocol errors count as reset", () => {
  const { health, fail, now } = setup({ passive: { countedFailures: ["connect", "reset"] } });
  assert.equal(fail("5xx"), false);
  assert.equal(fail("timeout"), false);
  assert.equal(health.available(now()), true);
  assert.equal(fail("protocol", "invalid HTTP response"), true);
  assert.equal(health.counts("connect"), true);
  assert.equal(health.counts("5xx"), false);
});

Deno.test("with the defaults, ejections in a row each last exactly the retry downtime", () => {
  const { clock, health, fail, now } = setup({ retryDowntimeMs: 2_000 });
  const lengths: number[] = [];
  for (let i = 0; i < 3; i++) {
    assert.equal(fail(), true);
    lengths.push(health.ejectedUntilMs - now());
    clock.advance(1_999);
    assert.equal(health.available(now()), false, `ejection ${i + 1}: still out at 1999ms`);
    clock.advance(1);
    assert.equal(health.available(now()), true, `ejection ${i + 1}: back at 2000ms`);
    // It is back, and fails at once again: no healthy spell in between.
  }
  assert.deepEqual(lengths, [2_000, 2_000, 2_000]);
  assert.equal(health.ejections, 3);
});

Deno.test("with exponential back-off a backend that keeps failing is ejected for twice as long each time, up to the cap", () => {
  const { clock, health, fail } = setup({
    passive: { backoff: "exponential", maxEjectionMs: 50_000 },
  });
  const lengths: number[] = [];
  for (let i = 0; i < 6; i++) {
    assert.equal(fail(), true);
    lengths.push(health.ejectedUntilMs - clock.now());
    clock.nowMs = health.ejectedUntilMs; // it is back, and fails at once again
  }
  assert.deepEqual(lengths, [10_000, 20_000, 40_000, 50_000, 50_000, 50_000]);
  assert.equal(health.ejections, 6);
});

Deno.test("with exponential back-off a healthy spell without failure forgives past ejections", () => {
  const { clock, health, fail, now } = setup({
    passive: { backoff: "exponential", healthySpellMs: 60_000 },
  });
  fail();
  clock.nowMs = health.ejectedUntilMs;
  fail();
  assert.equal(health.ejectedUntilMs - now(), 20_000);
  clock.nowMs = health.ejectedUntilMs + 59_999;
  fail();
  assert.equal(health.ejectedUntilMs - now(), 40_000, "not quite a healthy spell");
  clock.nowMs = health.ejectedUntilMs + 60_000;
  fail();
  assert.equal(health.ejectedUntilMs - now(), 10_000, "forgiven: back to the first length");
});

Deno.test("failures of tries already under way do not eject an ejected backend again", () => {
  const { clock, health, fail } = setup();
  fail();
  const until = health.ejectedUntilMs;
  clock.advance(100);
  assert.equal(fail(), false);
  assert.equal(fail("reset"), false);
  assert.equal(health.ejectedUntilMs, until);
  assert.equal(health.ejections, 1);
  assert.equal(health.lastFailureMs, clock.now(), "but they are remembered as the last failure");
});

Deno.test("a first failing probe takes a backend out; later it needs fall failures in a row", () => {
  const { health, probe, now } = setup({ active: { fall: 3, rise: 2 } });
  probe(false);
  assert.equal(health.state(now()), "failed");
  assert.equal(health.cause?.source, "probe");
  probe(true);
  assert.equal(health.available(now()), false, "one pass is not enough");
  probe(true);
  assert.equal(health.state(now()), "healthy");
  assert.match(health.cause!.detail, /^2 passing probes in a row/);
  probe(false);
  probe(false);
  assert.equal(health.available(now()), true, "two failures are under fall");
  probe(true);
  probe(false);
  probe(false);
  assert.equal(health.available(now()), true, "a pass in between resets the count");
  probe(false);
  assert.equal(health.state(now()), "failed");
  assert.match(health.cause!.detail, /^3 failing probes in a row, last: status 503/);
});

Deno.test("a backend failing its probes stays out after its passive ejection has expired", () => {
  const { clock, health, fail, probe, now } = setup({ active: { fall: 1, rise: 2 } });
  fail();
  probe(false);
  clock.advance(60_000);
  assert.equal(health.state(now()), "failed");
  assert.equal(health.causeAt(now())?.source, "probe");
  assert.equal(health.expectedBackMs(now()), now() + 2 * DEFAULT_OPTIONS.active.intervalMs);
  probe(true);
  probe(true);
  assert.equal(health.state(now()), "healthy");
});

Deno.test("a passively ejected backend returns early after rise passing probes, keeping its back-off", () => {
  const { clock, health, fail, probe, now } = setup({
    passive: { backoff: "exponential" },
    active: { rise: 2 },
  });
  probe(true);
  probe(true);
  fail();
  clock.advance(1_000);
  probe(true);
  assert.equal(health.available(now()), false, "passes from before the ejection do not count");
  clock.advance(1_000);
  probe(true);
  assert.equal(health.state(now()), "healthy");
  assert.equal(health.ejectedUntilMs, now());
  fail();
  assert.equal(health.ejectedUntilMs - now(), 20_000, "the next ejection is still longer");
});

Deno.test("drain and disable take a backend out for an operator; enable brings it back", () => {
  const { clock, health, at, now } = setup();
  health.drain(at("admin", "deploy"));
  assert.equal(health.state(now()), "draining");
  assert.equal(health.available(now()), false);
  assert.equal(health.expectedBackMs(now()), Infinity);
  health.disable(at("admin", "broken disk"));
  assert.equal(health.state(now()), "disabled");
  clock.advance(3_600_000);
  assert.equal(health.state(now()), "disabled", "out until enabled, however long");
  health.enable(at("admin", "fixed"));
  assert.equal(health.state(now()), "healthy");
  assert.deepEqual(
    health.history(now()).map((t) => `${t.from}>${t.to} ${t.cause.source}: ${t.cause.detail}`),
    [
      "healthy>draining admin: deploy",
      "draining>disabled admin: broken disk",
      "disabled>healthy admin: fixed",
    ],
  );
});

Deno.test("enable lifts a passive ejection but not a failing probe verdict", () => {
  const { health, at, fail, probe, now } = setup({ active: { rise: 1 } });
  fail();
  health.enable(at("admin", "trust me"));
  assert.equal(health.state(now()), "healthy");
  probe(false);
  health.disable(at("admin", "maintenance"));
  health.enable(at("admin", "maintenance over"));
  assert.equal(health.state(now()), "failed");
  assert.equal(health.cause?.detail, "maintenance over; probes still failing");
  probe(true);
  assert.equal(health.state(now()), "healthy");
});

Deno.test("slow start: the weight factor grows linearly from the floor to 1 over the window", () => {
  const { clock, health, fail, now } = setup({ slowStartMs: 10_000 });
  assert.equal(health.weightFactor(now()), 1, "no slow start before any ejection");
  fail();
  const back = health.ejectedUntilMs;
  clock.nowMs = back;
  assert.equal(health.state(now()), "recovering");
  assert.equal(health.weightFactor(now()), SLOW_START_FLOOR);
  clock.nowMs = back + 5_000;
  assert.ok(Math.abs(health.weightFactor(now()) - (SLOW_START_FLOOR + 1) / 2) < 1e-9);
  clock.nowMs = back + 10_000;
  assert.equal(health.weightFactor(now()), 1);
  assert.equal(health.state(now()), "healthy");
  assert.deepEqual(
    health.history(now()).map((t) => [t.from, t.to, t.cause.detail, t.cause.atMs - back]),
    [
      ["healthy", "failed", "status 500", -10_000],
      ["failed", "recovering", "ejection time over", 0],
      ["recovering", "healthy", "slow start over", 10_000],
    ],
    "transitions that happened by time are recorded at the time they happened",
  );
});

Deno.test("slow start also follows a rise of probes and an enable", () => {
  const { clock, health, at, probe, now } = setup({ slowStartMs: 1_000, active: { rise: 1 } });
  probe(false);
  probe(true);
  assert.equal(health.state(now()), "recovering");
  clock.advance(1_000);
  assert.equal(health.state(now()), "healthy");
  health.disable(at("admin", "x"));
  health.enable(at("admin", "y"));
  assert.equal(health.state(now()), "recovering");
  assert.equal(health.weightFactor(now()), SLOW_START_FLOOR);
});

Deno.test("the history keeps the last transitions only", () => {
  const { clock, health, fail } = setup();
  for (let i = 0; i < 20; i++) {
    fail();
    clock.nowMs = health.ejectedUntilMs;
  }
  const history = health.history(clock.now());
  assert.equal(history.length, HISTORY_SIZE);
  assert.equal(history.at(-1)?.to, "healthy");
  assert.ok(history.every((t, i) => i === 0 || t.cause.atMs >= history[i - 1].cause.atMs));
});

Deno.test("a reload changes a kept backend's thresholds from now on, not its state", () => {
  const { clock, health, fail, now } = setup({ passive: { backoff: "exponential" } });
  fail();
  const until = health.ejectedUntilMs;
  health.reconfigure(healthSettings({
    ...DEFAULT_OPTIONS,
    retryDowntimeMs: 1_000,
    passive: { ...DEFAULT_OPTIONS.passive, backoff: "exponential", failuresToEject: 2 },
  }));
  assert.equal(health.ejectedUntilMs, until, "the current ejection keeps its end");
  clock.nowMs = until;
  assert.equal(fail(), false, "now two failures in a row are needed");
  assert.equal(fail(), true);
  assert.equal(health.ejectedUntilMs - now(), 2_000, "second ejection: twice the new length");
});

Deno.test("a reload that shortens the retry downtime applies to the next ejection, without back-off by default", () => {
  const { clock, health, fail, now } = setup();
  fail();
  health.reconfigure(healthSettings({ ...DEFAULT_OPTIONS, retryDowntimeMs: 60_000 }));
  clock.nowMs = health.ejectedUntilMs;
  assert.equal(fail(), true);
  assert.equal(health.ejectedUntilMs - now(), 60_000);
});
