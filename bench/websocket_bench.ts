/**
 * Messages per second of a small text message echoed over one WebSocket, straight to a Deno
 * echo backend and through the balancer, each in its own process; then the balancer's RSS
 * with N open WebSockets.
 *
 *     deno run -A bench/websocket_bench.ts [--messages 50000] [--window 64] [--sockets 1000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startBalancer } from "../balancer/server.ts";

const args = parseArgs({
  options: {
    role: { type: "string" },
    port: { type: "string", default: "0" },
    backend: { type: "string" },
    messages: { type: "string", default: "50000" },
    window: { type: "string", default: "64" },
    sockets: { type: "string", default: "1000" },
  },
});
const v = args.values;

if (v.role === "backend") {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (e) => socket.send(e.data);
    return response;
  });
  console.log(`listening ${server.addr.port}`);
} else if (v.role === "balancer") {
  const running = startBalancer({ port: 0, backends: [{ url: v.backend!, weight: 1 }] });
  console.log(`listening ${running.port}`);
  setInterval(() => {}, 1 << 30);
} else {
  await main();
}

/** Starts this script in `role`; resolves with the child and the port it listens on. */
async function child(role: string, extra: string[] = []) {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--role", role, ...extra],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/listening (\d+)/.test(text)) text += (await reader.read()).value ?? "";
  reader.releaseLock();
  return { process, port: Number(/listening (\d+)/.exec(text)![1]) };
}

/** Echoes `count` messages with at most `window` unanswered; messages per second. */
async function echoRate(url: string, count: number, window: number): Promise<number> {
  const socket = new WebSocket(url);
  await new Promise((resolve) => socket.onopen = resolve);
  let sent = 0;
  let received = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    socket.onmessage = () => {
      received++;
      if (received === count) resolve();
      else if (sent < count) sent++, socket.send("hello, websocket");
    };
    for (; sent < Math.min(window, count); sent++) socket.send("hello, websocket");
  });
  const seconds = (performance.now() - start) / 1000;
  socket.close();
  return count / seconds;
}

/** The RSS of process `pid` in MiB, from /proc. */
function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function main(): Promise<void> {
  const count = Number(v.messages);
  const window = Number(v.window);
  const backend = await child("backend");
  const balancer = await child("balancer", ["--backend", `http://127.0.0.1:${backend.port}`]);
  try {
    for (let round = 1; round <= 2; round++) {
      const direct = await echoRate(`ws://127.0.0.1:${backend.port}/`, count, window);
      const through = await echoRate(`ws://127.0.0.1:${balancer.port}/`, count, window);
      console.log(
        `round ${round}: direct ${Math.round(direct)} msg/s, through the balancer ` +
          `${Math.round(through)} msg/s (${(through / direct).toFixed(2)}×)`,
      );
    }
    const before = rssMiB(balancer.process.pid);
    const open: WebSocket[] = [];
    for (let i = 0; i < Number(v.sockets); i++) {
      const socket = new WebSocket(`ws://127.0.0.1:${balancer.port}/`);
      await new Promise((resolve) => socket.onopen = resolve);
      open.push(socket);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = rssMiB(balancer.process.pid);
    console.log(
      `balancer RSS: ${before.toFixed(1)} MiB idle, ${after.toFixed(1)} MiB with ${open.length} ` +
        `open WebSockets (${((after - before) * 1024 / open.length).toFixed(1)} KiB each)`,
    );
    for (const socket of open) socket.close();
  } finally {
    balancer.process.kill();
    backend.process.kill();
    await Promise.all([balancer.process.status, backend.process.status]);
  }
}
