/**
 * From measurements to what a person reads: medians over rounds, ratios computed round by
 * round within the same run, and the text tables.
 *
 * @module
 */

/** One subject under one scenario in one round. */
export interface Measurement {
  readonly round: number;
  readonly scenario: string;
  readonly subject: string;
  /** Set when the subject could not be started or wrk failed; the numbers are then absent. */
  readonly error?: string;
  /** Successful responses (status < 400) per second. */
  readonly rps?: number;
  /** Completed responses, whatever their status. */
  readonly requests?: number;
  /** Responses with status ≥ 400. */
  readonly statusErrors?: number;
  /** Connect, read, write errors and timeouts. */
  readonly socketErrors?: number;
  readonly p50Ms?: number;
  readonly p90Ms?: number;
  readonly p99Ms?: number;
  readonly p999Ms?: number;
  readonly maxMs?: number;
  /** CPU seconds (user + system) the subject's process tree used during the measured run. */
  readonly cpuS?: number;
  /** `cpuS` per 1,000 successful requests (status < 400), like `rps`. */
  readonly cpuSPer1k?: number;
  /** Peak resident memory of the subject's process tree during the measured run, MiB. */
  readonly peakRssMiB?: number;
  /** Resident memory before the run (idle scenarios: before any connection), MiB. */
  readonly rssBeforeMiB?: number;
  /**
   * Idle scenarios: resident memory at the end of the hold, the connections still open and
   * idle, MiB. Below the peak when the subject gives back memory once traffic stops.
   */
  readonly endRssMiB?: number;
  /** Idle scenarios with `afterCloseS`: RSS that long after the connections closed, MiB. */
  readonly afterCloseRssMiB?: number;
  /** The wrk command line, for reproducing by hand. */
  readonly wrk?: string;
  /** The subject's command line (absent for `direct`). */
  readonly command?: string;
}

/** Medians over the rounds of one subject under one scenario. */
export interface Summary {
  readonly scenario: string;
  readonly subject: string;
  /** Rounds that produced numbers. */
  readonly rounds: number;
  /** Why rounds failed, if any did. */
  readonly failures: readonly string[];
  readonly rps?: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly maxMs?: number;
  /** Non-2xx/3xx responses plus socket errors, summed over all rounds (nothing hides). */
  readonly errors?: number;
  readonly cpuSPer1k?: number;
  readonly peakRssMiB?: number;
  readonly rssBeforeMiB?: number;
  readonly endRssMiB?: number;
  readonly afterCloseRssMiB?: number;
  /** Median over rounds of rps ÷ nginx's rps in the same round and scenario. */
  readonly vsNginx?: number;
  /** Median over rounds of rps ÷ direct's rps in the same round and scenario. */
  readonly vsDirect?: number;
  /** Median over rounds of rps ÷ `floor-connect`'s rps (the crudest Deno.connect proxy). */
  readonly vsFloorConnect?: number;
  /** Median over rounds of rps ÷ `floor-net`'s rps (the crudest node:net proxy). */
  readonly vsFloorNet?: number;
  /** Median over rounds of rps ÷ the same subject's rps in the baseline scenario. */
  readonly vsBaselineRps?: number;
  /** Median over rounds of p99 ÷ the same subject's p99 in the baseline scenario. */
  readonly vsBaselineP99?: number;
}

/** The median; `undefined` for no values. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function defined(values: ReadonlyArray<number | undefined>): number[] {
  return values.filter((v): v is number => v !== undefined && Number.isFinite(v));
}

/** Summaries in scenario order, then subject order. */
export function summarise(
  measurements: readonly Measurement[],
  scenarios: ReadonlyArray<{ name: string; baseline?: string }>,
  subjects: readonly string[],
): Summary[] {
  const find = (round: number, scenario: string, subject: string) =>
    measurements.find((m) =>
      m.round === round && m.scenario === scenario && m.subject === subject && !m.error
    );
  const ratios = (
    runs: readonly Measurement[],
    other: (m: Measurement) => Measurement | undefined,
    pick: (m: Measurement) => number | undefined,
  ) =>
    median(defined(runs.map((m) => {
      const o = other(m);
      const a = pick(m), b = o && pick(o);
      return a !== undefined && b ? a / b : undefined;
    })));

  const out: Summary[] = [];
  for (const scenario of scenarios) {
    for (const subject of subjects) {
      const all = measurements.filter((m) => m.scenario === scenario.name && m.subject === subject);
      if (all.length === 0) continue;
      const runs = all.filter((m) => !m.error);
      const rps = (m: Measurement) => m.rps;
      const p99 = (m: Measurement) => m.p99Ms;
      const base = scenario.baseline;
      out.push({
        scenario: scenario.name,
        subject,
        rounds: runs.length,
        failures: all.filter((m) => m.error).map((m) => m.error!),
        rps: median(defined(runs.map(rps))),
        p50Ms: median(defined(runs.map((m) => m.p50Ms))),
        p99Ms: median(defined(runs.map(p99))),
        maxMs: median(defined(runs.map((m) => m.maxMs))),
        errors: runs.length
          ? runs.reduce((sum, m) => sum + (m.statusErrors ?? 0) + (m.socketErrors ?? 0), 0)
          : undefined,
        cpuSPer1k: median(defined(runs.map((m) => m.cpuSPer1k))),
        peakRssMiB: median(defined(runs.map((m) => m.peakRssMiB))),
        rssBeforeMiB: median(defined(runs.map((m) => m.rssBeforeMiB))),
        endRssMiB: median(defined(runs.map((m) => m.endRssMiB))),
        afterCloseRssMiB: median(defined(runs.map((m) => m.afterCloseRssMiB))),
        vsNginx: subject === "nginx"
          ? undefined
          : ratios(runs, (m) => find(m.round, m.scenario, "nginx"), rps),
        vsDirect: subject === "direct"
          ? undefined
          : ratios(runs, (m) => find(m.round, m.scenario, "direct"), rps),
        vsFloorConnect: subject === "floor-connect"
          ? undefined
          : ratios(runs, (m) => find(m.round, m.scenario, "floor-connect"), rps),
        vsFloorNet: subject === "floor-net"
          ? undefined
          : ratios(runs, (m) => find(m.round, m.scenario, "floor-net"), rps),
        vsBaselineRps: base ? ratios(runs, (m) => find(m.round, base, subject), rps) : undefined,
        vsBaselineP99: base ? ratios(runs, (m) => find(m.round, base, subject), p99) : undefined,
      });
    }
  }
  return out;
}

