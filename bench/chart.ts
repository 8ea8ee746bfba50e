/**
 * The results as an SVG bar chart, written by hand (no dependencies): one panel per scenario,
 * requests/s on the left and p99 latency on the right, one coloured bar per subject.
 *
 * @module
 */

import { fmtMs, fmtRatio, fmtRps, type Summary } from "./report.ts";

/** Subject colours; subjects not listed take the next fallback colour. */
const COLOURS: Record<string, string> = {
  direct: "#9e9e9e",
  nginx: "#2e7d32",
  haproxy: "#1565c0",
  naive: "#ef6c00",
  "roundabout-fetch": "#6a1b9a",
  "roundabout-http1": "#c2185b",
};
const FALLBACK = ["#00838f", "#827717", "#4e342e", "#37474f"];

/** What the chart shows. */
export interface ChartInput {
  readonly title: string;
  /** Lines of small print under the title (settings, caveats). */
  readonly subtitle: readonly string[];
  /** `kind: "idle"` scenarios get a memory panel instead of requests/s and p99. */
  readonly scenarios: ReadonlyArray<{ name: string; description: string; kind?: string }>;
  /** Subjects in bar order. */
  readonly subjects: readonly string[];
  readonly summaries: readonly Summary[];
}

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * An idle scenario's panel: peak RSS while the connections were open and idle, one bar per
 * subject, with the RSS before them and at the end of the hold in grey. Returns the next
 * free y.
 */
function idlePanel(
  rows: readonly Summary[],
  top: number,
  x: number,
  barW: number,
  colour: ReadonlyMap<string, string>,
  text: (x: number, y: number, s: string, attrs?: string) => void,
  out: string[],
): number {
  const barH = 16;
  const rowH = 21;
  let y = top;
  text(
    x,
    y,
    "peak RSS with the connections idle, MiB (shorter is better)",
    'font-size="12" fill="#555"',
  );
  y += 8;
  const maxRss = Math.max(1, ...rows.map((r) => r.peakRssMiB ?? 0));
  for (const row of rows) {
    text(x - 8, y + barH - 3, row.subject, 'font-size="13" text-anchor="end"');
    if (row.peakRssMiB === undefined) {
      const why = row.failures.length ? "failed to run" : "no data";
      text(x + 4, y + barH - 3, why, 'font-size="12" fill="#b00020"');
    } else {
      const w = Math.max(1, (row.peakRssMiB / maxRss) * barW);
      out.push(
        `<rect x="${x}" y="${y}" width="${w.toFixed(1)}" height="${barH}" ` +
          `fill="${colour.get(row.subject)}"/>`,
      );
      const before = row.rssBeforeMiB !== undefined
        ? `<tspan fill="#888" dx="8">${row.rssBeforeMiB.toFixed(1)} MiB before</tspan>`
        : "";
      const end = row.endRssMiB !== undefined
        ? `<tspan fill="#888" dx="8">${row.endRssMiB.toFixed(1)} MiB at the end</tspan>`
        : "";
      const errors = row.errors
        ? `<tspan fill="#b00020" dx="8">${row.errors.toLocaleString("en-US")} errors</tspan>`
        : "";
      out.push(
        `<text x="${(x + w + 5).toFixed(1)}" y="${y + barH - 3}" font-size="12">` +
          `<tspan>${row.peakRssMiB.toFixed(1)} MiB</tspan>${before}${end}${errors}</text>`,
      );
    }
    y += rowH;
  }
  return y + 10;
}

// The layout, in px.
const margin = 24;
const labelW = 150;
const rpsW = 430;
const gap = 250; // room for the rps value labels
const p99W = 240;
const p99Room = 330; // room for the p99 value, ratio and cost labels
const width = margin + labelW + rpsW + gap + p99W + p99Room + margin;
const barH = 16;
const rowH = 21;
const rpsX = margin + labelW;
const p99X = rpsX + rpsW + gap;

