// Over 300 lines: every subject is declared here as data, so names and report order live in one file.
/**
 * What is measured: the balancer and what it is compared with. Subjects are data; the
 * balancer's variants are one line each in {@linkcode BALANCER_VARIANTS}, and its command line
 * is built in one place, {@linkcode balancerCommand}. Upstream client candidates (not shipped)
 * are one line each in {@linkcode CANDIDATE_VARIANTS}, started by {@linkcode candidateCommand}.
 *
 * @module
 */

import { denoRun, REPO_DIR } from "../harness/deno_run.ts";
import type { BenchCert } from "../harness/certs.ts";
import { type Proc, startReady } from "../harness/processes.ts";
import { installed } from "../harness/programs.ts";
import { renderFile } from "../harness/templates.ts";
import type { Scenario } from "./scenarios.ts";

/** This folder. */
export const BENCH_DIR: string = `${REPO_DIR}/bench`;

/** What a subject needs to start. */
export interface StartContext {
  /** Temporary folder for rendered configs, logs and pid files. */
  readonly dir: string;
  /** Port the subject listens on, on 127.0.0.1. */
  readonly port: number;
  /** Base URLs of the three backends, e.g. `http://127.0.0.1:18101`. */
  readonly backends: readonly string[];
  /** Extra flags for `deno run` of Deno subjects, e.g. `--cpu-prof`. */
  readonly denoFlags?: readonly string[];
  /** Serve HTTPS with these files (scenarios with `tls`); plain HTTP when absent. */
  readonly tls?: BenchCert;
  /** CPUs to pin the subject to (`taskset -c`); unset: not pinned. */
  readonly cpus?: string;
}

/** A started subject. */
export interface Running {
  /** Base URL to send load to. */
  readonly url: string;
  /** Its process, absent for `direct`. CPU and RSS are measured on its process tree. */
  readonly proc?: Proc;
}

/** Something wrk sends load to. */
export interface Subject {
  readonly name: string;
  readonly description: string;
  /** Whether the subject runs Deno code (only those can be profiled). */
  readonly deno: boolean;
  /** Why it cannot run on this machine, or `undefined` when it can. */
  unavailable(): Promise<string | undefined>;
  /** Whether the scenario means anything for this subject. */
  handles(scenario: Scenario): boolean;
  start(ctx: StartContext): Promise<Running>;
}

const SEMI1 = ["--max-semi-space-size=1"];

/**
 * The balancer's variants: a name and the flags that make it. Adding or removing a variant is
 * one line here.
 */
export const BALANCER_VARIANTS: ReadonlyArray<{
  name: string;
  args: readonly string[];
  /** V8 flags (`deno run --v8-flags=…`), for trying a heap setting; none when absent. */
  v8?: readonly string[];
}> = [
  { name: "roundabout-fetch", args: ["--transport", "fetch"] },
  { name: "roundabout-http1", args: ["--transport", "http1"] },
  // The same client over node:net sockets instead of Deno.connect (the default).
  { name: "roundabout-http1-net", args: ["--transport", "http1-net"] },
  // V8's garbage collector on the main thread only: does GC on helper threads cost more CPU
  // than it saves when the cores are contended?
  { name: "roundabout-http1-stgc", args: ["--transport", "http1"], v8: ["--single-threaded-gc"] },
  // FIFO admission (maxInFlight, default 64) off, and the earlier default 256: their effect
  // at 1,000 connections.
  { name: "roundabout-http1-ungated", args: ["--transport", "http1", "--max-in-flight", "0"] },
  { name: "roundabout-http1-gate64", args: ["--transport", "http1", "--max-in-flight", "64"] },
  { name: "roundabout-http1-gate256", args: ["--transport", "http1", "--max-in-flight", "256"] },
  { name: "roundabout-http1-w2", args: ["--transport", "http1", "--workers", "2"] },
  // Latency-aware balancing: what it changes when a backend turns slow (one-slow).
  { name: "roundabout-peak-ewma", args: ["--transport", "http1", "--policy", "peak-ewma"] },
  // A smaller young generation (1 MiB semi-spaces): less memory, more scavenges (see "Memory").
  { name: "roundabout-http1-semi1", args: ["--transport", "http1"], v8: SEMI1 },
  // Freed C-heap memory kept rather than handed back (memoryTrim off): what the trim saves.
  { name: "roundabout-http1-notrim", args: ["--transport", "http1", "--no-memory-trim"] },
  // V8's optimising compiler on the main thread instead of helper threads: 10 MiB less with
  // 1,000 idle connections, a worse p99 for the first seconds under load (bench/README.md).
  {
    name: "roundabout-http1-noconcjit",
    args: ["--transport", "http1"],
    v8: ["--no-concurrent-recompilation"],
  },
];

