/**
 * FIFO admission (`maxInFlight`): the gate on a fake clock, the balancer around it with a
 * transport the test answers by hand, and the limit end to end on real sockets.
 */
import assert from "node:assert/strict";
import { Metrics } from "../admin/metrics.ts";
import { AdmissionGate, NotAdmitted, type Slot } from "../balancer/admission.ts";
import { Balancer } from "../balancer/balancer.ts";
import { DEFAULT_OPTIONS, healthSettings } from "../balancer/options.ts";
import { Backend } from "../backends/backend.ts";
import { RoundRobin } from "../policies/round_robin.ts";
import { TRANSPORTS } from "../transports/mod.ts";
import type { Transport, UpstreamRequest } from "../transports/transport.ts";
import { FakeClock } from "./_fake_clock.ts";
import { backends, serve } from "./_helpers.ts";

const INFO = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.9", port: 40000 },
  completed: Promise.resolve(),
} as unknown as Deno.ServeHandlerInfo;

/** Lets every queued promise callback run (one macrotask turn). */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A gate on `clock`, with its timers; stuck after 250 ms unless told otherwise. */
function gateOf(limit: number, maxWaitMs: number, clock = new FakeClock(), stuckMs = 250) {
  return new AdmissionGate(limit, { maxWaitMs, clock: clock.now, timers: clock, stuckMs });
}

/** A fresh slot for one request. */
function slot(): Slot {
  return { admittedMs: 0, holdsSlot: false };
}

Deno.test("the gate admits up to its limit at once, without a promise, and queues the rest", () => {
  const clock = new FakeClock();
  const gate = gateOf(2, 1_000, clock);
  const [a, b, c] = [slot(), slot(), slot()];
  assert.equal(gate.enter(a, clock.nowMs), undefined);
  assert.equal(gate.enter(b, clock.nowMs), undefined);
  const third = gate.enter(c, clock.nowMs);
  assert.ok(third instanceof Promise);
  assert.equal(gate.inFlight, 2);
  assert.equal(gate.waiting, 1);
  gate.leave(a);
  assert.equal(gate.inFlight, 2); // the slot went to the waiter
  assert.equal(gate.waiting, 0);
  assert.ok(c.holdsSlot);
});

Deno.test("waiting requests are admitted in arrival order as slots free", async () => {
  const clock = new FakeClock();
  const gate = gateOf(1, 1_000, clock);
  const first = slot();
  gate.enter(first, clock.nowMs);
  const admitted: number[] = [];
  const slots = [slot(), slot(), slot()];
  const waits = slots.map((s, n) => gate.enter(s, clock.nowMs)!.then(() => admitted.push(n + 1)));
  gate.leave(first);
  await settle();
  assert.deepEqual(admitted, [1]);
  gate.leave(slots[0]);
  gate.leave(slots[1]);
  await Promise.all(waits);
  assert.deepEqual(admitted, [1, 2, 3]);
  gate.leave(slots[2]);
  assert.equal(gate.inFlight, 0);
});

Deno.test("a newcomer queues behind waiters even when a slot is momentarily free", () => {
  const clock = new FakeClock();
  const gate = gateOf(1, 1_000, clock);
  const held = slot();
  gate.enter(held, clock.nowMs);
  const first = gate.enter(slot(), clock.nowMs)!;
  gate.leave(held); // the slot goes to the first waiter, not to whoever comes next
  assert.ok(gate.enter(slot(), clock.nowMs) instanceof Promise);
  assert.equal(gate.waiting, 1);
  gate.close();
  return first;
});

Deno.test("a request that waited the per-try timeout is rejected when a slot frees, and counted", async () => {
  const clock = new FakeClock();
  // Never stuck here: this is about waiting, not about slots held too long.
  const gate = gateOf(1, 2_000, clock, 60_000);
  const held = slot();
  gate.enter(held, clock.nowMs);
  const late = gate.enter(slot(), clock.nowMs)!;
  clock.advance(500);
  const inTime = gate.enter(slot(), clock.nowMs)!;
  clock.nowMs += 1_600; // the first waited 2,100 ms, the second 1,600 ms
  gate.leave(held);
  await assert.rejects(late, (error) => {
    assert.ok(error instanceof NotAdmitted);
    assert.equal(error.reason, "timeout");
    assert.equal(error.waitedMs, 2_100);
    return true;
  });
  await inTime;
  assert.equal(gate.rejected, 1);
  assert.equal(gate.inFlight, 1);
});