/** Formats a number of requests per second: `27,412`. */
export function fmtRps(value: number | undefined): string {
  return value === undefined ? "–" : Math.round(value).toLocaleString("en-US");
}

/** Formats milliseconds with precision that suits the size. */
export function fmtMs(value: number | undefined): string {
  if (value === undefined) return "–";
  if (value < 10) return value.toFixed(2);
  if (value < 100) return value.toFixed(1);
  return Math.round(value).toLocaleString("en-US");
}

function fmtFixed(value: number | undefined, digits: number): string {
  return value === undefined ? "–" : value.toFixed(digits);
}

/** Formats a ratio: `0.16×`. */
export function fmtRatio(value: number | undefined): string {
  if (value === undefined) return "–";
  if (value > 0 && value < 0.01) return `${value.toPrecision(1)}×`; // 0.004×, not 0.00×
  return `${value < 10 ? value.toFixed(2) : value.toFixed(0)}×`;
}

/** Aligns rows into a plain-text table; numeric-looking cells are right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const numeric = header.map((_, i) =>
    rows.every((r) => /^[-–0-9.,×%]+$/.test(r[i]) || r[i] === "–")
  );
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])).join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The main table: one row per scenario and subject. */
export function mainTable(summaries: readonly Summary[]): string {
  const header = [
    "scenario",
    "subject",
    "req/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "errors",
    "cpu s/1k",
    "rss MiB",
    "×nginx",
    "×floor-connect",
    "×floor-net",
    "×direct",
  ];
  const rows = summaries.map((s) => [
    s.scenario,
    s.subject,
    s.rounds ? fmtRps(s.rps) : "FAILED",
    fmtMs(s.p50Ms),
    fmtMs(s.p99Ms),
    fmtMs(s.maxMs),
    s.errors === undefined ? "–" : s.errors.toLocaleString("en-US"),
    fmtFixed(s.cpuSPer1k, 3),
    fmtFixed(s.peakRssMiB, 1),
    fmtRatio(s.vsNginx),
    fmtRatio(s.vsFloorConnect),
    fmtRatio(s.vsFloorNet),
    fmtRatio(s.vsDirect),
  ]);
  return table(header, rows);
}

/**
 * The idle-connections table: memory before the connections, at its peak while they were
 * open and idle, at the end of the hold and (when the scenario says) a while after they
 * closed, and the peak's difference per connection.
 */
export function idleTable(
  summaries: readonly Summary[],
  scenarios: ReadonlyArray<{ name: string; kind?: string; connections: number }>,
): string | undefined {
  const rows: string[][] = [];
  for (const s of summaries) {
    const scenario = scenarios.find((x) => x.name === s.scenario);
    if (scenario?.kind !== "idle") continue;
    const perConn = s.peakRssMiB !== undefined && s.rssBeforeMiB !== undefined
      ? ((s.peakRssMiB - s.rssBeforeMiB) * 1024) / scenario.connections
      : undefined;
    rows.push([
      s.scenario,
      s.subject,
      s.rounds ? String(scenario.connections) : "FAILED",
      fmtFixed(s.rssBeforeMiB, 1),
      fmtFixed(s.peakRssMiB, 1),
      fmtFixed(s.endRssMiB, 1),
      fmtFixed(s.afterCloseRssMiB, 1),
      fmtFixed(perConn, 1),
      s.errors === undefined ? "–" : s.errors.toLocaleString("en-US"),
    ]);
  }
  if (rows.length === 0) return undefined;
  return table(
    [
      "scenario",
      "subject",
      "conns",
      "rss before MiB",
      "peak rss MiB",
      "rss at end MiB",
      "after close MiB",
      "KiB/conn",
      "errors",
    ],
    rows,
  );
}

/** The resilience table: scenarios with a baseline, compared with it. */
export function baselineTable(
  summaries: readonly Summary[],
  scenarios: ReadonlyArray<{ name: string; baseline?: string }>,
): string | undefined {
  const rows: string[][] = [];
  for (const s of summaries) {
    const base = scenarios.find((x) => x.name === s.scenario)?.baseline;
    if (!base) continue;
    const b = summaries.find((x) => x.scenario === base && x.subject === s.subject);
    rows.push([
      s.scenario,
      s.subject,
      fmtRps(s.rps),
      fmtRps(b?.rps),
      fmtRatio(s.vsBaselineRps),
      fmtMs(s.p99Ms),
      fmtMs(b?.p99Ms),
      fmtRatio(s.vsBaselineP99),
      s.errors === undefined ? "–" : s.errors.toLocaleString("en-US"),
    ]);
  }
  if (rows.length === 0) return undefined;
  return table(
    [
      "scenario",
      "subject",
      "req/s",
      "healthy",
      "×healthy",
      "p99 ms",
      "healthy",
      "×healthy",
      "errors",
    ],
    rows,
  );
}
