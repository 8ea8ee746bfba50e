/**
 * A floor of our own: `Deno.serve` and Roundabout's HTTP/1.1 transport (`transports/http1/`),
 * with only what any proxy must do besides: forward the client's fields (not `host`) and say
 * which backend answered (`x-app-url`), with the per-try timeout and the client's signal. No
 * balancer: no policy, health, retries, admission, request id, `x-forwarded-*`, limits or
 * accounting. Between `floor-net` and `roundabout-http1` it splits the gap in two: what our
 * transport costs against the crudest proxy, and what the balancer's features cost on top.
 *
 * usage: deno run -A transport_floor.ts PORT http://127.0.0.1:B1 http://127.0.0.1:B2 …
 *
 * @module
 */

import { Http1Transport } from "../../transports/http1/http1.ts";

const port = Number(Deno.args[0]);
const backends = Deno.args.slice(1);
const transport = new Http1Transport({ idleTimeoutMs: 30_000 });
let next = 0;

const onListen = () => console.log(`listening on http://127.0.0.1:${port}`);
Deno.serve({ port, hostname: "127.0.0.1", onListen }, async (request) => {
  const backend = backends[next];
  next = (next + 1) % backends.length;
  const headers: [string, string][] = [];
  request.headers.forEach((value, name) => {
    if (name !== "host") headers.push([name, value]);
  });
  const url = request.url;
  const response = await transport.send({
    baseUrl: backend,
    path: url.slice(url.indexOf("/", url.indexOf("//") + 2)),
    method: request.method,
    headers,
    body: request.body === null ? null : await request.bytes(),
    signal: request.signal,
    timeoutMs: 2_000,
  });
  response.headers.set("x-app-url", backend);
  return response;
});
