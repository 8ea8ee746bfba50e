/**
 * A whole Roundabout in-process (balancer, admin API, live configuration) for tests, from a
 * config file written to a temporary directory.
 *
 * @module
 */

import { envLayer, flagLayer, type Layer, readFileLayer, resolve } from "../config/sources.ts";
import { type Instance, startInstance } from "../app/instance.ts";
import { type RunningMock, startMock } from "../mocks/mod.ts";

/** A running instance, its config file and everything it logged. */
export interface TestInstance {
  readonly instance: Instance;
  /** The config file; rewrite it to reload. */
  readonly path: string;
  readonly logs: string[];
  readonly accessLines: string[];
  /** The admin API's base URL (the config must set `admin.port`, usually 0). */
  readonly admin: string;
}

/**
 * Writes `config` to a temporary file (listening on port 0 unless it says otherwise) and
 * starts an instance on it; always stopped.
 */
export async function withInstance(
  config: Record<string, unknown>,
  test: (t: TestInstance) => Promise<void>,
  options: { watch?: boolean; env?: Record<string, string> } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "roundabout-test-" });
  const path = `${dir}/roundabout.json`;
  await Deno.writeTextFile(path, JSON.stringify({ listen: { port: 0 }, ...config }, null, 2));
  const sources = (): Layer[] => [readFileLayer(path), envLayer(options.env ?? {}), flagLayer({})];
  const logs: string[] = [];
  const accessLines: string[] = [];
  const instance = await startInstance({
    resolved: resolve(sources()),
    sources,
    log: (line) => logs.push(line),
    accessLog: (line) => accessLines.push(line),
    watch: options.watch ? path : undefined,
    watchDebounceMs: 50,
  });
  try {
    await test({ instance, path, logs, accessLines, admin: instance.admin?.url ?? "" });
  } finally {
    await instance.stop(5_000);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `test` with a `normal` mock app on a free port, closed afterwards. */
export async function withApp(test: (app: RunningMock) => Promise<void>): Promise<void> {
  const app = await startMock("normal");
  try {
    await test(app);
  } finally {
    await app.close();
  }
}
