import assert from "node:assert/strict";
import { type BenchOptions, parseDurationS, parseOptions } from "./options.ts";
import { QUICK_SCENARIOS, SCENARIOS } from "./scenarios.ts";

function ok(args: string[]): BenchOptions {
  const parsed = parseOptions(args);
  assert.ok(typeof parsed === "object" && !Array.isArray(parsed), `rejected: ${parsed}`);
  return parsed;
}

Deno.test("defaults: every scenario, 3 rounds of 10 s", () => {
  const o = ok([]);
  assert.equal(o.durationS, 10);
  assert.equal(o.rounds, 3);
  assert.deepEqual(o.scenarios, SCENARIOS.map((s) => s.name));
});

Deno.test("--quick is one round of 3 s over the quick scenarios; explicit flags win", () => {
  const o = ok(["--quick"]);
  assert.equal(o.rounds, 1);
  assert.equal(o.durationS, 3);
  assert.deepEqual(o.scenarios, QUICK_SCENARIOS);
  assert.equal(ok(["--quick", "--duration", "5s"]).durationS, 5);
});

Deno.test("--scenarios and --subjects keep the declared order", () => {
  const o = ok(["--scenarios", "one-slow,post-small-c8", "--subjects", "naive,nginx"]);
  assert.deepEqual(o.scenarios, ["post-small-c8", "one-slow"]);
  assert.deepEqual(o.subjects, ["nginx", "naive"]);
});

Deno.test("bad flags are all reported, one line each", () => {
  const problems = parseOptions(["--duration", "fast", "--rounds", "0", "--subjects", "apache"]);
  assert.ok(Array.isArray(problems));
  assert.equal(problems.length, 3);
  assert.match(problems[0], /--duration .*"fast"/);
  assert.match(problems[2], /--subjects: unknown apache/);
  assert.ok(Array.isArray(parseOptions(["--bogus"])));
  assert.ok(Array.isArray(parseOptions(["positional"])));
});

Deno.test("--profile defaults to roundabout-fetch and refuses non-Deno subjects", () => {
  const o = ok(["--profile"]);
  assert.deepEqual(o.subjects, ["roundabout-fetch"]);
  assert.equal(o.rounds, 1);
  const problems = parseOptions(["--profile", "--subjects", "nginx"]);
  assert.ok(Array.isArray(problems) && /Deno subjects only/.test(problems[0]));
});

Deno.test("parseDurationS() reads s, ms, m and bare seconds", () => {
  assert.equal(parseDurationS("10s"), 10);
  assert.equal(parseDurationS("1500ms"), 1.5);
  assert.equal(parseDurationS("2m"), 120);
  assert.equal(parseDurationS("7"), 7);
  assert.ok(Number.isNaN(parseDurationS("ten")));
});

Deno.test("--subject-cpus takes a taskset CPU list and refuses anything else", () => {
  assert.equal(ok([]).subjectCpus, undefined);
  assert.equal(ok(["--subject-cpus", "0"]).subjectCpus, "0");
  assert.equal(ok(["--subject-cpus", "0,1"]).subjectCpus, "0,1");
  assert.equal(ok(["--subject-cpus", "0-3,6"]).subjectCpus, "0-3,6");
  assert.ok(Array.isArray(parseOptions(["--subject-cpus", "-1"])));
  for (const bad of ["", "all", "0;rm", "1,", "1-"]) {
    const problems = parseOptions(["--subject-cpus", bad]);
    assert.ok(Array.isArray(problems), `accepted ${JSON.stringify(bad)}`);
    assert.match(problems[0], /--subject-cpus must be a CPU list .*got/);
  }
});
