/**
 * The report of `bench/timeline.ts`: phases read back from the balancer's JSON access log, the
 * slowest requests phase by phase, and each phase's p50 and p99, as Markdown tables.
 *
 * @module
 */

/** A request's phases from its JSON access log line (ms since the handler took it up). */
export interface Phases {
  /** Not a phase: the answer's status, from the same line. */
  status?: number;
  admitted?: number;
  tryStarted?: number;
  connected?: number;
  written?: number;
  firstByte?: number;
  head?: number;
  bodyRead?: number;
  sent?: number;
}

/** The phases in order, as the columns name them; each column is its own duration. */
const COLUMNS: ReadonlyArray<[string, keyof Phases]> = [
  ["admission wait", "admitted"],
  ["to try start", "tryStarted"],
  ["connection", "connected"],
  ["write", "written"],
  ["to first byte", "firstByte"],
  ["head parsed", "head"],
  ["body read", "bodyRead"],
  ["sent", "sent"],
];

/**
 * Each phase's duration: from the previous phase that was marked to this one. A try that
 * failed has no marks after where it was stuck: the time from its last mark to the answer is
 * shown under the first phase it never finished (`to first byte` for a try that timed out
 * waiting for its answer), and the phases after it as `undefined`. No admission mark means no
 * wait.
 */
function durations(p: Phases): (number | undefined)[] {
  let previous = 0;
  const result = COLUMNS.map(([, phase]) => {
    const mark = p[phase];
    if (mark === undefined) return phase === "admitted" ? 0 : undefined;
    const duration = Math.max(0, mark - previous);
    previous = Math.max(previous, mark);
    return duration;
  });
  const last = result.length - 1; // "sent"
  const stuck = result.findIndex((duration, i) => i > 0 && i < last && duration === undefined);
  if (stuck !== -1) {
    result[stuck] = result[last];
    result[last] = undefined;
  }
  return result;
}

export async function readPhases(
  logPath: string,
  fromByte: number,
): Promise<{ phases: Phases[]; answers: string }> {
  // Lines are whole once written: the first one after the warm-up starts at `fromByte` or later.
  const text = new TextDecoder().decode((await Deno.readFile(logPath)).subarray(fromByte));
  const phases: Phases[] = [];
  const outcomes = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const record = JSON.parse(line);
      if (record.phases?.sent === undefined) continue;
      const tries = (record.tries as { outcome: string }[]).map((t) => t.outcome);
      const outcome = `${record.status} ${tries.join(",") || "-"}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      phases.push({ ...record.phases, status: record.status });
    } catch {
      // A line cut by the stop: not a record.
    }
  }
  const counts = [...outcomes].sort((a, b) => b[1] - a[1]).map(([what, n]) => `${what}: ${n}`);
  return { phases, answers: counts.join("; ") };
}

/** The slowest `top` requests by `sent`, each phase's ms; then each phase's p50 and p99. */
export function printTable(all: Phases[], top: number): void {
  // 499s are the requests in flight when wrk stopped, not slow ones: left out of the list.
  const slowest = all.filter((p) => p.status !== 499).sort((a, b) => b.sent! - a.sent!)
    .slice(0, top);
  const header = ["", "status", "total ms", ...COLUMNS.map(([name]) => name)];
  const rows = slowest.map((
    p,
    i,
  ) => [`${i + 1}`, `${p.status}`, fmt(p.sent), ...durations(p).map(fmt)]);
  const all_ = all.map(durations);
  const quantile = (q: number) => {
    const at = (values: (number | undefined)[]) => {
      const known = values.filter((v) => v !== undefined).sort((a, b) => a - b);
      return fmt(known[Math.floor(q * (known.length - 1))]);
    };
    const label = q === 0.5 ? "p50" : "p99";
    return [
      label,
      "",
      at(all.map((p) => p.sent)),
      ...COLUMNS.map((_, i) => at(all_.map((d) => d[i]))),
    ];
  };
  const lines = [header, ...rows];
  if (all.length > 0) lines.push(quantile(0.5), quantile(0.99));
  console.log(markdown(lines));
  const failed = all.filter((p) => p.status! >= 400).length;
  if (failed > 0) console.log(`${failed} of ${all.length} timed requests answered ≥ 400`);
}

function fmt(ms: number | undefined): string {
  if (ms === undefined) return "–";
  return ms >= 100 ? String(Math.round(ms)) : ms.toFixed(1);
}

function markdown(lines: string[][]): string {
  const widths = lines[0].map((_, i) => Math.max(...lines.map((line) => line[i].length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i])).join(" | ")} |`;
  const rule = `| ${widths.map((w) => "-".repeat(w - 1) + ":").join(" | ")} |`;
  return [row(lines[0]), rule, ...lines.slice(1).map(row)].join("\n");
}