Deno.test("a waiter whose client left is dropped without taking a slot or counting as rejected", async () => {
  const clock = new FakeClock();
  const gate = gateOf(1, 2_000, clock);
  const held = slot();
  gate.enter(held, clock.nowMs);
  const client = new AbortController();
  const gone = gate.enter(slot(), clock.nowMs, client.signal)!;
  const next = gate.enter(slot(), clock.nowMs)!;
  client.abort();
  gate.leave(held);
  await assert.rejects(
    gone,
    (error) => error instanceof NotAdmitted && error.reason === "client-gone",
  );
  await next;
  assert.equal(gate.rejected, 0);
  assert.equal(gate.inFlight, 1);
});

Deno.test("a slot held past stuckMs is released to a waiter, though its request never left", async () => {
  const clock = new FakeClock();
  const gate = gateOf(2, 2_000, clock, 250);
  const [slow1, slow2] = [slot(), slot()];
  gate.enter(slow1, clock.nowMs);
  gate.enter(slow2, clock.nowMs);
  clock.advance(100);
  const waiter = slot();
  const admitted = gate.enter(waiter, clock.nowMs)!;
  assert.equal(gate.waiting, 1, "both slots are young: the newcomer waits");
  // Nothing leaves: the gate's own timer opens it once the oldest slot is 250 ms old.
  clock.advance(149);
  assert.equal(gate.waiting, 1);
  clock.advance(1);
  await admitted;
  assert.equal(gate.released, 2);
  assert.equal(gate.inFlight, 1, "the released requests no longer count");
  assert.equal(slow1.holdsSlot, false);
  // Their leave, when it comes, gives back nothing twice.
  gate.leave(slow1);
  gate.leave(slow2);
  assert.equal(gate.inFlight, 1);
  gate.leave(waiter);
  assert.equal(gate.inFlight, 0);
  assert.equal(clock.pending, 0, "no timer left once nobody waits");
});

Deno.test("slots given back in any order are forgotten, and the gate keeps no timer while nobody waits", () => {
  const clock = new FakeClock();
  const gate = gateOf(4, 2_000, clock);
  for (let round = 0; round < 3_000; round++) {
    const [a, b] = [slot(), slot()];
    gate.enter(a, clock.nowMs);
    gate.enter(b, clock.nowMs);
    gate.leave(b);
    gate.leave(a);
    clock.advance(1);
  }
  assert.equal(gate.inFlight, 0);
  assert.equal(gate.released, 0, "none was held 250 ms");
  assert.equal(clock.pending, 0);
});

Deno.test("a gate of no slots is refused with a message naming the value", () => {
  assert.throws(() => gateOf(0, 1_000), /limit must be ≥ 1, got 0/);
});

/** Holds every try until the test answers or fails it; counts tries at once. */
class HeldTransport implements Transport {
  readonly held: { resolve: (r: Response) => void; reject: (e: unknown) => void }[] = [];
  now = 0;
  most = 0;
  send(_request: UpstreamRequest): Promise<Response> {
    this.most = Math.max(this.most, ++this.now);
    return new Promise<Response>((resolve, reject) => this.held.push({ resolve, reject }))
      .finally(() => this.now--);
  }
  close() {}
}

function gated(maxInFlight: number) {
  const clock = new FakeClock();
  const transport = new HeldTransport();
  const metrics = new Metrics();
  const pool = backends(3);
  const balancer = new Balancer({
    // With every backend out, the one that failed longest ago is still tried.
    options: { ...DEFAULT_OPTIONS, maxInFlight, timeoutMs: 2_000, panic: "least-recently-failed" },
    backends: pool,
    policy: new RoundRobin(),
    transport,
    clock: clock.now,
    timers: clock,
    onRequest: metrics.onRequest,
  });
  const send = (signal?: AbortSignal) =>
    balancer.handle(new Request("http://lb.test/", { signal }), INFO);
  return { clock, transport, metrics, pool, balancer, send };
}

Deno.test("the balancer gives the slot back when a try answers, fails, or its client left", async () => {
  const { transport, balancer, send } = gated(1);
  const gate = balancer.admission!;
  const answered = send();
  const failed = send();
  const leftWaiting = new AbortController();
  const goneWhileWaiting = send(leftWaiting.signal);
  const leftTrying = new AbortController();
  const goneWhileTrying = send(leftTrying.signal);
  leftWaiting.abort();
  await settle();
  assert.equal(transport.held.length, 1);
  transport.held[0].resolve(new Response("ok"));
  await (await answered).body?.cancel();
  for (const i of [1, 2, 3]) { // every backend refuses: 502
    await settle();
    transport.held[i].reject(new TypeError("connection refused"));
  }
  assert.equal((await failed).status, 502);
  assert.equal((await goneWhileWaiting).status, 499);
  await settle();
  assert.equal(transport.held.length, 5); // the one that left while waiting sent nothing
  leftTrying.abort();
  transport.held[4].reject(new DOMException("aborted", "AbortError"));
  assert.equal((await goneWhileTrying).status, 499);
  assert.equal(gate.inFlight, 0);
  assert.equal(gate.waiting, 0);
  assert.equal(transport.most, 1);
});

