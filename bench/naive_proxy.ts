/**
 * The obvious Deno load balancer, kept as the baseline Roundabout's targets are stated
 * against: `Deno.serve`, and one `fetch` per request to the next backend in turn. Nothing
 * else on the request path – no header hygiene, no timeouts, no retries, no health.
 *
 * ```sh
 * deno run --allow-net bench/naive_proxy.ts --port 8000 \
 *   --backend http://127.0.0.1:8001 --backend http://127.0.0.1:8002
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "8000" },
    hostname: { type: "string", default: "127.0.0.1" },
    backend: { type: "string", multiple: true, default: [] },
  },
});
const backends = values.backend.map((url) => url.replace(/\/$/, ""));
if (backends.length === 0) {
  console.error("naive_proxy: give at least one --backend http://host:port");
  Deno.exit(2);
}

let next = 0;
const server = Deno.serve({
  port: Number(values.port),
  hostname: values.hostname,
  onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}`),
}, (request) => {
  const backend = backends[next];
  next = (next + 1) % backends.length;
  const url = new URL(request.url);
  return fetch(backend + url.pathname + url.search, {
    method: request.method,
    headers: request.headers,
    body: request.body,
  });
});

// Not part of the request path: a clean exit on SIGTERM lets `--cpu-prof` write its profile.
Deno.addSignalListener("SIGTERM", () => {
  server.shutdown().finally(() => Deno.exit(0));
});
