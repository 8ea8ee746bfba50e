/**
 * Three cheap backends in one nginx process (nginx_backend.conf beside this file): the
 * benchmark's healthy backends and the soak run's, so that the proxy is the bottleneck.
 *
 * @module
 */

import { type Proc, startReady } from "./processes.ts";
import { renderFile } from "./templates.ts";

const TEMPLATE = new URL("nginx_backend.conf", import.meta.url).pathname;

/**
 * Starts nginx serving `ports` (three) from `dir` (static files under `dir/www`) and waits
 * until each accepts connections. The process is stopped again when that fails.
 */
export async function startNginxBackends(
  dir: string,
  ports: readonly [number, number, number],
): Promise<Proc> {
  const conf = await renderFile(TEMPLATE, dir, {
    PORT_A: ports[0],
    PORT_B: ports[1],
    PORT_C: ports[2],
  });
  return await startReady({
    name: "nginx backends",
    cmd: ["nginx", "-e", `${dir}/nginx-backend-error.log`, "-p", dir, "-c", conf],
    logPath: `${dir}/nginx-backend.log`,
  }, async (nginx) => {
    for (const port of ports) await nginx.waitForPort(port, 10_000);
  });
}