Deno.test("a request that waited the per-try timeout gets 503 with Retry-After and is counted", async () => {
  const { clock, transport, metrics, pool, send } = gated(1);
  const first = send();
  const late = send();
  await settle();
  // Time passes without the gate's timer running (an event loop held up): the first request
  // still holds its slot when it answers, and the waiter has waited too long by then.
  clock.nowMs += 2_500;
  transport.held[0].resolve(new Response("ok"));
  await (await first).body?.cancel();
  const response = await late;
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "1");
  assert.match((await response.json()).error, /maxInFlight.*waited 2500ms/);
  assert.equal(transport.held.length, 1); // no backend saw it
  assert.match(metrics.render(pool, clock.nowMs), /^roundabout_admission_rejected_total 1$/m);
});

Deno.test("with maxInFlight 0 there is no gate and every request goes straight on", async () => {
  const { transport, balancer, send } = gated(0);
  assert.equal(balancer.admission, undefined);
  const answers = [send(), send(), send()];
  await settle();
  assert.equal(transport.most, 3);
  for (const held of transport.held) held.resolve(new Response("ok"));
  for (const answer of answers) await (await answer).body?.cancel();
});

Deno.test("end to end, no more than maxInFlight requests reach the backends at once", async () => {
  let now = 0, most = 0;
  const backend = serve(async () => {
    most = Math.max(most, ++now);
    await new Promise((resolve) => setTimeout(resolve, 20));
    now--;
    return new Response("ok");
  });
  const transport = TRANSPORTS.http1();
  const balancer = new Balancer({
    options: { ...DEFAULT_OPTIONS, maxInFlight: 3 },
    backends: [new Backend({ url: backend.url, weight: 1 }, healthSettings({ ejectMs: 10_000 }))],
    policy: new RoundRobin(),
    transport,
    clock: Date.now,
  });
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, balancer.handle);
  try {
    const url = `http://127.0.0.1:${proxy.addr.port}/`;
    const statuses = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const response = await fetch(url);
        await response.body?.cancel();
        return response.status;
      }),
    );
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.equal(most, 3);
    assert.equal(balancer.admission!.inFlight, 0);
  } finally {
    await proxy.shutdown();
    transport.close();
    await backend.shutdown();
  }
});

Deno.test("end to end, a slow backend's requests give their slots up and the fast one's go on", async () => {
  const slow = serve(async () => {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    return new Response("slow");
  });
  const fast = serve(() => new Response("fast"));
  const transport = TRANSPORTS.http1();
  const settings = healthSettings({ ejectMs: 10_000 });
  const balancer = new Balancer({
    // A 4 s timeout: slots are released after 500 ms; the slow backend is not ejected.
    options: { ...DEFAULT_OPTIONS, maxInFlight: 2, timeoutMs: 4_000 },
    backends: [slow.url, fast.url].map((url) => new Backend({ url, weight: 1 }, settings)),
    policy: new RoundRobin(),
    transport,
    clock: Date.now,
  });
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, balancer.handle);
  try {
    const startMs = Date.now();
    // Round robin alternates: the slow backend soon holds both slots.
    const answers = await Promise.all(Array.from({ length: 8 }, async () => {
      const response = await fetch(`http://127.0.0.1:${proxy.addr.port}/`);
      return { text: await response.text(), ms: Date.now() - startMs };
    }));
    const fastOnes = answers.filter((answer) => answer.text === "fast");
    assert.equal(fastOnes.length, 4);
    // Held shut by the slow requests, the last fast ones would wait 1.5 s at least.
    for (const answer of fastOnes) {
      assert.ok(answer.ms < 1_300, `a fast answer took ${answer.ms}ms`);
    }
    assert.ok(balancer.admission!.released >= 2);
    assert.equal(balancer.admission!.inFlight, 0);
  } finally {
    await proxy.shutdown();
    transport.close();
    await slow.shutdown();
    await fast.shutdown();
  }
});
