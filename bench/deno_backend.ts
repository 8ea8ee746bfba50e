/**
 * A Deno backend for the benchmark, answering like nginx_backend.conf (`/echo` and `/small`
 * small JSON for any method, `/1k` and `/1m` bodies of that size):
 *
 * - `--mode normal`: stands in for nginx when nginx is not installed;
 * - `--mode slow`: answers only after `--delay` (default 3s, longer than the 2 s timeout);
 * - `--mode failing`: answers status 500 to every other request (500, 200, 500, …).
 *
 * ```sh
 * deno run --allow-net bench/deno_backend.ts --mode slow --port 8003 --delay 3s
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "normal" },
    port: { type: "string", default: "8003" },
    hostname: { type: "string", default: "127.0.0.1" },
    delay: { type: "string", default: "3s" },
  },
});
const delay = /^(\d+)(ms|s)$/.exec(values.delay);
const mode = values.mode;
if (!delay || (mode !== "normal" && mode !== "slow" && mode !== "failing")) {
  console.error("deno_backend: expected --mode normal|slow|failing and --delay like 3s or 500ms");
  Deno.exit(2);
}
const delayMs = Number(delay[1]) * (delay[2] === "s" ? 1000 : 1);

const json = { "content-type": "application/json" };
const binary = { "content-type": "application/octet-stream" };
const BODIES: Record<string, [Uint8Array<ArrayBuffer>, Record<string, string>]> = {
  "/echo": [new TextEncoder().encode('{"ok":true,"echo":"fixed"}'), json],
  "/small": [new TextEncoder().encode('{"ok":true}'), json],
  "/1k": [new Uint8Array(1024).fill(0x61), binary],
  "/1m": [new Uint8Array(1024 * 1024).fill(0x61), binary],
};

let count = 0;
const server = Deno.serve({
  port: Number(values.port),
  hostname: values.hostname,
  onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}`),
}, async (request) => {
  await request.body?.cancel();
  const [body, headers] = BODIES[new URL(request.url).pathname] ?? BODIES["/small"];
  if (mode === "slow") await new Promise((resolve) => setTimeout(resolve, delayMs));
  if (mode === "failing" && ++count % 2 === 1) {
    return new Response('{"ok":false}', { status: 500, headers: json });
  }
  return new Response(body, { headers });
});

Deno.addSignalListener("SIGTERM", () => {
  server.shutdown().finally(() => Deno.exit(0));
});
