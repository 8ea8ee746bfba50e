/**
 * No request reaches more backends than the retry rules allow. For every fault a backend can
 * show, every method, both `retryAfterSend` settings and both transports: one request, the
 * faulty backend first and a normal one second (round robin), then the arrivals counted at
 * each real server and the status the client got. The rules (README, "What the balancer
 * promises"): a refused connection always moves on; after sending, the request moves on only
 * with `retryAfterSend: all`, an idempotent method or an `Idempotency-Key` header; nothing is
 * retried once a response has started towards the client.
 */
import assert from "node:assert/strict";
import { TRANSPORTS } from "../transports/mod.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { LagMonitor } from "../balancer/overload.ts";
import { monotonicClock } from "../lib/time.ts";
import { type RunningMock, startMock } from "../mocks/mod.ts";
import { deadPort } from "./_helpers.ts";

/** The per-try timeout of every case; far below the `delayed` mock's delay. */
const TIMEOUT_MS = 500;
const DELAY_MS = 5_000;

/** A backend under test: where it listens and how many requests reached it. */
interface Faulty {
  readonly url: string;
  arrivals(): number;
  close(): Promise<void>;
}

/** What a fault does to a request that reached it, as far as the rules are concerned. */
type Effect =
  /** Nothing reached the backend: always move on. */
  | { readonly kind: "not-sent" }
  /** It reached the backend and failed before a response started: move on if allowed, */
  | { readonly kind: "failed"; readonly status: number }
  /** A response (200) started towards the client, then its body broke: never move on. */
  | { readonly kind: "cut" };

interface Fault {
  readonly name: string;
  readonly effect: Effect;
  start(): Promise<Faulty>;
}

function fromMock(mock: Promise<RunningMock>): Promise<Faulty> {
  return mock.then((m) => ({ url: m.url, arrivals: () => m.arrivals, close: () => m.close() }));
}

/**
 * A backend that reads a request head and closes the connection without a word: the
 * "connection broken after sending" case, which the mocks lack (the `reset` mock answers
 * 200 first and cuts the body).
 */
function hangUp(): Faulty {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let arrivals = 0;
  const conns = new Set<Promise<void>>();
  const serveOne = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(16_384);
    let head = "";
    try {
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buffer);
        if (n === null) return;
        head += new TextDecoder().decode(buffer.subarray(0, n));
      }
      arrivals++;
    } catch {
      // The peer left first: nothing arrived.
    } finally {
      conn.close();
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const served: Promise<void> = serveOne(conn).finally(() => conns.delete(served));
        conns.add(served);
      }
    } catch { /* closed */ }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    arrivals: () => arrivals,
    close: async () => {
      listener.close();
      await accepting;
      await Promise.all(conns);
    },
  };
}

const FAULTS: readonly Fault[] = [
  {
    name: "alternating (500)",
    effect: { kind: "failed", status: 500 },
    start: () => fromMock(startMock("alternating")),
  },
  {
    name: "flaky rate 1 (500)",
    effect: { kind: "failed", status: 500 },
    start: () => fromMock(startMock("flaky", { failureRate: 1 })),
  },
  {
    name: "hang-up, no answer",
    effect: { kind: "failed", status: 502 },
    start: () => Promise.resolve(hangUp()),
  },
  {
    name: "garbage (not HTTP)",
    effect: { kind: "failed", status: 502 },
    start: () => fromMock(startMock("garbage")),
  },
  {
    name: "blackhole (timeout)",
    effect: { kind: "failed", status: 504 },
    start: () => fromMock(startMock("blackhole")),
  },
  {
    name: "delayed (timeout)",
    effect: { kind: "failed", status: 504 },
    start: () => fromMock(startMock("delayed", { delayMs: DELAY_MS })),
  },
  {
    name: "reset (200, body cut)",
    effect: { kind: "cut" },
    start: () => fromMock(startMock("reset")),
  },
  {
    name: "dead port (refused)",
    effect: { kind: "not-sent" },
    start: () => {
      const port = deadPort();
      return Promise.resolve({
        url: `http://127.0.0.1:${port}`,
        arrivals: () => 0,
        close: () => Promise.resolve(),
      });
    },
  },
];

interface Request1 {
  readonly label: string;
  readonly method: string;
  readonly idempotencyKey: boolean;
  /** A body over the replay limit: streamed, so never sent twice. */
  readonly big?: boolean;
}

/** Small enough that only the `big` request's body goes over it. */
const REPLAY_LIMIT_BYTES = 64;

const REQUESTS: readonly Request1[] = [
  { label: "GET", method: "GET", idempotencyKey: false },
  { label: "POST", method: "POST", idempotencyKey: false },
  { label: "PUT", method: "PUT", idempotencyKey: false },
  { label: "DELETE", method: "DELETE", idempotencyKey: false },
  { label: "POST+key", method: "POST", idempotencyKey: true },
  { label: "PUT big", method: "PUT", idempotencyKey: false, big: true },
];

