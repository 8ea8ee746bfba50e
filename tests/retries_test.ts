/**
 * The retry rules, with a scripted transport: which failures move on to the next backend,
 * which answers reach the client, and what the client is told when nothing worked.
 */
import assert from "node:assert/strict";
import { Balancer } from "../balancer/balancer.ts";
import { FakeClock } from "./_fake_clock.ts";
import { type BalancerOptions, DEFAULT_OPTIONS } from "../balancer/options.ts";
import { RoundRobin } from "../policies/round_robin.ts";
import {
  ReusedConnectionClosed,
  type Transport,
  UpstreamError,
  type UpstreamRequest,
} from "../transports/transport.ts";
import { backends } from "./_helpers.ts";

type Behaviour = (request: UpstreamRequest) => Response | Promise<Response>;

/** Answers each backend by host as scripted and records every try it was given. */
class ScriptedTransport implements Transport {
  readonly sent: { host: string; method: string; body: string | null }[] = [];
  constructor(readonly script: Record<string, Behaviour>) {}
  async send(request: UpstreamRequest): Promise<Response> {
    const host = new URL(request.baseUrl).host;
    const body = request.body instanceof Uint8Array ? new TextDecoder().decode(request.body) : null;
    this.sent.push({ host, method: request.method, body });
    return await this.script[host](request);
  }
  close() {}
}

const ok: Behaviour = () => Response.json({ ok: true });
const status500: Behaviour = () => new Response("App failure", { status: 500 });
const refused: Behaviour = () => {
  throw new UpstreamError("connect", "connection refused");
};
const reset: Behaviour = () => {
  throw new UpstreamError("reset", "connection closed before the response");
};
const reusedClosed: Behaviour = () => {
  throw new ReusedConnectionClosed();
};
const timeout: Behaviour = () => {
  throw new DOMException("Signal timed out.", "TimeoutError");
};

const INFO = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.9", port: 40000 },
  completed: Promise.resolve(),
} as unknown as Deno.ServeHandlerInfo;

function setup(script: Behaviour[], options: Partial<BalancerOptions> = {}) {
  const clock = new FakeClock();
  const pool = backends(script.length);
  const transport = new ScriptedTransport(
    Object.fromEntries(script.map((b, i) => [new URL(pool[i].url).host, b])),
  );
  const balancer = new Balancer({
    options: { ...DEFAULT_OPTIONS, ...options },
    backends: pool,
    policy: new RoundRobin(),
    transport,
    clock: clock.now,
  });
  const send = (method = "GET", body?: string, headers: HeadersInit = {}) =>
    balancer.handle(
      new Request("http://lb.test/path?q=1", { method, body, headers }),
      INFO,
    );
  return { clock, pool, transport, send };
}

Deno.test("a refused connection moves on to the next backend, for POST too", async () => {
  const { send, transport } = setup([refused, ok, ok], { retryNonIdempotent: false });
  const response = await send("POST", '{"a":1}');
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-app-url"), "http://b.test");
  await response.body?.cancel();
  assert.deepEqual(transport.sent.map((s) => s.host), ["a.test", "b.test"]);
  assert.deepEqual(transport.sent.map((s) => s.body), ['{"a":1}', '{"a":1}']);
});

Deno.test("a 5xx answer marks the backend failed and the request moves on", async () => {
  const { send, pool, clock } = setup([status500, ok, ok]);
  const response = await send("POST", '{"a":1}');
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("x-app-url"), "http://b.test");
  await response.body?.cancel();
  assert.equal(pool[0].available(clock.now()), false);
  assert.equal(pool[0].health.cause?.detail, "status 500");
  assert.equal(pool[0].failures, 1);
});

Deno.test("after sending, a POST does not move on when retries after send are off", async () => {
  const { send, transport } = setup([reset, ok, ok], { retryNonIdempotent: false });
  const response = await send("POST", "{}");
  assert.equal(response.status, 502);
  const body = await response.json();
  assert.equal(body.error, "upstream unreachable");
  assert.equal(body.tried.length, 1);
  assert.equal(transport.sent.length, 1);
});

Deno.test("after sending, GET and a POST with Idempotency-Key still move on", async () => {
  const first = setup([reset, ok], { retryNonIdempotent: false });
  const get = await first.send("GET");
  assert.equal(get.status, 200);
  await get.body?.cancel();
  const second = setup([status500, ok], { retryNonIdempotent: false });
  const post = await second.send("POST", "{}", { "idempotency-key": "k1" });
  assert.equal(post.status, 200);
  await post.body?.cancel();
  assert.equal(second.transport.sent.length, 2);
});

Deno.test("when every backend answers 5xx, the client gets the last real answer", async () => {
  const { send, transport } = setup([status500, status500, status500]);
  const response = await send("GET");
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("x-app-url"), "http://c.test");
  assert.equal(await response.text(), "App failure");
  assert.equal(transport.sent.length, 3, "each backend is tried once");
});

Deno.test("an earlier 5xx answer beats a later connection failure", async () => {
  const { send } = setup([status500, refused]);
  const response = await send("GET");
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("x-app-url"), "http://a.test");
  assert.equal(await response.text(), "App failure");
});