/** The balancer's entry point. */
export const BALANCER_MAIN = `${REPO_DIR}/main.ts`;

/**
 * The balancer's full command line – the one place that knows its CLI. The timeout and
 * retry downtime match nginx.conf's and haproxy.cfg's.
 */
export function balancerCommand(ctx: StartContext, variantArgs: readonly string[]): string[] {
  return denoRun(
    BALANCER_MAIN,
    ["balance", ...sharedSettings(ctx), "--access-log", "off", ...tlsArgs(ctx), ...variantArgs],
    { flags: ctx.denoFlags },
  );
}

/** Address, backends, per-try timeout and retry downtime, as the balancer's CLI takes them. */
function sharedSettings(ctx: StartContext): string[] {
  return [
    "--port",
    String(ctx.port),
    "--hostname",
    "127.0.0.1",
    ...ctx.backends.flatMap((url) => ["--backend", url]),
    "--timeout",
    "2s",
    "--retry-downtime",
    "10s",
  ];
}

/** `--tls-cert`, `--tls-key` when the scenario is over HTTPS. */
function tlsArgs(ctx: StartContext): string[] {
  return ctx.tls ? ["--tls-cert", ctx.tls.cert, "--tls-key", ctx.tls.key] : [];
}

/**
 * Benchmark candidates for the upstream client (issue 3): the real balancer with a transport
 * that is not shipped, run by bench/candidates/balance.ts. One line each.
 */
export const CANDIDATE_VARIANTS: ReadonlyArray<{ name: string; transport: string }> = [
  { name: "roundabout-node-http", transport: "node-http" },
  { name: "roundabout-undici", transport: "undici" },
];

/** The candidates' entry point. */
export const CANDIDATE_MAIN = `${BENCH_DIR}/candidates/balance.ts`;

/**
 * A candidate's command line: the balancer's settings as {@linkcode balancerCommand} gives
 * them to `main.ts balance` (2 s per-try timeout, 10 s retry downtime, no access log).
 */
export function candidateCommand(ctx: StartContext, transport: string): string[] {
  return denoRun(CANDIDATE_MAIN, ["--transport", transport, ...sharedSettings(ctx)], {
    flags: ctx.denoFlags,
  });
}

/** How long a subject may take to be ready. */
export const START_TIMEOUT_MS = 20_000;

/** The subject's base URL: https when the scenario is over TLS. */
function subjectUrl(ctx: StartContext): string {
  return `${ctx.tls ? "https" : "http"}://127.0.0.1:${ctx.port}`;
}

