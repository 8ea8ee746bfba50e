/**
 * The backends behind every subject: one nginx serving three ports (cheap, so the proxy is the
 * bottleneck; three bench/deno_backend.ts servers when nginx is missing), plus a slow and a
 * failing Deno backend for the resilience scenarios. They are
 * started once per benchmark run and shared by all measurements.
 *
 * @module
 */

import { denoRun, REPO_DIR } from "../harness/deno_run.ts";
import { startNginxBackends } from "../harness/nginx_backends.ts";
import { portOpen, Proc } from "../harness/processes.ts";
import type { BackendSet } from "./scenarios.ts";
import { BENCH_DIR } from "./subjects.ts";

/** Fixed offsets from `--base-port`, so every process is easy to find while a run is going. */
export const PORT_OFFSETS = {
  backendA: 1,
  backendB: 2,
  backendC: 3,
  slow: 4,
  failing: 5,
  subject: 10,
} as const;

/** Every port a run uses. */
export function portsOf(basePort: number): number[] {
  return Object.values(PORT_OFFSETS).map((offset) => basePort + offset);
}

/** Throws, naming them, when any of the run's ports is already taken. */
export async function assertPortsFree(basePort: number): Promise<void> {
  const busy: number[] = [];
  for (const port of portsOf(basePort)) if (await portOpen(port)) busy.push(port);
  if (busy.length > 0) {
    throw new Error(
      `port(s) ${busy.join(", ")} already in use on 127.0.0.1: stop what ` +
        `listens there or choose another --base-port`,
    );
  }
}

/** Running backends. */
export class Backends {
  private constructor(
    readonly basePort: number,
    readonly procs: Proc[],
    /** What serves the three healthy backends. */
    readonly kind: "nginx" | "deno",
  ) {}

  /**
   * Starts the three healthy backends (one nginx on three ports, or three Deno servers when
   * `useNginx` is false) and the slow and failing backends.
   */
  static async start(dir: string, basePort: number, useNginx: boolean): Promise<Backends> {
    const www = `${dir}/www`;
    await Deno.mkdir(www, { recursive: true });
    await Deno.writeFile(`${www}/1k.bin`, body(1024));
    await Deno.writeFile(`${www}/1m.bin`, body(1024 * 1024));
    // nginx workers run as an unprivileged user when started by root: let them read the files.
    await Deno.chmod(dir, 0o755);
    await Deno.chmod(www, 0o755);

    const port = (offset: number) => basePort + offset;
    const procs: Proc[] = [];
    const backends = new Backends(basePort, procs, useNginx ? "nginx" : "deno");
    const startDeno = async (mode: "normal" | "slow" | "failing", p: number) => {
      const proc = new Proc({
        name: `${mode} backend :${p}`,
        cmd: denoRun(
          `${BENCH_DIR}/deno_backend.ts`,
          ["--mode", mode, "--port", String(p), "--delay", "3s"],
          { allow: ["net"] },
        ),
        cwd: REPO_DIR,
        logPath: `${dir}/${mode}-backend-${p}.log`,
      });
      procs.push(proc);
      await proc.waitForOutput(`listening on http://127.0.0.1:${p}`, 30_000);
    };
    const healthy = [PORT_OFFSETS.backendA, PORT_OFFSETS.backendB, PORT_OFFSETS.backendC];
    try {
      if (useNginx) {
        procs.push(
          await startNginxBackends(dir, [port(healthy[0]), port(healthy[1]), port(healthy[2])]),
        );
      } else {
        for (const offset of healthy) await startDeno("normal", port(offset));
      }
      await startDeno("slow", port(PORT_OFFSETS.slow));
      await startDeno("failing", port(PORT_OFFSETS.failing));
    } catch (error) {
      await backends.stop();
      throw error;
    }
    return backends;
  }

  /** Base URLs of the three backends a subject balances over in `set`. */
  urls(set: BackendSet): string[] {
    const url = (offset: number) => `http://127.0.0.1:${this.basePort + offset}`;
    const third = set === "one-slow"
      ? PORT_OFFSETS.slow
      : set === "one-failing"
      ? PORT_OFFSETS.failing
      : PORT_OFFSETS.backendC;
    return [url(PORT_OFFSETS.backendA), url(PORT_OFFSETS.backendB), url(third)];
  }

  /** A process died: say which, so a run does not go on measuring nothing. */
  dead(): string | undefined {
    const proc = this.procs.find((p) => p.exited);
    return proc && `${proc.name} exited (code ${proc.exited!.code}):\n${proc.tail()}`;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.procs.map((p) => p.stop()));
  }
}

/** `size` bytes of printable text, so a body is easy to eyeball in a capture. */
function body(size: number): Uint8Array {
  const line = new TextEncoder().encode("roundabout benchmark body 0123456789abcdefghijklmnopq\n");
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = line[i % line.length];
  return out;
}
