/**
 * The chaos itself, while the clients send: backend 1 killed and restarted over and over, the
 * four phases that rewrite the configuration, and the balancer's counters scraped on a
 * schedule and around every change. Everything is timed from {@linkcode ChaosRun.start}.
 *
 * @module
 */

import type { Proc } from "../harness/processes.ts";
import { mockApp, type Samples, scrape, sleep } from "./_common.ts";

/** The loopback ports of one run. */
export interface ChaosPorts {
  readonly backend1: number;
  readonly backend2: number;
  readonly backend3: number;
  readonly flaky: number;
  readonly delayed: number;
  readonly balancer: number;
  readonly admin: number;
}

/** The balancer's configuration file, rewritten by the phases. */
export interface ChaosConfig {
  readonly listen: { hostname: string; port: number };
  readonly backends: (string | { url: string; weight: number })[];
  readonly timeout: string;
  readonly retryDowntime: string;
  readonly passive: {
    failuresToEject: number;
    backoff: string;
    maxEjection: string;
    healthySpell: string;
  };
  readonly retryAfterSend: string;
  readonly transport: string;
  readonly admin: { hostname: string; port: number };
  readonly accessLog: string;
}

/** The counters scraped from the balancer. */
const NAMES = [
  "roundabout_requests_total",
  "roundabout_retries_total",
  "roundabout_ejections_total",
];

export const url = (port: number) => `http://127.0.0.1:${port}`;

/** How a reconfiguration reaches the balancer. */
type How = "file" | "reload" | "post";
const HOW: Record<How, string> = {
  file: "file rewrite",
  reload: "file + POST /reload",
  post: "POST /config",
};

export class ChaosRun {
  /** The phase whose configuration is in force: requests are counted under it. */
  phase = "kill";
  kills = 0;
  restarts = 0;
  /**
   * The highest value of every counter: a reload that removes a backend drops its series
   * from /metrics, so the last sample before is what is known.
   */
  readonly highest: Samples = new Map();
  readonly #stop = new AbortController();
  #t0 = performance.now();

  constructor(
    readonly dir: string,
    readonly ports: ChaosPorts,
    readonly configPath: string,
    readonly durationMs: number,
    public config: ChaosConfig,
    public backend1: Proc,
  ) {}

  get adminUrl(): string {
    return url(this.ports.admin);
  }

  elapsed(): number {
    return performance.now() - this.#t0;
  }

  /** Prints `text` with the time since the start. */
  event(text: string): void {
    console.log(`${(this.elapsed() / 1000).toFixed(1).padStart(6)}s  ${text}`);
  }

  /** Resets the clock (traffic starts now). */
  resetClock(): void {
    this.#t0 = performance.now();
  }

  /** Starts the kill loop, the phases and the scraper; they end after {@linkcode stop}. */
  start(): Promise<void>[] {
    return [this.#killLoop(), this.#phases(), this.#scraper()];
  }

  stop(): void {
    this.#stop.abort();
  }

  /** Scrapes the counters, keeping the highest of each. */
  async scrape(): Promise<Samples | undefined> {
    const samples = await scrape(this.adminUrl, NAMES);
    for (const [key, value] of samples ?? []) {
      this.highest.set(key, Math.max(this.highest.get(key) ?? 0, value));
    }
    return samples;
  }

  async #killLoop(): Promise<void> {
    const signal = this.#stop.signal;
    await sleep(1_000, signal);
    while (!signal.aborted) {
      await this.backend1.stop("SIGKILL", 1_000);
      this.kills++;
      this.event("backend 1 killed (SIGKILL)");
      await sleep(2_000, signal);
      const started = performance.now();
      this.backend1 = mockApp(this.dir, "normal", this.ports.backend1);
      await this.backend1.waitForPort(this.ports.backend1, 20_000);
      this.restarts++;
      this.event(
        `backend 1 restarted (listening after ${(performance.now() - started).toFixed(0)} ms)`,
      );
      await sleep(2_000, signal);
    }
  }

  #until(fraction: number): Promise<void> {
    return sleep(Math.max(0, fraction * this.durationMs - this.elapsed()), this.#stop.signal);
  }

  /**
   * A phase begins once its configuration is in force: requests sent before count under the
   * phase whose configuration they met.
   */
  async #phases(): Promise<void> {
    const { backend1, delayed, flaky, backend3 } = this.ports;
    this.event(`phase "kill": backend 1 killed every ~4 s, back 2 s later`);
    await this.#until(0.25);
    this.config = { ...this.config, backends: [url(backend1), url(delayed), url(backend3)] };
    await this.#reconfigure("reload", "backend 2 = delayed (3 s, past the 1 s timeout)");
    this.#enter("slow");
    await this.#until(0.5);
    this.config = {
      ...this.config,
      backends: [url(backend1), url(flaky), url(backend3)],
      retryAfterSend: "idempotent",
    };
    await this.#reconfigure("reload", "backend 2 = flaky, retryAfterSend idempotent");
    this.#enter("flaky, idempotent");
    await this.#until(0.75);
    this.config = { ...this.config, retryAfterSend: "all" };
    await this.#reconfigure("file", "retryAfterSend all");
    this.#enter("reloads");
    await this.#reloads();
  }

  #enter(phase: string): void {
    this.phase = phase;
    this.event(`phase "${phase}"`);
  }

  /** The last phase: every 1.5 s a weight and the timeout change, by each way in turn. */
  async #reloads(): Promise<void> {
    const { backend1, flaky, backend3 } = this.ports;
    const ways = ["reload", "post", "file"] as const;
    for (let n = 0; this.elapsed() < this.durationMs - 1_500 && !this.#stop.signal.aborted; n++) {
      await sleep(1_500, this.#stop.signal);
      const heavy = n % 2 === 0;
      this.config = {
        ...this.config,
        backends: [
          url(backend1),
          url(flaky),
          heavy ? { url: url(backend3), weight: 2 } : url(backend3),
        ],
        timeout: heavy ? "1500ms" : "1s",
      };
      await this.#reconfigure(
        ways[n % ways.length],
        `backend 3 weight ${heavy ? 2 : 1}, timeout ${this.config.timeout}`,
      );
    }
  }

  async #scraper(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      await this.scrape();
      await sleep(500, this.#stop.signal);
    }
  }

  /** Applies {@linkcode config} `how`, with the counters scraped before and after. */
  async #reconfigure(how: How, what: string): Promise<void> {
    await this.scrape();
    const text = JSON.stringify(this.config, null, 2);
    let result: string;
    if (how === "post") {
      result = await adminPost(`${this.adminUrl}/config`, text);
    } else {
      await Deno.writeTextFile(`${this.configPath}.tmp`, text);
      await Deno.rename(`${this.configPath}.tmp`, this.configPath); // as an editor saves
      if (how === "reload") result = await adminPost(`${this.adminUrl}/reload`);
      else {
        result = await applied(this.adminUrl, this.config, 3_000)
          ? "applied by the file watch"
          : "NOT applied within 3 s";
      }
    }
    this.event(`reload (${HOW[how]}): ${what}: ${result}`);
    await this.scrape();
  }
}

/** POSTs to the admin API: `applied`, or `refused: …` with the answer. */
async function adminPost(target: string, body?: string): Promise<string> {
  const response = await fetch(target, { method: "POST", body });
  const result = response.ok ? "applied" : `refused: ${await response.text()}`;
  if (response.ok) await response.body?.cancel();
  return result;
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
