/**
 * Runs `mocks/node_backend.mjs` (a `node:http` server) as a child process for tests: `node`
 * from PATH, on a free port or a given one, and always stopped with its exit awaited.
 *
 * @module
 */

import { waitForLine } from "./_helpers.ts";

/** What the node backend does with each request (see `mocks/node_backend.mjs`). */
export type NodeMode = "normal" | "slow" | "failing" | "reset";

/** A running node:http backend. */
export interface NodeBackend {
  readonly url: string;
  readonly port: number;
  /**
   * Every request id the process reported receiving, in arrival order, read from its
   * stdout: still complete after the process was killed.
   */
  readonly deliveries: readonly string[];
  /** Switches its mode through `POST /_mock/mode`. */
  setMode(mode: NodeMode, delayMs?: number): Promise<void>;
  /** How many requests with this id reached it (from `deliveries`). */
  received(id: string): number;
  /** Kills the process (like a crash: no draining) and waits for it to exit. Idempotent. */
  close(): Promise<void>;
}

const SCRIPT = new URL("../mocks/node_backend.mjs", import.meta.url).pathname;

/** Starts the node backend; `port` 0 (the default) takes a free one. */
export async function startNodeBackend(
  options: { port?: number; mode?: NodeMode; delayMs?: number } = {},
): Promise<NodeBackend> {
  const args = [SCRIPT, "--port", String(options.port ?? 0), "--mode", options.mode ?? "normal"];
  if (options.delayMs !== undefined) args.push("--delay-ms", String(options.delayMs));
  const child = new Deno.Command("node", { args, stdout: "piped", stderr: "inherit" }).spawn();
  const lines: string[] = [];
  let listening: Awaited<ReturnType<typeof waitForLine>>;
  try {
    listening = await waitForLine(child.stdout, /^listening on /, lines);
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    throw error;
  }
  const url = listening.line.slice("listening on ".length).trim();
  const port = Number(new URL(url).port);
  let closed: Promise<void> | undefined;
  const deliveries = () =>
    lines.filter((line) => line.startsWith("received ")).map((line) => line.split(" ")[1]);
  return {
    url,
    port,
    get deliveries() {
      return deliveries();
    },
    received: (id) => deliveries().filter((seen) => seen === id).length,
    async setMode(mode, delayMs) {
      const response = await fetch(`${url}/_mock/mode`, {
        method: "POST",
        body: JSON.stringify({ mode, delayMs }),
      });
      const body = await response.text();
      if (!response.ok) throw new Error(`node backend refused mode ${mode}: ${body}`);
    },
    close: () =>
      closed ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch {
          // Already exited.
        }
        await child.status;
        await listening.rest;
      })(),
  };
}