Deno.test("no answer at all gives 502 for connection failures and 504 for timeouts", async () => {
  const refusedAll = await setup([refused, refused]).send();
  assert.equal(refusedAll.status, 502);
  const body = await refusedAll.json();
  assert.deepEqual(body.tried.map((t: { backend: string }) => t.backend), [
    "http://a.test",
    "http://b.test",
  ]);
  assert.equal(body.tried[0].error, "connection refused");
  const timedOut = await setup([refused, timeout]).send();
  assert.equal(timedOut.status, 504);
  assert.equal((await timedOut.json()).error, "upstream timed out");
});

Deno.test("with every backend marked failed the answer is an immediate 503 with Retry-After", async () => {
  const { send, clock, transport } = setup([refused, refused, refused], {
    retryDowntimeMs: 10_000,
  });
  (await send()).body?.cancel();
  clock.advance(2_500);
  const response = await send();
  assert.equal(response.status, 503);
  assert.equal(response.headers.get("retry-after"), "8");
  assert.match((await response.json()).error, /no backend available/);
  assert.equal(transport.sent.length, 3, "the 503 sent nothing upstream");
  clock.advance(7_500);
  const again = await send();
  assert.equal(again.status, 502, "after the downtime the backends are tried again");
  await again.body?.cancel();
  assert.equal(transport.sent.length, 6);
});

Deno.test("a client that leaves is not held against the backend", async () => {
  const controller = new AbortController();
  const { pool, clock } = setup([ok]);
  const balancer = new Balancer({
    options: DEFAULT_OPTIONS,
    backends: pool,
    policy: new RoundRobin(),
    transport: new ScriptedTransport({
      "a.test": () => {
        controller.abort();
        throw new DOMException("aborted", "AbortError");
      },
    }),
    clock: clock.now,
  });
  const request = new Request("http://lb.test/", { signal: controller.signal });
  const response = await balancer.handle(request, INFO);
  assert.equal(response.status, 499);
  assert.equal(pool[0].available(clock.now()), true);
  assert.equal(pool[0].failures, 0);
});

Deno.test("a body over the replay limit streams through and is never sent twice", async () => {
  const { send, transport } = setup([status500, ok], { replayLimitBytes: 4 });
  const response = await send("PUT", "0123456789");
  assert.equal(response.status, 500);
  await response.body?.cancel();
  assert.equal(transport.sent.length, 1);
  assert.equal(transport.sent[0].body, null, "the body went as a stream, not buffered");
});

Deno.test("a timeout is not held against a backend that answered a newer request meanwhile", async () => {
  // Backend a keeps its first try waiting; meanwhile a newer request to a is answered.
  let expireFirst!: () => void;
  let triesToA = 0;
  const slowThenFast: Behaviour = () => {
    triesToA++;
    if (triesToA > 1) return Response.json({ ok: true });
    return new Promise<Response>((_resolve, reject) => {
      expireFirst = () => reject(new DOMException("no response within 2s", "TimeoutError"));
    });
  };
  const { send, pool, clock } = setup([slowThenFast, ok]);
  const first = send("GET"); // a, waiting
  clock.advance(10);
  const second = await send("GET"); // b
  clock.advance(10);
  const third = await send("GET"); // a again, answered at once
  assert.equal(third.headers.get("x-app-url"), "http://a.test");
  clock.advance(2_000);
  expireFirst();
  const answered = await first;
  assert.equal(answered.status, 200, "the request moves on, as for any timeout");
  assert.equal(answered.headers.get("x-app-url"), "http://b.test");
  assert.equal(pool[0].available(clock.now()), true, "a answered newer requests: not ejected");
  assert.equal(pool[0].failures, 1);
  assert.match(pool[0].lastError?.detail ?? "", /answered a newer request/);
  for (const response of [answered, second, third]) await response.body?.cancel();
});

Deno.test("a timeout still ejects a backend that answered nothing newer", async () => {
  let expireFirst!: () => void;
  let reached!: () => void;
  const tried = new Promise<void>((resolve) => reached = resolve);
  const waitsThenTimesOut: Behaviour = () =>
    new Promise<Response>((_resolve, reject) => {
      expireFirst = () => reject(new DOMException("no response within 2s", "TimeoutError"));
      reached();
    });
  const { send, pool, clock } = setup([waitsThenTimesOut, ok]);
  const first = send("GET");
  await tried;
  clock.advance(2_000);
  expireFirst();
  const answered = await first;
  assert.equal(answered.headers.get("x-app-url"), "http://b.test");
  assert.equal(pool[0].available(clock.now()), false);
  assert.equal(pool[0].health.cause?.detail, "no response within 2s");
  await answered.body?.cancel();
});

Deno.test("a reused connection closed before answering moves on and is not held against the backend", async () => {
  const { send, pool, clock, transport } = setup([reusedClosed, ok], { retryDowntimeMs: 10_000 });
  const response = await send("GET");
  assert.equal(response.headers.get("x-app-url"), "http://b.test");
  await response.body?.cancel();
  assert.deepEqual(transport.sent.map((s) => s.host), ["a.test", "b.test"]);
  assert.equal(pool[0].available(clock.now()), true);
  assert.equal(
    pool[0].lastError?.detail,
    "reused connection closed before answering (not held against the backend: it may have " +
      "closed an idle connection as the request came)",
  );
  // Where nothing may be replayed, it is a 502 like any reset.
  const post = await setup([reusedClosed, ok], { retryNonIdempotent: false }).send("POST", "{}");
  assert.equal(post.status, 502);
  await post.body?.cancel();
});
