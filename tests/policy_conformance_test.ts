/**
 * One behaviour suite every registered policy must pass (as Hono's routers share
 * `common.case.test.ts`): skip what is out, return nothing when all are out, never repeat a
 * try, spread evenly, follow weights, follow slow start. Load is simulated: each pick adds a
 * request in flight and, once `window` are in flight, the oldest finishes first, so
 * policies that look at in-flight counts see the load they caused. Randomness is seeded.
 */
import assert from "node:assert/strict";
import { Backend } from "../backends/backend.ts";
import { healthSettings } from "../balancer/options.ts";
import { DEFAULT_OPTIONS } from "../balancer/options.ts";
import { createPolicy, POLICY_NAMES } from "../policies/mod.ts";
import type { Policy } from "../policies/policy.ts";
import { seededRandom } from "../lib/random.ts";

const NOW = 1_700_000_000_000;
const SLOW_START_MS = 10_000;

/** Backends a, b, c… with these weights (and a 10 s slow start window). */
function pool(weights: number[]): Backend[] {
  const settings = healthSettings({ ...DEFAULT_OPTIONS, slowStartMs: SLOW_START_MS });
  return weights.map((weight, i) =>
    new Backend({ url: `http://${String.fromCharCode(97 + i)}.test`, weight }, settings)
  );
}

function eject(backend: Backend, atMs = NOW): void {
  backend.health.recordFailure({ source: "request", detail: "status 500", atMs });
}

/** Picks `picks` times under a simulated load of `window` requests in flight; shares by name. */
function shares(
  policy: Policy,
  backends: Backend[],
  nowMs: number,
  picks: number,
  window = 8,
): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const backend of backends) counts[name(backend)] = 0;
  const inFlight: Backend[] = [];
  for (let i = 0; i < picks; i++) {
    if (inFlight.length === window) inFlight.shift()!.inFlight--;
    const chosen = policy.pick(backends, nowMs, []);
    assert.ok(chosen, "a backend was available");
    chosen.inFlight++;
    inFlight.push(chosen);
    counts[name(chosen)]++;
  }
  for (const backend of inFlight) backend.inFlight--;
  for (const key in counts) counts[key] /= picks;
  return counts;
}

function name(backend: Backend): string {
  return new URL(backend.url).hostname[0];
}

const BEHAVIOURS: { title: string; check: (make: () => Policy) => void }[] = [
  {
    title: "skips backends that are out of rotation",
    check(make) {
      const backends = pool([1, 1, 1]);
      eject(backends[1]);
      backends[2].health.drain({ source: "admin", detail: "deploy", atMs: NOW });
      const seen = shares(make(), backends, NOW, 300);
      assert.deepEqual(seen, { a: 1, b: 0, c: 0 });
    },
  },
  {
    title: "returns nothing when every backend is out, and for an empty list",
    check(make) {
      const backends = pool([1, 2, 3]);
      eject(backends[0]);
      backends[1].health.disable({ source: "admin", detail: "x", atMs: NOW });
      backends[2].health.recordProbe(false, { source: "probe", detail: "status 503", atMs: NOW });
      const policy = make();
      assert.equal(policy.pick(backends, NOW, []), undefined);
      assert.equal(policy.pick([], NOW, []), undefined);
    },
  },
  {
    title: "never picks a backend the request already tried",
    check(make) {
      const backends = pool([1, 2, 1, 3]);
      const policy = make();
      const random = seededRandom(7);
      for (let i = 0; i < 500; i++) {
        const tried = backends.filter(() => random() < 0.5);
        const chosen = policy.pick(backends, NOW, tried);
        if (tried.length === backends.length) assert.equal(chosen, undefined);
        else assert.ok(chosen && !tried.includes(chosen), `picked ${chosen?.url} again`);
      }
    },
  },
  {
    title: "spreads evenly over backends of equal weight",
    check(make) {
      const seen = shares(make(), pool([1, 1, 1]), NOW, 3_000);
      for (const share of Object.values(seen)) {
        assert.ok(Math.abs(share - 1 / 3) < 0.04, `shares ${JSON.stringify(seen)}`);
      }
    },
  },
  {
    title: "follows weights 3:1",
    check(make) {
      const seen = shares(make(), pool([1, 3]), NOW, 4_000);
      assert.ok(Math.abs(seen.b - 0.75) < 0.05, `shares ${JSON.stringify(seen)}`);
    },
  },
  {
    title: "gives a recovering backend a smaller share early in its slow start than late",
    check(make) {
      const backends = pool([1, 1, 1]);
      eject(backends[1]);
      const back = backends[1].health.ejectedUntilMs;
      const early = shares(make(), backends, back + 500, 3_000).b;
      const late = shares(make(), backends, back + SLOW_START_MS - 500, 3_000).b;
      const after = shares(make(), backends, back + SLOW_START_MS, 3_000).b;
      // Expected about 0.145 / 2.145 ≈ 7 %, then 0.955 / 2.955 ≈ 32 %, then a third.
      assert.ok(early < 0.12, `early share ${early}`);
      assert.ok(late > 0.27, `late share ${late}`);
      assert.ok(Math.abs(after - 1 / 3) < 0.04, `share after the window ${after}`);
    },
  },
];

for (const policyName of POLICY_NAMES) {
  for (const { title, check } of BEHAVIOURS) {
    Deno.test(`${policyName} ${title}`, () => {
      let seed = 1;
      check(() => createPolicy(policyName, { random: seededRandom(seed++) }));
    });
  }
}

Deno.test("every registered policy reports its own name", () => {
  for (const policyName of POLICY_NAMES) assert.equal(createPolicy(policyName).name, policyName);
  assert.throws(() => createPolicy("fastest"), /unknown policy "fastest": expected one of/);
});
