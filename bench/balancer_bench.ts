/**
 * Cost of the request path itself: `Balancer.handle` for a small POST, with a transport that
 * answers at once (no sockets), so what is measured is the balancer's own work per request:
 * refusal checks, header hygiene, picking, the try and its bookkeeping. The floor makes the
 * same `Request` and `Response` without a balancer; the difference is the balancer's cost.
 *
 * ```sh
 * deno bench bench/balancer_bench.ts
 * ```
 *
 * @module
 */

import { Backend } from "../backends/backend.ts";
import { Balancer, type RequestRecord } from "../balancer/balancer.ts";
import { type BalancerOptions, DEFAULT_OPTIONS, healthSettings } from "../balancer/options.ts";
import { RoundRobin } from "../policies/round_robin.ts";
import { ImmediateTransport, INFO } from "./_in_process.ts";

const BODY = '{"id":12345,"name":"widget","tags":["a","b"],"price":9.99}';
const HEADERS = {
  host: "127.0.0.1:8080",
  "content-type": "application/json",
  "content-length": String(BODY.length),
};

function balancer(
  onRequest?: (record: RequestRecord) => void,
  explainPicks = false,
  options: BalancerOptions = DEFAULT_OPTIONS,
): Balancer {
  const settings = healthSettings(DEFAULT_OPTIONS);
  return new Balancer({
    options,
    backends: [1, 2, 3].map((i) =>
      new Backend({ url: `http://127.0.0.1:800${i}`, weight: 1 }, settings)
    ),
    policy: new RoundRobin(),
    transport: new ImmediateTransport(),
    clock: () => performance.now(),
    hostlessOrigin: "http://localhost:8080/",
    onRequest,
    explainPicks,
  });
}

function post(headers: Record<string, string> = HEADERS): Request {
  return new Request("http://127.0.0.1:8080/orders?x=1", {
    method: "POST",
    headers,
    body: BODY,
  });
}

/** What the server runs per request: the balancer's handler, its refusals included. */
function handle(balancer: Balancer, request: Request): Promise<Response> {
  return balancer.handle(request, INFO);
}

const quiet = balancer();
let records = 0;
const observed = balancer(() => records++);
const explained = balancer(() => records++, true);
const ungated = balancer(undefined, false, { ...DEFAULT_OPTIONS, maxInFlight: 0 });
const timed = balancer(() => records++, false, { ...DEFAULT_OPTIONS, timeline: true });
const byCookie = balancer(undefined, false, { ...DEFAULT_OPTIONS, sticky: { cookie: "rb" } });
const byHeader = balancer(undefined, false, { ...DEFAULT_OPTIONS, sticky: { header: "x-user" } });
/** The cookie the first answer sets, sent back as a browser would, among others. */
const cookieHeaders = await (async () => {
  const response = await handle(byCookie, post());
  await response.body?.cancel();
  const cookie = response.headers.get("set-cookie")!.split(";")[0];
  return { ...HEADERS, cookie: `theme=dark; ${cookie}; lang=en` };
})();
const userHeaders = { ...HEADERS, "x-user": "user-12345" };

Deno.bench("floor: the same Request and Response, no balancer", { group: "handle" }, async () => {
  const request = post();
  await request.bytes();
  const response = new Response("ok", { headers: { "content-type": "text/plain" } });
  await response.body?.cancel();
});

Deno.bench("Balancer.handle, small POST, nobody observing", {
  group: "handle",
  baseline: true,
}, async () => {
  const response = await handle(quiet, post());
  await response.body?.cancel();
});

Deno.bench(
  "Balancer.handle, small POST, with an access log sink",
  { group: "handle" },
  async () => {
    const response = await handle(observed, post());
    await response.body?.cancel();
  },
);

Deno.bench(
  "Balancer.handle, small POST, observed with every pick explained (admin API on)",
  { group: "handle" },
  async () => {
    const response = await handle(explained, post());
    await response.body?.cancel();
  },
);

Deno.bench(
  "Balancer.handle, small POST with the same cookies, sticky off",
  { group: "handle" },
  async () => {
    const response = await handle(quiet, post(cookieHeaders));
    await response.body?.cancel();
  },
);

Deno.bench(
  "Balancer.handle, small POST, sticky by cookie, the client sends its cookie back",
  { group: "handle" },
  async () => {
    const response = await handle(byCookie, post(cookieHeaders));
    await response.body?.cancel();
  },
);

Deno.bench(
  "Balancer.handle, small POST, sticky by header (rendezvous over 3 backends)",
  { group: "handle" },
  async () => {
    const response = await handle(byHeader, post(userHeaders));
    await response.body?.cancel();
  },
);

Deno.bench(
  "Balancer.handle, small POST, nobody observing, admission gate off (maxInFlight 0)",
  { group: "handle" },
  async () => {
    const response = await handle(ungated, post());
    await response.body?.cancel();
  },
);

Deno.bench(
  "Balancer.handle, small POST, with an access log sink and the timeline on",
  { group: "handle" },
  async () => {
    const response = await handle(timed, post());
    await response.body?.cancel();
  },
);
