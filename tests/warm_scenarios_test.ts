/**
 * The seed's scenarios 1 ("an app goes down") and 2 ("an app starts to go slowly") as they
 * happen in production: the balancer already holds warm keep-alive connections to the app
 * when it changes behaviour. Each runs fresh (the app misbehaves before its first request)
 * and warm (after a few requests), for both transports, with the misbehaving app a Deno mock
 * or Node's own node:http server; the other two apps are Deno mocks. Ejection expiry runs on
 * an injected clock; only the per-try timeout uses (short) real time.
 */
import assert from "node:assert/strict";
import { FakeClock } from "./_fake_clock.ts";
import { TRANSPORTS } from "../transports/mod.ts";
import type { BalancerOptions } from "../balancer/options.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { LIVE_KINDS, type LiveBackend, type LiveKind, startLiveBackend } from "./_live_backend.ts";

const DOWNTIME_MS = 10_000;
/** Short per-try timeout, and a slow app 3× slower than it. */
const TIMEOUT_MS = 300;
const SLOW_MS = 1_000;
/** What a request may take beyond one timeout on a loaded test machine. */
const MARGIN_MS = 500;

interface Answer {
  id: string;
  status: number;
  app: string | null;
  ms: number;
}

interface Topology {
  /** apps[1] is the one that misbehaves, of the kind under test. */
  apps: LiveBackend[];
  balancer: RunningBalancer;
  clock: FakeClock;
  /** GETs `/` with a fresh x-request-id. */
  get(): Promise<Answer>;
  /** `count` GETs one after the other. */
  gets(count: number): Promise<Answer[]>;
  /** The misbehaving app's health state now. */
  state(): string;
}

let serial = 0;

async function withApps(
  kind: LiveKind,
  transportName: string,
  warm: boolean,
  options: Partial<BalancerOptions>,
  test: (t: Topology) => Promise<void>,
): Promise<void> {
  const apps: LiveBackend[] = [];
  let balancer: RunningBalancer | undefined;
  try {
    apps.push(
      ...await Promise.all([
        startLiveBackend("deno"),
        startLiveBackend(kind),
        startLiveBackend("deno"),
      ]),
    );
    const clock = new FakeClock();
    balancer = startBalancer({
      transport: TRANSPORTS[transportName](),
      port: 0,
      backends: apps.map((app) => ({ url: app.url, weight: 1 })),
      options: { retryDowntimeMs: DOWNTIME_MS, ...options },
      clock: clock.now,
    });
    const url = balancer.url;
    const get = async (): Promise<Answer> => {
      const id = `w${++serial}`;
      const started = performance.now();
      const response = await fetch(url, { headers: { "x-request-id": id } });
      await response.body?.cancel();
      const ms = performance.now() - started;
      return { id, status: response.status, app: response.headers.get("x-app-url"), ms };
    };
    const gets = async (count: number) => {
      const answers: Answer[] = [];
      for (let i = 0; i < count; i++) answers.push(await get());
      return answers;
    };
    const state = () => balancer!.balancer.backends[1].health.state(clock.nowMs);
    if (warm) {
      const warming = await gets(6);
      assert.ok(warming.every((a) => a.status === 200), "the pool warmed up");
      assert.equal(warming.filter((a) => a.app === apps[1].url).length, 2);
    }
    await test({ apps, balancer, clock, get, gets, state });
  } finally {
    await balancer?.shutdown();
    await Promise.all(apps.map((app) => app.close()));
  }
}

/** Each answer's id reached each app at most once. */
function assertAtMostOnce(apps: LiveBackend[], answers: Answer[]): void {
  for (const app of apps) {
    for (const { id } of answers) {
      assert.ok(app.received(id) <= 1, `${app.url} received ${id} ${app.received(id)} times`);
    }
  }
}

for (const transportName of ["http1", "fetch"]) {
  for (const kind of LIVE_KINDS) {
    for (const warm of [false, true]) {
      const form = `${warm ? "warm" : "fresh"}, ${kind} app, ${transportName}`;

      Deno.test(`scenario 1: an app that stops is skipped without a client noticing, and used again once back [${form}]`, async () => {
        await withApps(kind, transportName, warm, {}, async (t) => {
          await t.apps[1].stop();
          const during = await t.gets(8);
          assert.deepEqual(during.map((a) => a.status), Array(8).fill(200));
          assert.ok(during.every((a) => a.app !== t.apps[1].url));
          assert.equal(t.state(), "failed", "the stopped app is ejected");
          await t.apps[1].restart();
          t.clock.advance(DOWNTIME_MS);
          const after = await t.gets(3);
          assert.deepEqual(after.map((a) => a.status), [200, 200, 200]);
          assert.ok(after.some((a) => a.app === t.apps[1].url), "back in rotation");
        });
      });

      Deno.test(`scenario 1: an app that starts failing with 500 is tried once, ejected, and used again after the downtime [${form}]`, async () => {
        await withApps(kind, transportName, warm, {}, async (t) => {
          await t.apps[1].setMode("failing");
          const during = await t.gets(8);
          assert.deepEqual(during.map((a) => a.status), Array(8).fill(200));
          const reached = during.filter((a) => t.apps[1].received(a.id) > 0);
          assert.equal(reached.length, 1, "one request met the failing app, then it was skipped");
          assertAtMostOnce(t.apps, during);
          assert.equal(t.state(), "failed");
          await t.apps[1].setMode("normal");
          t.clock.advance(DOWNTIME_MS);
          const after = await t.gets(3);
          assert.deepEqual(after.map((a) => a.status), [200, 200, 200]);
          assert.ok(after.some((a) => a.app === t.apps[1].url), "back in rotation");
        });
      });

      Deno.test(`scenario 2: an app that starts to go slowly costs one timeout, gets each request once, and is ejected [${form}]`, async () => {
        await withApps(kind, transportName, warm, { timeoutMs: TIMEOUT_MS }, async (t) => {
          await t.apps[1].setMode("slow", SLOW_MS);
          const during = await t.gets(8);
          assert.deepEqual(during.map((a) => a.status), Array(8).fill(200));
          const seen = during.map((a) =>
            `${a.id} ${Math.round(a.ms)} ms, slow app got it ${t.apps[1].received(a.id)}×`
          ).join("; ");
          assert.ok(
            during.every((a) => a.ms < TIMEOUT_MS + MARGIN_MS),
            `no request may wait timeout + delay (${TIMEOUT_MS} + ${SLOW_MS} ms): ${seen}`,
          );
          assert.ok(during.every((a) => a.app !== t.apps[1].url), "healthy apps answered");
          assertAtMostOnce(t.apps, during);
          const reached = during.filter((a) => t.apps[1].received(a.id) > 0);
          assert.equal(reached.length, 1, "ejected after its first timeout");
          assert.equal(t.state(), "failed");
        });
      });
    }

    Deno.test(`an app restarted on the same port while the balancer holds warm connections costs no 5xx [warm, ${kind} app, ${transportName}]`, async () => {
      await withApps(kind, transportName, true, {}, async (t) => {
        await t.apps[1].restart();
        const during = await t.gets(9);
        assert.deepEqual(during.map((a) => a.status), Array(9).fill(200));
        assertAtMostOnce(t.apps, during);
        t.clock.advance(DOWNTIME_MS);
        const after = await t.gets(3);
        assert.ok(after.some((a) => a.app === t.apps[1].url), "the new server is used");
      });
    });
  }
}
