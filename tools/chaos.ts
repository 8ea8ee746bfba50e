/**
 * Chaos run: steady concurrent traffic through a real balancer process while its backends
 * misbehave, then what the clients saw next to what the balancer counted.
 *
 * ```sh
 * deno task chaos                                   # 30 s, 16 clients
 * deno task chaos --duration 2m --concurrency 32 --transport http1
 * ```
 *
 * Three `normal` mock apps, a `flaky` one and a `delayed` one run as separate processes
 * (`roundabout mock …`), so that one can be killed with SIGKILL and started again; the
 * balancer runs as `roundabout balance --config FILE` with its admin API. Throughout the
 * run, backend 1 is killed with SIGKILL and restarted 2 s later, over and over. On top:
 *
 * 1. `kill`: only that;
 * 2. `slow`: backend 2 is swapped for the `delayed` app by rewriting the config file
 *    (and `POST /reload`);
 * 3. `flaky, idempotent`: backend 2 is the `flaky` app (30 % of answers are 500) and
 *    `retryAfterSend` is `idempotent`, so plain POSTs that fail are not replayed;
 * 4. `reloads`: the same with `retryAfterSend: all`, and the configuration reloaded every
 *    1.5 s (file rewrite, `POST /reload`, `POST /config`), changing a weight and the timeout.
 *
 * Clients send GET, POST, and POST with an `Idempotency-Key` in turn. The run passes when no
 * idempotent request (GET, or POST with a key) failed as a client sees it, and the
 * balancer's `roundabout_requests_total` agrees with the clients' count. Loopback only;
 * every child is stopped at the end and on Ctrl-C (logs are kept in a temporary directory).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { parseDuration } from "../balancer/duration.ts";
import { type Proc, stopAll, stopAllOnSignals } from "../harness/processes.ts";
import { count, freePorts, roundabout, type Samples, scrape, sleep, total } from "./_common.ts";

const USAGE =
  `Usage: deno task chaos [--duration 30s] [--concurrency 16] [--transport auto|fetch|http1]
                       [--failure-rate 0.3] [--seed 1]`;

interface ChaosOptions {
  readonly durationMs: number;
  readonly concurrency: number;
  readonly transport: string;
  readonly failureRate: number;
  readonly seed: number;
}

function options(args: string[]): ChaosOptions {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: "string", default: "30s" },
      concurrency: { type: "string", default: "16" },
      transport: { type: "string", default: "fetch" },
      "failure-rate": { type: "string", default: "0.3" },
      seed: { type: "string", default: "1" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const durationMs = parseDuration(values.duration);
  const concurrency = Number(values.concurrency);
  const failureRate = Number(values["failure-rate"]);
  const problems = [
    durationMs === undefined || durationMs < 12_000
      ? `--duration ${values.duration}: expected a duration of at least 12s`
      : "",
    !Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1_000
      ? `--concurrency ${values.concurrency}: expected a whole number from 1 to 1000`
      : "",
    !["auto", "fetch", "http1"].includes(values.transport)
      ? `--transport: expected auto, fetch or http1`
      : "",
    !(failureRate >= 0 && failureRate <= 1) ? `--failure-rate: expected 0 to 1` : "",
    !/^\d{1,9}$/.test(values.seed) ? `--seed: expected a whole number` : "",
  ].filter((p) => p !== "");
  if (problems.length > 0) {
    console.error(`${problems.join("\n")}\n${USAGE}`);
    Deno.exit(2);
  }
  return {
    durationMs: durationMs!,
    concurrency,
    transport: values.transport,
    failureRate,
    seed: Number(values.seed),
  };
}

const KINDS = ["GET", "POST", "POST+key"] as const;
type Kind = (typeof KINDS)[number];
const IDEMPOTENT: ReadonlySet<Kind> = new Set(["GET", "POST+key"]);

/** What the clients saw: by phase, kind of request and outcome. */
class Tally {
  readonly #counts = new Map<string, number>();
  /** Answers by the backend that gave them (`x-app-url`; `none` for the balancer's own). */
  readonly byBackend = new Map<string, number>();