const MODES = ["all", "idempotent"] as const;
type Mode = (typeof MODES)[number];

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** What the rules say: arrivals at the faulty and the normal backend, and the status. */
interface Outcome {
  readonly faulty: number;
  readonly normal: number;
  /** The status; `200!` is a 200 whose body broke while the client read it. */
  readonly status: string;
}

function expected(fault: Fault, request: Request1, mode: Mode): Outcome {
  const effect = fault.effect;
  // A streamed body cannot be replayed, not even after a refused connection: the transport
  // may already have pulled part of it (the README's "always moves on" has this exception).
  if (request.big && effect.kind === "not-sent") return { faulty: 0, normal: 0, status: "502" };
  if (effect.kind === "not-sent") return { faulty: 0, normal: 1, status: "200" };
  if (effect.kind === "cut") return { faulty: 1, normal: 0, status: "200!" };
  const movesOn = !request.big &&
    (mode === "all" || IDEMPOTENT.has(request.method) || request.idempotencyKey);
  return movesOn
    ? { faulty: 1, normal: 1, status: "200" }
    : { faulty: 1, normal: 0, status: String(effect.status) };
}

/** Starts the pair and a balancer, sends the one request, and counts. */
async function runCase(
  fault: Fault,
  request: Request1,
  mode: Mode,
  transport: string,
): Promise<Outcome> {
  let faulty: Faulty | undefined;
  let normal: RunningMock | undefined;
  let balancer: RunningBalancer | undefined;
  try {
    faulty = await fault.start();
    normal = await startMock("normal");
    balancer = startBalancer({
      port: 0,
      backends: [{ url: faulty.url, weight: 1 }, { url: normal.url, weight: 1 }],
      options: {
        timeoutMs: TIMEOUT_MS,
        retryNonIdempotent: mode === "all",
        replayLimitBytes: REPLAY_LIMIT_BYTES,
      },
      transport: TRANSPORTS[transport](),
      // A monitor never started: these cases are about the retry rules, and on a loaded
      // machine a late event loop would turn the timeouts into "balancer overloaded" 503s
      // (that rule has its own tests in tests/overload_test.ts).
      lag: new LagMonitor(monotonicClock),
    });
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (request.idempotencyKey) headers["idempotency-key"] = `key-${crypto.randomUUID()}`;
    const withBody = request.method === "POST" || request.method === "PUT";
    const response = await fetch(`${balancer.url}/orders?n=1`, {
      method: request.method,
      headers,
      body: withBody
        ? JSON.stringify({ order: 1, note: request.big ? "x".repeat(4 * REPLAY_LIMIT_BYTES) : "" })
        : undefined,
    });
    let status = String(response.status);
    try {
      await response.arrayBuffer();
    } catch {
      status += "!";
    }
    if (status === "200") {
      assert.equal(
        response.headers.get("x-app-url"),
        normal.url,
        `${fault.name}, ${request.label}, ${mode}: answered by the normal app`,
      );
    }
    return { faulty: faulty.arrivals(), normal: normal.arrivals, status };
  } finally {
    await balancer?.shutdown();
    await normal?.close();
    await faulty?.close();
  }
}

function cell(outcome: Outcome): string {
  return `${outcome.faulty}/${outcome.normal} ${outcome.status}`;
}

/** The matrix as a table: one row per fault, one column per request and mode. */
function table(transport: string, rows: Map<string, Outcome[]>): string {
  const columns = MODES.flatMap((mode) =>
    REQUESTS.map((r) => `${r.label.replace(" ", "")}${mode === "all" ? "" : "/i"}`)
  );
  const width = 11;
  const first = 22;
  const lines = [
    `transport ${transport}: arrivals faulty/normal and client status ` +
    `(200! = 200 whose body broke), retryAfterSend all, or idempotent (/i)`,
    ("fault".padEnd(first) + columns.map((c) => c.padEnd(width)).join("")).trimEnd(),
  ];
  for (const [name, outcomes] of rows) {
    lines.push(
      (name.padEnd(first) + outcomes.map((o) => cell(o).padEnd(width)).join("")).trimEnd(),
    );
  }
  return lines.join("\n");
}

for (const transport of Object.keys(TRANSPORTS)) {
  Deno.test(`no request reaches more backends than the retry rules allow (${transport} transport)`, async () => {
    const rows = new Map<string, Outcome[]>();
    const wrong: string[] = [];
    for (const fault of FAULTS) {
      const cases = MODES.flatMap((mode) => REQUESTS.map((request) => ({ mode, request })));
      // One fault's cases at a time, in parallel: each has its own servers and balancer.
      const outcomes = await Promise.all(
        cases.map(({ mode, request }) => runCase(fault, request, mode, transport)),
      );
      rows.set(fault.name, outcomes);
      cases.forEach(({ mode, request }, i) => {
        const want = expected(fault, request, mode);
        if (cell(outcomes[i]) !== cell(want)) {
          wrong.push(
            `${fault.name}, ${request.label}, retryAfterSend ${mode}: ` +
              `got ${cell(outcomes[i])}, expected ${cell(want)}`,
          );
        }
      });
    }
    console.log(table(transport, rows));
    assert.deepEqual(wrong, [], wrong.join("\n"));
  });
}
