/**
 * FIFO admission (`maxInFlight`): the gate on a fake clock, the balancer around it with a
 * transport the test answers by hand, and the limit end to end on real sockets.
 */
import assert from "node:assert/strict";
import { Metrics } from "../admin/metrics.ts";
import { AdmissionGate, NotAdmitted } from "../balancer/admission.ts";
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

Deno.test("the gate admits up to its limit at once, without a promise, and queues the rest", () => {
  const gate = new AdmissionGate(2, 1_000, new FakeClock().now);
  assert.equal(gate.enter(), undefined);
  assert.equal(gate.enter(), undefined);
  const third = gate.enter();
  assert.ok(third instanceof Promise);
  assert.equal(gate.inFlight, 2);
  assert.equal(gate.waiting, 1);
  gate.leave();
  assert.equal(gate.inFlight, 2); // the slot went to the waiter
  assert.equal(gate.waiting, 0);
});

Deno.test("waiting requests are admitted in arrival order as slots free", async () => {
  const gate = new AdmissionGate(1, 1_000, new FakeClock().now);
  gate.enter();
  const admitted: number[] = [];
  const waits = [1, 2, 3].map((n) => gate.enter()!.then(() => admitted.push(n)));
  gate.leave();
  await settle();
  assert.deepEqual(admitted, [1]);
  gate.leave();
  gate.leave();
  await Promise.all(waits);
  assert.deepEqual(admitted, [1, 2, 3]);
  gate.leave();
  assert.equal(gate.inFlight, 0);
});

Deno.test("a newcomer queues behind waiters even when a slot is momentarily free", () => {
  const gate = new AdmissionGate(1, 1_000, new FakeClock().now);
  gate.enter();
  const first = gate.enter()!;
  gate.leave(); // the slot goes to the first waiter, not to whoever comes next
  assert.ok(gate.enter() instanceof Promise);
  assert.equal(gate.waiting, 1);
  return first;
});

Deno.test("a request that waited the per-try timeout is rejected when a slot frees, and counted", async () => {
  const clock = new FakeClock();
  const gate = new AdmissionGate(1, 2_000, clock.now);
  gate.enter();
  const late = gate.enter()!;
  clock.advance(500);
  const inTime = gate.enter()!;
  clock.advance(1_600); // the first waited 2,100 ms, the second 1,600 ms
  gate.leave();
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
  const gate = new AdmissionGate(1, 2_000, new FakeClock().now);
  gate.enter();
  const client = new AbortController();
  const gone = gate.enter(client.signal)!;
  const next = gate.enter()!;
  client.abort();
  gate.leave();
  await assert.rejects(
    gone,
    (error) => error instanceof NotAdmitted && error.reason === "client-gone",
  );
  await next;
  assert.equal(gate.rejected, 0);
  assert.equal(gate.inFlight, 1);
});

Deno.test("a gate of no slots is refused with a message naming the value", () => {
  assert.throws(() => new AdmissionGate(0, 1_000, Date.now), /limit must be ≥ 1, got 0/);
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
  clock.advance(2_500);
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