/** The line a Deno subject prints when it is ready. */
function listeningLine(ctx: StartContext): string {
  return `listening on ${subjectUrl(ctx)}`;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** `cmd` under `taskset -c` when the subject is pinned (taskset execs it: same pid). */
function pinned(ctx: StartContext, cmd: string[]): string[] {
  return ctx.cpus === undefined ? cmd : ["taskset", "-c", ctx.cpus, ...cmd];
}

/** Starts a Deno subject and waits for its listening line. */
async function startDeno(ctx: StartContext, name: string, cmd: string[]): Promise<Running> {
  const proc = await startReady(
    { name, cmd: pinned(ctx, cmd), cwd: REPO_DIR, logPath: `${ctx.dir}/${name}.log` },
    (proc) => proc.waitForOutput(listeningLine(ctx), START_TIMEOUT_MS),
  );
  return { url: subjectUrl(ctx), proc };
}

/** Starts a non-Deno server and waits until its port accepts connections. */
async function startServer(ctx: StartContext, name: string, cmd: string[]): Promise<Running> {
  const proc = await startReady(
    { name, cmd: pinned(ctx, cmd), logPath: `${ctx.dir}/${name}.log` },
    (proc) => proc.waitForPort(ctx.port, START_TIMEOUT_MS),
  );
  return { url: subjectUrl(ctx), proc };
}

const always = () => true;
/** Subjects that cannot terminate TLS sit the HTTPS scenarios out. */
const plainOnly = (scenario: Scenario) => !scenario.tls;

const direct: Subject = {
  name: "direct",
  description: "straight to one nginx backend, no proxy (the ceiling)",
  deno: false,
  unavailable: () => Promise.resolve(undefined),
  // One backend only: a slow or failing third backend does not exist for it. No process of
  // its own either, so nothing to measure the memory of in an idle scenario.
  handles: (scenario) =>
    scenario.backends === "healthy" && scenario.kind !== "idle" && !scenario.tls,
  start: (ctx) => Promise.resolve({ url: ctx.backends[0] }),
};

const nginx: Subject = {
  name: "nginx",
  description: "nginx 1 worker, round robin, upstream keep-alive (bench/nginx_proxy.conf)",
  deno: false,
  unavailable: async () =>
    await installed("nginx") ? undefined : "nginx not installed (sudo apt-get install nginx)",
  handles: always,
  async start(ctx) {
    const servers = ctx.backends
      .map((url) => `        server ${new URL(url).host} max_fails=1 fail_timeout=10s;`)
      .join("\n");
    const conf = await renderFile(`${BENCH_DIR}/nginx_proxy.conf`, ctx.dir, {
      PORT: ctx.port,
      UPSTREAM_SERVERS: servers,
      LISTEN_TLS: ctx.tls ? " ssl http2" : "",
      TLS_FILES: ctx.tls
        ? `ssl_certificate ${ctx.tls.cert};\n        ssl_certificate_key ${ctx.tls.key};`
        : "",
    });
    return startServer(ctx, "nginx", [
      "nginx",
      "-e",
      `${ctx.dir}/nginx-proxy-error.log`,
      "-p",
      ctx.dir,
      "-c",
      conf,
    ]);
  },
};

const haproxy: Subject = {
  name: "haproxy",
  description: "HAProxy 1 thread, roundrobin, http-reuse always (bench/haproxy.cfg)",
  deno: false,
  unavailable: async () =>
    await installed("haproxy") ? undefined : "haproxy not installed (sudo apt-get install haproxy)",
  handles: always,
  async start(ctx) {
    const servers = ctx.backends
      .map((url, i) => `    server b${i + 1} 127.0.0.1:${portOf(url)}`)
      .join("\n");
    const conf = await renderFile(`${BENCH_DIR}/haproxy.cfg`, ctx.dir, {
      PORT: ctx.port,
      HAPROXY_SERVERS: servers,
      BIND_TLS: ctx.tls ? ` ssl crt ${ctx.tls.combined} alpn h2,http/1.1` : "",
    });
    return startServer(ctx, "haproxy", ["haproxy", "-db", "-f", conf]);
  },
};

const naive: Subject = {
  name: "naive",
  description: "Deno.serve + one fetch per request, round robin (bench/naive_proxy.ts)",
  deno: true,
  unavailable: () => Promise.resolve(undefined),
  handles: plainOnly,
  start: (ctx) =>
    startDeno(
      ctx,
      "naive",
      denoRun(
        `${BENCH_DIR}/naive_proxy.ts`,
        ["--port", String(ctx.port), ...ctx.backends.flatMap((url) => ["--backend", url])],
        { flags: ctx.denoFlags, allow: ["net"] },
      ),
    ),
};

/**
 * The floors: the crudest keep-alive proxies on Deno.serve (bench/floors/, copied from the
 * shared yardsticks of PLATFORM.md), so every run says how far Roundabout is from the least a
 * Deno proxy can cost, beside how far it is from nginx.
 */
const floors: Subject[] = [
  {
    name: "floor-connect",
    file: "connect_floor.ts",
    what: "the floor: Deno.serve + pooled Deno.connect, no hygiene",
  },
  {
    name: "floor-net",
    file: "net_floor.ts",
    what: "the floor: Deno.serve + pooled node:net sockets, no hygiene",
  },
  // floor-net plus the fields both ways: what Deno's Headers cost any proxy that forwards
  // them, whatever its client.
  {
    name: "floor-net-fields",
    file: "net_fields_floor.ts",
    what: "floor-net forwarding the client's fields and the backend's, no hygiene",
  },
  // Ours: what the HTTP/1.1 client costs against the floors, and the balancer's features
  // against it.
  {
    name: "floor-transport",
    file: "transport_floor.ts",
    what: "Deno.serve + Roundabout's http1 transport, fields forwarded, no balancer",
  },
].map(({ name, file, what }) => ({
  name,
  description: `${what} (bench/floors/${file})`,
  deno: true,
  unavailable: () => Promise.resolve(undefined),
  handles: plainOnly,
  start: (ctx) =>
    startDeno(
      ctx,
      name,
      denoRun(`${BENCH_DIR}/floors/${file}`, [String(ctx.port), ...ctx.backends], {
        flags: ctx.denoFlags,
        allow: ["net"],
      }),
    ),
}));

/** The memory floor: Deno.serve answering on its own, for the idle scenarios (no proxying). */
const staticFloor: Subject = {
  name: "floor-static",
  description: "the memory floor: Deno.serve answering a fixed body, no upstream " +
    "(bench/floors/static_floor.ts)",
  deno: true,
  unavailable: () => Promise.resolve(undefined),
  handles: (scenario) => scenario.kind === "idle",
  start: (ctx) =>
    startDeno(
      ctx,
      "floor-static",
      denoRun(`${BENCH_DIR}/floors/static_floor.ts`, [String(ctx.port)], {
        flags: ctx.denoFlags,
        allow: ["net"],
      }),
    ),
};

let balancerCheck: Promise<string | undefined> | undefined;

/** Whether `main.ts balance --help` works yet (the balancer is being written). */
function balancerUnavailable(): Promise<string | undefined> {
  balancerCheck ??= (async () => {
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", BALANCER_MAIN, "balance", "--help"],
        cwd: REPO_DIR,
        env: { NO_COLOR: "1" },
        stdout: "null",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      if (out.code === 0) return undefined;
      const why = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-1)[0];
      return `balancer CLI not usable yet: \`main.ts balance --help\` exited ${out.code}` +
        (why ? ` (${why.slice(0, 160)})` : "");
    } catch (error) {
      return `balancer CLI not usable yet: ${error instanceof Error ? error.message : error}`;
    }
  })();
  return balancerCheck;
}