  add(phase: string, kind: Kind, outcome: string): void {
    const key = `${phase}\u0000${kind}\u0000${outcome}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  answeredBy(backend: string): void {
    this.byBackend.set(backend, (this.byBackend.get(backend) ?? 0) + 1);
  }

  /** Rows of `[phase, kind, outcome, count]`. */
  rows(): [string, Kind, string, number][] {
    return [...this.#counts].map(([key, n]) => {
      const [phase, kind, outcome] = key.split("\u0000");
      return [phase, kind as Kind, outcome, n];
    });
  }

  sum(filter: (phase: string, kind: Kind, outcome: string) => boolean): number {
    return this.rows().filter(([p, k, o]) => filter(p, k, o)).reduce((n, r) => n + r[3], 0);
  }
}

const failed = (outcome: string) => outcome !== "200";

async function main(): Promise<number> {
  const opts = options(Deno.args);
  const dir = await Deno.makeTempDir({ prefix: "roundabout-chaos-" });
  const [p1, p2, p3, pFlaky, pDelayed, pBalancer, pAdmin] = freePorts(7);
  const url = (port: number) => `http://127.0.0.1:${port}`;
  const balancerUrl = url(pBalancer);
  const adminUrl = url(pAdmin);
  const configPath = `${dir}/roundabout.json`;
  // Reset when traffic starts: phases and events are timed from then.
  let t0 = performance.now();
  const elapsed = () => performance.now() - t0;
  const event = (text: string) =>
    console.log(`${(elapsed() / 1000).toFixed(1).padStart(6)}s  ${text}`);
  const removeSignalHandlers = stopAllOnSignals(() => console.error(`logs kept in ${dir}`));
  const mock = (kind: string, port: number, extra: string[] = []) =>
    roundabout(
      `${kind} :${port}`,
      ["mock", kind, "--port", String(port), ...extra],
      `${dir}/${kind}-${port}.log`,
    );

  console.log(
    `roundabout chaos: ${opts.durationMs / 1000} s, ${opts.concurrency} clients, transport ` +
      `${opts.transport}; logs in ${dir}`,
  );
  try {
    let backend1: Proc = mock("normal", p1);
    const others = [
      mock("normal", p2),
      mock("normal", p3),
      mock("flaky", pFlaky, [
        "--failure-rate",
        String(opts.failureRate),
        "--seed",
        String(opts.seed),
      ]),
      mock("delayed", pDelayed, ["--delay", "3s"]),
    ];
    await Promise.all([
      backend1.waitForPort(p1, 20_000),
      ...others.map((proc, i) => proc.waitForPort([p2, p3, pFlaky, pDelayed][i], 20_000)),
    ]);

    // The configuration, rewritten by the phases.
    let config = {
      listen: { hostname: "127.0.0.1", port: pBalancer },
      backends: [url(p1), url(p2), url(p3)] as (string | { url: string; weight: number })[],
      timeout: "1s",
      retryDowntime: "2s",
      // Five failures in a row eject, and 5 s of health forgives: the flaky backend stays
      // in rotation most of the time, so its failures keep being retried.
      passive: { failuresToEject: 5, maxEjection: "4s", healthySpell: "5s" },
      retryAfterSend: "all",
      transport: opts.transport,
      admin: { hostname: "127.0.0.1", port: pAdmin },
      accessLog: "off",
    };
    await Deno.writeTextFile(configPath, JSON.stringify(config, null, 2));
    const balancer = roundabout(
      "balancer",
      ["balance", "--config", configPath],
      `${dir}/balancer.log`,
    );
    await balancer.waitForPort(pBalancer, 20_000);
    await balancer.waitForPort(pAdmin, 20_000);
    console.log(
      `backends: 1 ${url(p1)} (killed and restarted), 2 ${url(p2)} (swapped), 3 ${url(p3)}; ` +
        `flaky ${url(pFlaky)} (${opts.failureRate * 100} % 500s); delayed ${
          url(pDelayed)
        } (3 s); ` +
        `balancer ${balancerUrl}, admin ${adminUrl}; timeout 1s, retryDowntime 2s, ` +
        `failuresToEject 5`,
    );

    // Counters, scraped on a schedule and before each change: a reload that removes a
    // backend drops its series from /metrics, so the last sample before is what is known.
    const names = [
      "roundabout_requests_total",
      "roundabout_retries_total",
      "roundabout_ejections_total",
    ];
    const highest: Samples = new Map();
    const keep = (samples: Samples | undefined) => {
      for (const [key, value] of samples ?? []) {
        highest.set(key, Math.max(highest.get(key) ?? 0, value));
      }
      return samples;
    };

    let phase = "kill";
    const tally = new Tally();
    const stopTraffic = new AbortController();
    const stopChaos = new AbortController();

    const worker = async (w: number) => {
      for (let i = w; !stopTraffic.signal.aborted; i++) {
        const kind = KINDS[i % KINDS.length];
        const at = phase;
        const body = JSON.stringify({ w, i });
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (kind === "POST+key") headers["idempotency-key"] = `chaos-${w}-${i}`;
        let outcome: string;
        try {
          const response = await fetch(kind === "GET" ? `${balancerUrl}/?i=${i}` : balancerUrl, {
            method: kind === "GET" ? "GET" : "POST",
            headers,
            body: kind === "GET" ? undefined : body,
            signal: AbortSignal.timeout(15_000),
          });
          tally.answeredBy(response.headers.get("x-app-url") ?? "none");
          const text = await response.text();
          outcome = String(response.status);
          if (response.status === 200 && kind !== "GET" && text !== body) {
            outcome = "200, wrong body";
          }
        } catch (error) {
          outcome = error instanceof DOMException && error.name === "TimeoutError"
            ? "client timeout"
            : `network error`;
        }
        tally.add(at, kind, outcome);
      }
    };

    const reconfigure = async (how: "file" | "reload" | "post", what: string) => {
      keep(await scrape(adminUrl, names));
      const text = JSON.stringify(config, null, 2);
      let result = "";
      if (how === "post") {
        const response = await fetch(`${adminUrl}/config`, { method: "POST", body: text });
        result = response.ok ? "applied" : `refused: ${await response.text()}`;
        if (response.ok) await response.body?.cancel();
      } else {
        await Deno.writeTextFile(`${configPath}.tmp`, text);
        await Deno.rename(`${configPath}.tmp`, configPath); // as an editor saves
        if (how === "reload") {
          const response = await fetch(`${adminUrl}/reload`, { method: "POST" });
          result = response.ok ? "applied" : `refused: ${await response.text()}`;
          if (response.ok) await response.body?.cancel();
        } else {
          result = await applied(adminUrl, config, 3_000)
            ? "applied by the file watch"
            : "NOT applied within 3 s";
        }
      }
      event(
        `reload (${
          how === "file"
            ? "file rewrite"
            : how === "reload"
            ? "file + POST /reload"
            : "POST /config"
        }): ${what}: ${result}`,
      );
      keep(await scrape(adminUrl, names));
    };

    let kills = 0;
    let restarts = 0;
    const killLoop = async () => {
      await sleep(1_000, stopChaos.signal);
      while (!stopChaos.signal.aborted) {
        await backend1.stop("SIGKILL", 1_000);
        kills++;
        event("backend 1 killed (SIGKILL)");
        await sleep(2_000, stopChaos.signal);
        const started = performance.now();
        backend1 = mock("normal", p1);
        await backend1.waitForPort(p1, 20_000);
        restarts++;
        event(
          `backend 1 restarted (listening after ${(performance.now() - started).toFixed(0)} ms)`,
        );
        await sleep(2_000, stopChaos.signal);
      }
    };

    const until = (fraction: number) =>
      sleep(Math.max(0, fraction * opts.durationMs - elapsed()), stopChaos.signal);
    // A phase begins once its configuration is in force: requests sent before count
    // under the phase whose configuration they met.
    const phases = async () => {
      event(`phase "kill": backend 1 killed every ~4 s, back 2 s later`);
      await until(0.25);
      config = { ...config, backends: [url(p1), url(pDelayed), url(p3)] };
      await reconfigure("reload", "backend 2 = delayed (3 s, past the 1 s timeout)");
      phase = "slow";
      event(`phase "slow"`);
      await until(0.5);
      config = {
        ...config,
        backends: [url(p1), url(pFlaky), url(p3)],
        retryAfterSend: "idempotent",
      };
      await reconfigure("reload", "backend 2 = flaky, retryAfterSend idempotent");
      phase = "flaky, idempotent";
      event(`phase "flaky, idempotent"`);
      await until(0.75);
      config = { ...config, retryAfterSend: "all" };
      await reconfigure("file", "retryAfterSend all");
      phase = "reloads";
      event(`phase "reloads"`);
      const ways = ["reload", "post", "file"] as const;
      for (let n = 0; elapsed() < opts.durationMs - 1_500 && !stopChaos.signal.aborted; n++) {
        await sleep(1_500, stopChaos.signal);
        const heavy = n % 2 === 0;
        config = {
          ...config,
          backends: [url(p1), url(pFlaky), heavy ? { url: url(p3), weight: 2 } : url(p3)],
          timeout: heavy ? "1500ms" : "1s",
        };
        await reconfigure(
          ways[n % ways.length],
          `backend 3 weight ${heavy ? 2 : 1}, timeout ${config.timeout}`,
        );
      }
    };

    const scraper = async () => {
      while (!stopChaos.signal.aborted) {
        keep(await scrape(adminUrl, names));
        await sleep(500, stopChaos.signal);
      }
    };

    t0 = performance.now();
    const workers = Array.from({ length: opts.concurrency }, (_, w) => worker(w));
    const chaos = [killLoop(), phases(), scraper()];
    await sleep(opts.durationMs);
    stopChaos.abort();
    await Promise.all(chaos);
    stopTraffic.abort();
    await Promise.all(workers);
    event("traffic stopped; every request answered");
    // Let the balancer finish its bookkeeping of the last answers.
    await sleep(300);
    const final = keep(await scrape(adminUrl, names));
    if (final === undefined) {
      throw new Error(`the admin API did not answer /metrics:\n${balancer.tail()}`);
    }
    if (balancer.exited) throw new Error(`the balancer exited:\n${balancer.tail()}`);
    const ejectionLines = (await Deno.readTextFile(`${dir}/balancer.log`)).split("\n")
      .filter((line) => line.includes("marked failed")).length;

    return report({ tally, final, highest, kills, restarts, ejectionLines, balancerUrl });
  } finally {
    await stopAll();
    removeSignalHandlers();
  }
}

/** Polls GET /config until the timeout, retry rule and backends in force are `expected`'s. */
async function applied(
  adminUrl: string,
  expected: { timeout: string; retryAfterSend: string; backends: unknown[] },
  withinMs: number,
): Promise<boolean> {
  const shape = (c: typeof expected) => JSON.stringify([c.timeout, c.retryAfterSend, c.backends]);
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${adminUrl}/config`);
      const body = await response.json();
      if (body.config && shape(body.config) === shape(expected)) return true;
    } catch { /* try again */ }
    await sleep(50);
  }
  return false;
}

interface Findings {
  readonly tally: Tally;
  readonly final: Samples;
  readonly highest: Samples;
  readonly kills: number;
  readonly restarts: number;
  readonly ejectionLines: number;
  readonly balancerUrl: string;
}

function report(f: Findings): number {
  const { tally, final, highest } = f;
  const rows = tally.rows();
  const sent = tally.sum(() => true);
  const out: string[] = [""];
  out.push(
    `requests sent: ${count(sent)} (${
      KINDS.map((k) => `${k} ${count(tally.sum((_, kind) => kind === k))}`).join(", ")
    })`,
  );

  const byOutcome = new Map<string, number>();
  for (const [, , outcome, n] of rows) byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + n);
  out.push(
    `answered by status: ${[...byOutcome].sort().map(([o, n]) => `${o}: ${count(n)}`).join(", ")}`,
  );
  out.push(
    `chaos: backend 1 killed ${f.kills} times, restarted ${f.restarts} times; ${f.ejectionLines} ejections logged by the balancer`,
  );
  out.push(
    `retried (roundabout_retries_total): ${count(total(final, "roundabout_retries_total"))}`,
  );

  out.push("", "client-visible failures by phase (failed / sent):");
  const phases = [...new Set(rows.map((r) => r[0]))];
  const header = `  ${"phase".padEnd(20)}${KINDS.map((k) => k.padEnd(22)).join("")}`;
  out.push(header);
  for (const phase of phases) {
    const cells = KINDS.map((kind) => {
      const n = tally.sum((p, k) => p === phase && k === kind);
      const bad = rows.filter(([p, k, o]) => p === phase && k === kind && failed(o));
      const what = bad.map(([, , o, m]) => `${o}×${m}`).join(" ");
      return `${tally.sum((p, k, o) => p === phase && k === kind && failed(o))}/${n}${
        what ? ` (${what})` : ""
      }`
        .padEnd(22);
    });
    out.push(`  ${phase.padEnd(20)}${cells.join("")}`);
  }
  const idempotentFailed = tally.sum((_, k, o) => IDEMPOTENT.has(k) && failed(o));
  const idempotentSent = tally.sum((_, k) => IDEMPOTENT.has(k));
  const plainFailed = tally.sum((_, k, o) => !IDEMPOTENT.has(k) && failed(o));
  const plainSent = tally.sum((_, k) => !IDEMPOTENT.has(k));
  out.push(
    `idempotent (GET, POST with Idempotency-Key): ${count(idempotentFailed)} failed of ${
      count(idempotentSent)
    }`,
    `non-idempotent (POST): ${count(plainFailed)} failed of ${count(plainSent)}` +
      (plainFailed > 0
        ? " (not replayed by design where retryAfterSend is idempotent, or when broken after sending)"
        : ""),
  );

  // The balancer's count against the clients'.
  out.push("", "the balancer's count (roundabout_requests_total) against the clients':");
  const perBackend = (samples: Samples) => {
    const map = new Map<string, number>();
    for (const [key, value] of samples) {
      if (!key.startsWith("roundabout_requests_total{")) continue;
      const backend = /backend="([^"]*)"/.exec(key)?.[1] ?? "?";
      map.set(backend, (map.get(backend) ?? 0) + value);
    }
    return map;
  };
  const now = perBackend(final);
  const ever = perBackend(highest);
  const backends = [...new Set([...tally.byBackend.keys(), ...ever.keys()])].sort();
  let exact = true;
  for (const backend of backends) {
    const client = tally.byBackend.get(backend) ?? 0;
    const inForce = now.get(backend);
    const seen = ever.get(backend) ?? 0;
    const line = inForce !== undefined
      ? `${count(inForce)} counted, ${count(client)} seen by clients: ${
        inForce === client ? "agree" : `DIFFER by ${inForce - client}`
      }`
      : `removed by a reload, so its series left /metrics; last scraped ${count(seen)}, ` +
        `${count(client)} seen by clients (${
          client - seen
        } answered between the last scrape and the removal)`;
    if (inForce !== undefined && inForce !== client) exact = false;
    out.push(`  ${backend.padEnd(24)} ${line}`);
  }
  const counted = total(final, "roundabout_requests_total");
  const countedEver = total(highest, "roundabout_requests_total");
  const answered = [...tally.byBackend.values()].reduce((a, b) => a + b, 0);
  out.push(
    `  total: /metrics now sums to ${count(counted)}; with removed backends' last samples ` +
      `${count(countedEver)}; clients sent ${count(sent)} and got ${count(answered)} responses ` +
      `(${count(sent - answered)} without one).`,
  );
  out.push(
    exact
      ? "  agree for every backend still configured; the shortfall of the total is requests answered by backends that reloads removed (admin/metrics.ts drops their series)."
      : "  DISAGREE for a backend still configured: see above.",
  );

  const pass = idempotentFailed === 0 && exact;
  out.push(
    "",
    pass
      ? `PASS: zero client-visible failures for ${
        count(idempotentSent)
      } idempotent requests, counts agree`
      : `FAIL: ${idempotentFailed} idempotent failures${exact ? "" : ", counts disagree"}`,
  );
  console.log(out.join("\n"));
  return pass ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(`chaos: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