/** One subject's bars in a loaded scenario: requests/s with ratios, p99 with its cost. */
function loadedRow(
  row: Summary,
  y: number,
  max: { rps: number; p99Ms: number },
  colour: ReadonlyMap<string, string>,
  text: (x: number, y: number, s: string, attrs?: string) => void,
  out: string[],
): void {
  const c = colour.get(row.subject)!;
  text(rpsX - 8, y + barH - 3, row.subject, 'font-size="13" text-anchor="end"');
  if (row.rps === undefined) {
    const why = row.failures.length ? "failed to run" : "no data";
    text(rpsX + 4, y + barH - 3, why, 'font-size="12" fill="#b00020"');
  } else {
    const w = Math.max(1, (row.rps / max.rps) * rpsW);
    out.push(
      `<rect x="${rpsX}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${c}"/>`,
    );
    // Value, then ratios and errors in smaller grey/red print.
    const parts = [`<tspan>${esc(fmtRps(row.rps))}</tspan>`];
    if (row.vsNginx !== undefined) {
      parts.push(`<tspan fill="#555" dx="8">${esc(fmtRatio(row.vsNginx))} nginx</tspan>`);
    }
    if (row.vsBaselineRps !== undefined) {
      parts.push(
        `<tspan fill="#555" dx="8">${esc(fmtRatio(row.vsBaselineRps))} healthy</tspan>`,
      );
    }
    if (row.errors) {
      parts.push(
        `<tspan fill="#b00020" dx="8">${row.errors.toLocaleString("en-US")} errors</tspan>`,
      );
    }
    out.push(
      `<text x="${(rpsX + w + 5).toFixed(1)}" y="${y + barH - 3}" font-size="12">` +
        `${parts.join("")}</text>`,
    );
    const pw = Math.max(1, ((row.p99Ms ?? 0) / max.p99Ms) * p99W);
    out.push(
      `<rect x="${p99X}" y="${y}" width="${pw.toFixed(1)}" height="${barH}" fill="${c}" ` +
        `fill-opacity="0.55"/>`,
    );
    let p99Label = `<tspan>${esc(fmtMs(row.p99Ms))}</tspan>`;
    if (row.vsBaselineP99 !== undefined) {
      p99Label += `<tspan fill="#555" dx="8">${esc(fmtRatio(row.vsBaselineP99))} healthy</tspan>`;
    }
    // What the subject cost, when it is a process of its own.
    const cost = [
      row.cpuSPer1k !== undefined ? `cpu ${row.cpuSPer1k.toFixed(3)} s/1k` : undefined,
      row.peakRssMiB !== undefined ? `${row.peakRssMiB.toFixed(0)} MiB` : undefined,
    ].filter(Boolean).join(" · ");
    if (cost) p99Label += `<tspan fill="#888" dx="8">${esc(cost)}</tspan>`;
    out.push(
      `<text x="${(p99X + pw + 5).toFixed(1)}" y="${y + barH - 3}" font-size="12">` +
        `${p99Label}</text>`,
    );
  }
}

/**
 * A loaded scenario's panel: requests/s on the left, p99 latency on the right, one row per
 * subject. Returns the next free y.
 */
function loadedPanel(
  rows: readonly Summary[],
  start: number,
  colour: ReadonlyMap<string, string>,
  text: (x: number, y: number, s: string, attrs?: string) => void,
  out: string[],
): number {
  let y = start;
  text(rpsX, y, "requests/s (longer is better)", 'font-size="12" fill="#555"');
  text(
    p99X,
    y,
    "p99 latency, ms (shorter is better); CPU per 1,000 requests, peak RSS",
    'font-size="12" fill="#555"',
  );
  y += 8;

  const maxRps = Math.max(1, ...rows.map((r) => r.rps ?? 0));
  const maxP99 = Math.max(0.001, ...rows.map((r) => r.p99Ms ?? 0));
  const top = y;
  for (const row of rows) {
    loadedRow(row, y, { rps: maxRps, p99Ms: maxP99 }, colour, text, out);
    y += rowH;
  }
  // Zero lines.
  for (const x of [rpsX, p99X]) {
    out.push(
      `<line x1="${x}" y1="${top - 2}" x2="${x}" y2="${y - rowH + barH + 2}" stroke="#333"/>`,
    );
  }
  return y + 10;
}

/** Title, small print and the legend of subject colours. Returns the next free y. */
function heading(
  input: ChartInput,
  start: number,
  colour: ReadonlyMap<string, string>,
  text: (x: number, y: number, s: string, attrs?: string) => void,
  out: string[],
): number {
  let y = start;
  text(margin, y + 16, input.title, 'font-size="20" font-weight="bold"');
  y += 28;
  for (const line of input.subtitle) {
    text(margin, y + 12, line, 'font-size="12" fill="#555"');
    y += 17;
  }
  // Legend.
  y += 8;
  let lx = margin;
  for (const s of input.subjects) {
    out.push(`<rect x="${lx}" y="${y}" width="14" height="14" fill="${colour.get(s)}"/>`);
    text(lx + 19, y + 12, s, 'font-size="13"');
    lx += 19 + s.length * 7.8 + 22;
  }
  y += 30;
  return y;
}

/** Renders the chart as a standalone SVG document. */
export function renderChart(input: ChartInput): string {
  const colour = new Map<string, string>();
  let fallback = 0;
  for (const s of input.subjects) {
    colour.set(s, COLOURS[s] ?? FALLBACK[fallback++ % FALLBACK.length]);
  }

  const out: string[] = [];
  let y = margin;
  const text = (x: number, ty: number, s: string, attrs = "") =>
    out.push(`<text x="${x}" y="${ty}" ${attrs}>${esc(s)}</text>`);

  y = heading(input, y, colour, text, out);

  for (const scenario of input.scenarios) {
    const rows = input.subjects
      .map((subject) =>
        input.summaries.find((s) => s.scenario === scenario.name && s.subject === subject)
      )
      .filter((s): s is Summary => s !== undefined);
    if (rows.length === 0) continue;

    out.push(`<line x1="${margin}" y1="${y}" x2="${width - margin}" y2="${y}" stroke="#ddd"/>`);
    y += 20;
    text(margin, y, scenario.name, 'font-size="15" font-weight="bold"');
    text(
      margin + scenario.name.length * 9.2 + 12,
      y,
      scenario.description,
      'font-size="13" fill="#444"',
    );
    y += 18;
    if (scenario.kind === "idle") {
      y = idlePanel(rows, y, rpsX, rpsW, colour, text, out);
      continue;
    }
    y = loadedPanel(rows, y, colour, text, out);
  }
  y += margin - 10;

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" ` +
    `viewBox="0 0 ${width} ${y}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...out,
    `</svg>`,
    "",
  ].join("\n");
}
