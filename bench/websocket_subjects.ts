/**
 * WebSocket beside nginx and HAProxy: one Deno echo backend (`Deno.upgradeWebSocket`, this
 * script with `--role backend`) and in front of it nginx (bench/nginx_websocket.conf),
 * HAProxy (bench/haproxy_websocket.cfg), Roundabout (`main.ts balance --backend`), or nothing
 * (direct). The load, from this process: N connections, each echoing a small text message
 * with K outstanding, for D seconds after a one-second warm-up. Reported: messages/s, p99
 * round trip, the subject's CPU per 1,000 messages and peak RSS under load, then its RSS with
 * `--idle` open idle WebSockets.
 *
 *     deno run -A bench/websocket_subjects.ts [--subjects nginx,haproxy,roundabout,direct]
 *       [--connections 50] [--outstanding 8] [--seconds 5] [--idle 1000] [--base-port 18900]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { denoRun } from "../harness/deno_run.ts";
import { type Proc, startReady, stopAll, stopAllOnSignals } from "../harness/processes.ts";
import { cpuSeconds, rssKiB, RssSampler } from "../harness/procfs.ts";
import { renderFile } from "../harness/templates.ts";
import { balancerCommand, BENCH_DIR } from "./subjects.ts";

const { values: v } = parseArgs({
  options: {
    role: { type: "string" },
    port: { type: "string" },
    subjects: { type: "string", default: "nginx,haproxy,roundabout,direct" },
    connections: { type: "string", default: "50" },
    outstanding: { type: "string", default: "8" },
    seconds: { type: "string", default: "5" },
    idle: { type: "string", default: "1000" },
    "base-port": { type: "string", default: "18900" },
  },
});

const MESSAGE = "hello, websocket";
const START_TIMEOUT_MS = 20_000;

if (v.role === "backend") {
  Deno.serve({ hostname: "127.0.0.1", port: Number(v.port), onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  });
} else if (import.meta.main) {
  await main();
}

/** What one subject does under load. */
interface Row {
  subject: string;
  messagesPerSecond: number;
  p99Ms: number;
  cpuMsPer1k?: number;
  rssLoadMiB?: number;
  rssIdleMiB?: number;
  idleOpen: number;
}

/** Starts `name` on `port` in front of the echo backend; `undefined` for direct. */
async function startSubject(
  name: string,
  dir: string,
  port: number,
  backendPort: number,
): Promise<Proc | undefined> {
  const logPath = `${dir}/${name}.log`;
  const values = { PORT: port, BACKEND_PORT: backendPort };
  const byPort = (proc: Proc) => proc.waitForPort(port, START_TIMEOUT_MS);
  if (name === "direct") return undefined;
  if (name === "nginx") {
    const conf = await renderFile(`${BENCH_DIR}/nginx_websocket.conf`, dir, values);
    const cmd = ["nginx", "-e", `${dir}/nginx-ws-error.log`, "-p", dir, "-c", conf];
    return startReady({ name, cmd, logPath }, byPort);
  }
  if (name === "haproxy") {
    const conf = await renderFile(`${BENCH_DIR}/haproxy_websocket.cfg`, dir, values);
    return startReady({ name, cmd: ["haproxy", "-db", "-f", conf], logPath }, byPort);
  }
  if (name === "roundabout") {
    const ctx = { dir, port, backends: [`http://127.0.0.1:${backendPort}`] };
    return startReady({ name, cmd: balancerCommand(ctx, []), logPath }, byPort);
  }
  throw new Error(`unknown subject "${name}": expected nginx, haproxy, roundabout or direct`);
}

/** Opens one WebSocket; rejects when it closes before opening. */
function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.onopen = () => resolve(socket);
    socket.onclose = () => reject(new Error(`${url}: closed before it opened`));
  });
}

/** Opens `count` WebSockets, `batch` at a time. */
async function openMany(url: string, count: number, batch = 50): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  while (sockets.length < count) {
    const n = Math.min(batch, count - sockets.length);
    sockets.push(...await Promise.all(Array.from({ length: n }, () => open(url))));
  }
  return sockets;
}

/** Closes `sockets` and waits until each one is closed. */
async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(sockets.map((socket) =>
    new Promise<void>((resolve) => {
      if (socket.readyState === WebSocket.CLOSED) return resolve();
      socket.onclose = () => resolve();
      socket.close();
    })
  ));
}

