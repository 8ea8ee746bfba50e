/**
 * Child processes that are always cleaned up: each one is registered while it lives, its
 * output goes to a log file (so a chatty child never blocks on a full pipe), and
 * {@linkcode stopAll} ends every one still running – from `finally` and on Ctrl-C.
 *
 * @module
 */

import { processTree } from "./procfs.ts";

const live = new Set<Proc>();
/** Set on Ctrl-C: from then on nothing new is started, so nothing can outlive this process. */
let shuttingDown = false;

/** How a process is started. */
export interface ProcOptions {
  /** A short name for messages, e.g. `nginx backends`. */
  readonly name: string;
  /** Program and arguments. */
  readonly cmd: readonly string[];
  /** Where stdout and stderr are appended. */
  readonly logPath: string;
  /** Working directory (default: the current one). */
  readonly cwd?: string;
  /**
   * Open-file limit to ask for: the process is started through `sh -c 'ulimit -n N; exec …'`
   * (same pid) so that 1,000 connections fit on machines whose default is 1,024. Default 16384.
   */
  readonly nofile?: number;
}

/** A running child process. */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  #output = "";
  #waiters: Array<() => void> = [];
  #pumps: Promise<void>[];
  #exit: Promise<Deno.CommandStatus>;
  #exited: Deno.CommandStatus | undefined;

  constructor(readonly options: ProcOptions) {
    if (shuttingDown) throw new Error(`not starting ${options.name}: shutting down`);
    this.name = options.name;
    const nofile = options.nofile ?? 16384;
    const script = `ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;
    this.child = new Deno.Command("sh", {
      args: ["-c", script, "sh", ...options.cmd],
      cwd: options.cwd,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    live.add(this);
    const log = Deno.openSync(options.logPath, { create: true, append: true });
    this.#pumps = [this.#pump(this.child.stdout, log), this.#pump(this.child.stderr, log)];
    this.#exit = this.child.status.then(async (status) => {
      this.#exited = status;
      live.delete(this);
      await Promise.allSettled(this.#pumps);
      log.close();
      this.#wake();
      return status;
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Exit status once the process ended. */
  get exited(): Deno.CommandStatus | undefined {
    return this.#exited;
  }

  async #pump(stream: ReadableStream<Uint8Array>, log: Deno.FsFile): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      log.writeSync(chunk);
      // Keep a bounded tail for readiness checks and error messages.
      this.#output = (this.#output + decoder.decode(chunk, { stream: true })).slice(-16_384);
      this.#wake();
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** The last lines the process printed. */
  tail(lines = 8): string {
    return this.#output.trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** Resolves once the output contains `text`; rejects when the process ends or time runs out. */
  async waitForOutput(text: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // deno-lint-ignore no-control-regex
    const plain = () => this.#output.replace(/\x1b\[[0-9;]*m/g, "");
    while (!plain().includes(text)) {
      if (this.#exited) {
        throw new Error(
          `${this.name} exited (code ${this.#exited.code}) before printing ` +
            `"${text}":\n${this.tail()}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `${this.name} did not print "${text}" within ${timeoutMs} ms:\n${this.tail()}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves once 127.0.0.1:`port` accepts a connection; rejects when the process ends first. */
  async waitForPort(port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      if (this.#exited) {
        throw new Error(
          `${this.name} exited (code ${this.#exited.code}) before listening on ` +
            `port ${port}:\n${this.tail()}`,
        );
      }
      if (await portOpen(port)) return;
      if (Date.now() > deadline) {
        throw new Error(
          `${this.name} did not listen on port ${port} within ${timeoutMs} ms:\n` +
            this.tail(),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Waits for the process to end by itself, at most `timeoutMs`; kills it after that. */
  async wait(timeoutMs: number): Promise<Deno.CommandStatus> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(() => resolve("late"), timeoutMs)
    );
    const result = await Promise.race([this.#exit, late]);
    clearTimeout(timer);
    if (result === "late") {
      await this.stop();
      throw new Error(`${this.name} still ran after ${timeoutMs} ms and was killed`);
    }
    return result;
  }

  /**
   * Ends the process: `signal` first (nginx and haproxy stop their workers on SIGTERM, a Deno
   * server can write its CPU profile), then SIGKILL to the whole tree after `graceMs`.
   */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 3000): Promise<void> {
    if (this.#exited) return;
    const tree = processTree(this.pid);
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(() => resolve("late"), graceMs)
    );
    const result = await Promise.race([this.#exit, late]);
    clearTimeout(timer);
    // Workers the root left behind, or everything when the root ignored the signal.
    for (const pid of result === "late" ? tree : tree.slice(1)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    }
    await this.#exit;
  }
}

/**
 * Starts a process and waits until `ready` resolves (its listening line, its port); stops it
 * again and rethrows when that fails, so a half-started process never lingers.
 */
export async function startReady(
  options: ProcOptions,
  ready: (proc: Proc) => Promise<void>,
): Promise<Proc> {
  const proc = new Proc(options);
  try {
    await ready(proc);
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return proc;
}

/** Whether Ctrl-C (or SIGTERM) arrived: callers stop starting new work. */
export function isShuttingDown(): boolean {
  return shuttingDown;
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export async function portOpen(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Stops every process still running, in parallel. */
export async function stopAll(): Promise<void> {
  await Promise.allSettled([...live].map((proc) => proc.stop("SIGTERM", 2000)));
}

/**
 * Makes Ctrl-C and SIGTERM stop every child before this process exits (code 130 / 143).
 * Returns a function that removes the handlers.
 */
export function stopAllOnSignals(onSignal?: () => void): () => void {
  const handlers: Array<[Deno.Signal, () => void]> = [];
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    const handler = () => {
      if (shuttingDown) return;
      shuttingDown = true;
      onSignal?.();
      console.error(`\n${signal}: stopping ${live.size} child process(es)…`);
      stopAll().finally(() => Deno.exit(code));
    };
    Deno.addSignalListener(signal, handler);
    handlers.push([signal, handler]);
  }
  return () => {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  };
}
