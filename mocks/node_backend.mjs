/**
 * A backend built on Node's `node:http` server, run by `node` (not Deno): an HTTP
 * implementation nobody here wrote, with Node's own keep-alive (on, `keepAliveTimeout` left
 * at Node's default of 5 s, as users run it).
 *
 * ```sh
 * node mocks/node_backend.mjs [--port 0] [--hostname 127.0.0.1] [--mode normal] [--delay-ms 3000]
 * ```
 *
 * Prints `listening on http://HOST:PORT` on stdout once it accepts connections, then one
 * line `received ID METHOD PATH` per request that carries a request id (header
 * the query parameter `id`, or the header `x-request-id`), written as the request's head arrives, before
 * any delay or failure. stdout is a pipe or a file, which Node writes synchronously, so the
 * lines survive the process being killed.
 *
 * Modes, switched at run time with `POST /_mock/mode {"mode":"slow","delayMs":3000}`
 * (`GET /_mock/mode` reads it), each applied to requests whose head arrives afterwards:
 * - `normal`: answers 200 with JSON `{app, url, method, path, id, remotePort}`;
 * - `slow`: waits `delayMs`, then answers like `normal` (stops waiting if the client leaves);
 * - `failing`: answers 500 `{"error":"App failure"}`;
 * - `reset`: reads the whole request, then destroys the connection with a TCP reset,
 *   without a byte of answer.
 *
 * `GET /_mock/received?id=ID` answers `{"id":ID,"count":N}`; `GET /_mock/received` every
 * id's count. `/health` always answers 200 at once. Control and health requests are not
 * counted. SIGTERM or SIGINT: exits at once, like a crash (the kernel closes the sockets).
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createServer } from "node:http";
import process from "node:process";
import { parseArgs } from "node:util";

const CONTROL_PREFIX = "/_mock/";
const MODES = ["normal", "slow", "failing", "reset"];

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    hostname: { type: "string", default: "127.0.0.1" },
    mode: { type: "string", default: "normal" },
    "delay-ms": { type: "string", default: "3000" },
  },
});

let setting = checkedSetting(values.mode, Number(values["delay-ms"]));
/** @type {Map<string, number>} */
const received = new Map();
let url = "";

const server = createServer((request, response) => {
  const target = new URL(request.url ?? "/", "http://backend");
  if (target.pathname.startsWith(CONTROL_PREFIX)) return control(request, response, target);
  if (target.pathname === "/health") return json(response, 200, { status: "ok" });
  const header = request.headers["x-request-id"];
  // The query's id first: a balancer in front adds an x-request-id of its own.
  const id = target.searchParams.get("id") || (Array.isArray(header) ? header[0] : header);
  if (id) {
    received.set(id, (received.get(id) ?? 0) + 1);
    process.stdout.write(`received ${id} ${request.method} ${target.pathname}\n`);
  }
  const { mode, delayMs } = setting;
  const answer = () =>
    json(response, 200, {
      app: "node",
      url,
      method: request.method,
      path: target.pathname,
      id,
      remotePort: request.socket.remotePort,
    });
  // Read the whole body first in every mode, as a real app does.
  request.resume();
  request.on("end", () => {
    if (mode === "failing") return json(response, 500, { error: "App failure" });
    if (mode === "reset") return request.socket.resetAndDestroy();
    if (mode === "normal") return answer();
    const timer = setTimeout(answer, delayMs);
    // The client left (or the connection was closed): stop waiting.
    response.on("close", () => clearTimeout(timer));
  });
});

function control(request, response, target) {
  const route = `${request.method} ${target.pathname}`;
  if (route === `GET ${CONTROL_PREFIX}mode`) return json(response, 200, setting);
  if (route === `GET ${CONTROL_PREFIX}received`) {
    const id = target.searchParams.get("id");
    if (id !== null) return json(response, 200, { id, count: received.get(id) ?? 0 });
    return json(response, 200, { received: Object.fromEntries(received) });
  }
  if (route === `POST ${CONTROL_PREFIX}mode`) {
    let text = "";
    request.setEncoding("utf8");
    request.on("data", (chunk) => (text += chunk));
    request.on("end", () => {
      try {
        const body = JSON.parse(text);
        setting = checkedSetting(body?.mode, body?.delayMs ?? setting.delayMs);
        json(response, 200, setting);
      } catch (error) {
        json(response, 400, { error: error instanceof Error ? error.message : String(error) });
      }
    });
    return;
  }
  request.resume();
  json(response, 404, { error: `no control route ${route}` });
}

function checkedSetting(mode, delayMs) {
  if (!MODES.includes(mode)) {
    throw new RangeError(`mode must be one of ${MODES.join(", ")}, got ${String(mode)}`);
  }
  if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0) {
    throw new RangeError(`delayMs must be a number of milliseconds, got ${String(delayMs)}`);
  }
  return { mode, delayMs };
}

function json(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "x-mock": "node",
  });
  response.end(text);
}

for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));

server.listen(Number(values.port), values.hostname, () => {
  const { address, port } = server.address();
  url = address.includes(":") ? `http://[${address}]:${port}` : `http://${address}:${port}`;
  process.stdout.write(`listening on ${url}\n`);
});
