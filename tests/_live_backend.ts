/**
 * One backend address whose server a test can switch, stop and start again on the same port
 * while a balancer keeps connections to it: a Deno mock (`startMock("normal")`) or the
 * node:http backend, behind one interface. Deliveries are counted across restarts.
 *
 * @module
 */

import { type RunningMock, startMock } from "../mocks/mod.ts";
import { type NodeBackend, type NodeMode, startNodeBackend } from "./_node_backend.ts";

/** Which server implementation answers. */
export type LiveKind = "deno" | "node";

/** Both kinds of backend. */
export const LIVE_KINDS: readonly LiveKind[] = ["deno", "node"];

/** What a live backend can be switched to; `reset` needs the node backend. */
export type LiveMode = NodeMode;

/** A backend on a fixed port that a test changes while it runs. */
export interface LiveBackend {
  readonly kind: LiveKind;
  readonly url: string;
  readonly port: number;
  /** Whether a server is listening now. */
  readonly running: boolean;
  /** Switches the running server's mode; `delayMs` is for `slow`. */
  setMode(mode: LiveMode, delayMs?: number): Promise<void>;
  /** Requests with this id received, by every server that ran on this port. */
  received(id: string): number;
  /** Every id received with its count, over every server that ran on this port. */
  deliveries(): Map<string, number>;
  /** Stops the server (the port is then refused). */
  stop(): Promise<void>;
  /** Starts a new server on the same port, in mode `normal`. */
  restart(): Promise<void>;
  /** Stops it for good; call it in `finally`. */
  close(): Promise<void>;
}

type Instance = RunningMock | NodeBackend;

/** Starts a live backend of `kind` on a free port. */
export async function startLiveBackend(kind: LiveKind): Promise<LiveBackend> {
  const launch = (port: number): Promise<Instance> =>
    kind === "deno" ? startMock("normal", { port }) : startNodeBackend({ port });
  const instances: Instance[] = [await launch(0)];
  let current: Instance | undefined = instances[0];
  const { url, port } = instances[0];
  const counts = (instance: Instance): Iterable<[string, number]> => {
    if ("receivedIds" in instance) return Object.entries(instance.receivedIds);
    const map = new Map<string, number>();
    for (const id of instance.deliveries) map.set(id, (map.get(id) ?? 0) + 1);
    return map;
  };
  const deliveries = () => {
    const total = new Map<string, number>();
    for (const instance of instances) {
      for (const [id, n] of counts(instance)) total.set(id, (total.get(id) ?? 0) + n);
    }
    return total;
  };
  const stop = async () => {
    const stopping = current;
    current = undefined;
    await stopping?.close();
  };
  return {
    kind,
    url,
    port,
    get running() {
      return current !== undefined;
    },
    async setMode(mode, delayMs) {
      if (current === undefined) throw new Error(`${url} is stopped`);
      if (kind === "deno") {
        if (mode === "reset") throw new TypeError("reset needs the node backend");
        (current as RunningMock).setMode(mode, { delayMs });
      } else {
        await (current as NodeBackend).setMode(mode, delayMs);
      }
    },
    received: (id) => deliveries().get(id) ?? 0,
    deliveries,
    stop,
    async restart() {
      await stop();
      current = await launch(port);
      instances.push(current);
    },
    close: stop,
  };
}