const balancers: Subject[] = BALANCER_VARIANTS.map(({ name, args, v8 }) => ({
  name,
  description: `Roundabout ${args.join(" ")} (main.ts balance)` +
    (v8 ? ` with --v8-flags=${v8.join(",")}` : ""),
  deno: true,
  unavailable: balancerUnavailable,
  handles: always,
  start: (ctx) => {
    const flags = [...ctx.denoFlags ?? [], ...v8 ? [`--v8-flags=${v8.join(",")}`] : []];
    return startDeno(ctx, name, balancerCommand({ ...ctx, denoFlags: flags }, args));
  },
}));

const candidates: Subject[] = CANDIDATE_VARIANTS.map(({ name, transport }) => ({
  name,
  description: `Roundabout with the ${transport} candidate transport (bench/candidates/balance.ts)`,
  deno: true,
  unavailable: () => Promise.resolve(undefined),
  handles: plainOnly,
  start: (ctx) => startDeno(ctx, name, candidateCommand(ctx, transport)),
}));

/** Every subject, in report order. */
export const SUBJECTS: readonly Subject[] = [
  direct,
  nginx,
  haproxy,
  naive,
  ...floors,
  staticFloor,
  ...balancers,
  ...candidates,
];

/** Looks up a subject by name. */
export function subjectByName(name: string): Subject | undefined {
  return SUBJECTS.find((s) => s.name === name);
}
