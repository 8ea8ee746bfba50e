/**
 * What a subject costs, read from Linux's /proc: CPU time and resident memory of a process
 * together with all of its descendants (nginx's workers, anything a wrapper started).
 *
 * Threads need no special care: /proc/PID/stat already sums all threads of a process.
 *
 * @module
 */

/** Clock ticks per second for utime/stime; 100 on every Linux this runs on (`getconf CLK_TCK`). */
const TICKS_PER_SECOND = 100;

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined; // The process ended between listing and reading: it simply no longer counts.
  }
}

/** Fields of /proc/PID/stat after the command name, which may itself contain spaces. */
function statFields(pid: number): string[] | undefined {
  const text = readText(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** Child pids of `pid`, from every thread's `children` list. */
function children(pid: number): number[] {
  const out: number[] = [];
  let tasks: Iterable<Deno.DirEntry>;
  try {
    tasks = Deno.readDirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    const list = readText(`/proc/${pid}/task/${task.name}/children`);
    if (!list) continue;
    for (const child of list.trim().split(/\s+/)) if (child) out.push(Number(child));
  }
  return out;
}

/** `pid` followed by all of its living descendants. */
export function processTree(pid: number): number[] {
  const seen = new Set<number>();
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.pop()!;
    if (seen.has(next)) continue;
    seen.add(next);
    queue.push(...children(next));
  }
  return [...seen];
}

/**
 * CPU seconds (user + system) used so far by `pid` and its descendants, counting children that
 * already ended and were waited for (cutime/cstime) too.
 */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    const f = statFields(p);
    if (!f) continue;
    // Fields 14-17 of stat(5) (utime, stime, cutime, cstime); index 0 here is field 3.
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / TICKS_PER_SECOND;
}

/**
 * Resident memory of `pid` and its descendants in KiB (VmRSS summed). Pages shared between
 * processes (nginx master and worker share the binary) are counted once per process.
 */
export function rssKiB(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    const match = readText(`/proc/${p}/status`)?.match(/^VmRSS:\s+(\d+) kB/m);
    if (match) total += Number(match[1]);
  }
  return total;
}

/** Samples {@linkcode rssKiB} of a process tree every `intervalMs` and keeps the peak. */
export class RssSampler {
  #peakKiB = 0;
  #lastKiB = 0;
  #timer: ReturnType<typeof setInterval>;

  constructor(readonly pid: number, intervalMs = 100) {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Takes one sample now. */
  sample(): void {
    this.#lastKiB = rssKiB(this.pid);
    this.#peakKiB = Math.max(this.#peakKiB, this.#lastKiB);
  }

  /** The latest sample in KiB (after {@linkcode stop}: the one it took). */
  get lastKiB(): number {
    return this.#lastKiB;
  }

  /** Stops sampling and returns the peak in KiB. */
  stop(): number {
    clearInterval(this.#timer);
    this.sample();
    return this.#peakKiB;
  }
}