/**
 * Each of `sockets` echoes with `outstanding` messages in flight for `seconds`; the messages
 * answered in that time and their round trips in ms. Echoes keep their order on one socket,
 * so the oldest send time is the answered message's.
 */
async function echoLoad(sockets: WebSocket[], outstanding: number, seconds: number) {
  const rtts: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(sockets.map((socket) =>
    new Promise<void>((resolve) => {
      const sentAt: number[] = [];
      socket.onmessage = () => {
        const now = performance.now();
        rtts.push(now - sentAt.shift()!);
        if (now < end) sentAt.push(now), socket.send(MESSAGE);
        else if (sentAt.length === 0) resolve();
      };
      for (let i = 0; i < outstanding; i++) sentAt.push(performance.now()), socket.send(MESSAGE);
    })
  ));
  return { messages: rtts.length, rtts };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

/** Runs the load through `url` and then holds `idle` sockets open; `proc` is measured. */
async function measure(subject: string, url: string, proc: Proc | undefined): Promise<Row> {
  const connections = Number(v.connections);
  const outstanding = Number(v.outstanding);
  const sockets = await openMany(url, connections);
  await echoLoad(sockets, outstanding, 1); // warm-up
  const cpuBefore = proc ? cpuSeconds(proc.pid) : 0;
  const sampler = proc ? new RssSampler(proc.pid) : undefined;
  const start = performance.now();
  const { messages, rtts } = await echoLoad(sockets, outstanding, Number(v.seconds));
  const elapsed = (performance.now() - start) / 1000;
  const rssLoadMiB = sampler ? sampler.stop() / 1024 : undefined;
  const cpuMsPer1k = proc ? (cpuSeconds(proc.pid) - cpuBefore) * 1e6 / messages : undefined;
  await closeAll(sockets);
  const idle = await openMany(url, Number(v.idle));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const rssIdleMiB = proc ? rssKiB(proc.pid) / 1024 : undefined;
  await closeAll(idle);
  return {
    subject,
    messagesPerSecond: messages / elapsed,
    p99Ms: percentile(rtts.sort((a, b) => a - b), 0.99),
    cpuMsPer1k,
    rssLoadMiB,
    rssIdleMiB,
    idleOpen: idle.length,
  };
}

function table(rows: Row[]): string {
  const f = (x: number | undefined, digits = 1) => x === undefined ? "—" : x.toFixed(digits);
  const idle = rows[0]?.idleOpen ?? 0;
  return [
    `| subject | messages/s | p99 round trip ms | CPU ms per 1k messages | RSS under load MiB | RSS with ${idle} idle MiB |`,
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.subject} | ${Math.round(r.messagesPerSecond)} | ${f(r.p99Ms, 2)} | ` +
      `${f(r.cpuMsPer1k, 2)} | ${f(r.rssLoadMiB)} | ${f(r.rssIdleMiB)} |`
    ),
  ].join("\n");
}

async function main(): Promise<void> {
  const unsubscribe = stopAllOnSignals();
  const base = Number(v["base-port"]);
  const dir = await Deno.makeTempDir({ prefix: "roundabout-ws-bench-" });
  const backendPort = base;
  const rows: Row[] = [];
  try {
    const backend = await startReady({
      name: "echo backend",
      cmd: denoRun(import.meta.filename!, ["--role", "backend", "--port", String(base)], {
        allow: ["net"],
      }),
      logPath: `${dir}/backend.log`,
    }, (proc) => proc.waitForPort(backendPort, START_TIMEOUT_MS));
    const names = v.subjects.split(",").map((s) => s.trim()).filter((s) => s !== "");
    for (const [i, name] of names.entries()) {
      const port = base + 1 + i;
      const proc = await startSubject(name, dir, port, backendPort);
      try {
        rows.push(await measure(name, `ws://127.0.0.1:${proc ? port : backendPort}/`, proc));
        console.error(`${name}: done`);
      } finally {
        await proc?.stop();
      }
    }
    await backend.stop();
    console.log(
      `${v.connections} connections × ${v.outstanding} outstanding, ${v.seconds} s, ` +
        `message "${MESSAGE}"\n\n${table(rows)}`,
    );
  } finally {
    await stopAll();
    unsubscribe();
    await Deno.remove(dir, { recursive: true });
  }
}
