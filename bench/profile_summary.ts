/**
 * Where the time goes, from V8 `.cpuprofile` files (`deno run --cpu-prof`): self time summed
 * by function name and script URL, top N with percentages, and the same by script.
 *
 * ```sh
 * deno run --allow-read bench/profile_summary.ts /tmp/prof/CPU.123.cpuprofile [--top 25]
 * deno run --allow-read bench/profile_summary.ts /tmp/prof/   # every .cpuprofile inside
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";

/** The parts of the V8 CPU profile format this needs. */
export interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
      readonly columnNumber: number;
    };
  }>;
  readonly samples: readonly number[];
  /** Microseconds since the previous sample; the first is since the profile's start. */
  readonly timeDeltas: readonly number[];
}

/** One function's (or script's) share. */
export interface Entry {
  readonly name: string;
  readonly url: string;
  readonly selfMs: number;
  /** Share of busy time (everything but `(idle)`), percent. */
  readonly percent: number;
}

/** What a set of profiles says. */
export interface ProfileSummary {
  /** Sampled time in milliseconds, idle included. */
  readonly totalMs: number;
  /** Time V8 reported as `(idle)`: the event loop waiting for I/O. */
  readonly idleMs: number;
  /** Functions by self time, largest first. */
  readonly functions: readonly Entry[];
  /** Scripts (URLs) by self time, largest first. */
  readonly scripts: readonly Entry[];
}

/** A readable name for a script URL: the repository's files relative to it. */
function shortUrl(url: string, root?: string): string {
  if (root && url.startsWith(root)) return url.slice(root.length);
  return url;
}

/** Aggregates self time over `profiles`. */
export function summariseProfiles(profiles: readonly CpuProfile[], root?: string): ProfileSummary {
  const functions = new Map<string, { name: string; url: string; us: number }>();
  const scripts = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
    const { samples, timeDeltas } = profile;
    for (let i = 0; i < samples.length; i++) {
      // A sample stands for the time until the next one; the last gets the previous interval.
      const us = Math.max(0, timeDeltas[i + 1] ?? timeDeltas[i] ?? 0);
      const frame = byId.get(samples[i]);
      if (!frame) continue;
      totalUs += us;
      if (frame.functionName === "(idle)") {
        idleUs += us;
        continue;
      }
      // Deno's built-in scripts are one long line: the column tells anonymous functions apart.
      const name = frame.functionName ||
        `(anonymous ${frame.lineNumber + 1}:${frame.columnNumber + 1})`;
      const url = shortUrl(frame.url, root);
      const key = `${name}\u0000${url}`;
      const entry = functions.get(key) ?? { name, url, us: 0 };
      entry.us += us;
      functions.set(key, entry);
      const script = url || "(native / V8)";
      scripts.set(script, (scripts.get(script) ?? 0) + us);
    }
  }
  const busyUs = totalUs - idleUs || 1;
  const entries = [...functions.values()]
    .sort((a, b) => b.us - a.us)
    .map((e) => ({
      name: e.name,
      url: e.url,
      selfMs: e.us / 1000,
      percent: (e.us / busyUs) * 100,
    }));
  const scriptEntries = [...scripts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([url, us]) => ({ name: url, url, selfMs: us / 1000, percent: (us / busyUs) * 100 }));
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    functions: entries,
    scripts: scriptEntries,
  };
}

/** The summary as text: top `top` functions, then the top scripts. */
export function formatSummary(summary: ProfileSummary, top: number): string {
  const busy = summary.totalMs - summary.idleMs;
  const lines = [
    `sampled ${(summary.totalMs / 1000).toFixed(2)} s: busy ${(busy / 1000).toFixed(2)} s, ` +
    `idle ${(summary.idleMs / 1000).toFixed(2)} s (waiting for I/O)`,
    `percentages are of busy time (self time: the function itself, not what it calls)`,
    "",
    `top ${top} functions by self time`,
    `${"self ms".padStart(9)}  ${"%".padStart(5)}  function  (script)`,
  ];
  for (const e of summary.functions.slice(0, top)) {
    lines.push(
      `${e.selfMs.toFixed(1).padStart(9)}  ${e.percent.toFixed(1).padStart(5)}  ${e.name}` +
        (e.url ? `  (${e.url})` : ""),
    );
  }
  lines.push("", "top 10 scripts by self time");
  for (const e of summary.scripts.slice(0, 10)) {
    lines.push(
      `${e.selfMs.toFixed(1).padStart(9)}  ${e.percent.toFixed(1).padStart(5)}  ${e.name}`,
    );
  }
  return lines.join("\n");
}

/** Reads `.cpuprofile` files, and every one inside folders among `paths`. */
export async function readProfiles(paths: readonly string[]): Promise<CpuProfile[]> {
  const files: string[] = [];
  for (const path of paths) {
    if ((await Deno.stat(path)).isDirectory) {
      for await (const entry of Deno.readDir(path)) {
        if (entry.isFile && entry.name.endsWith(".cpuprofile")) files.push(`${path}/${entry.name}`);
      }
    } else {
      files.push(path);
    }
  }
  return Promise.all(files.map(async (f) => JSON.parse(await Deno.readTextFile(f)) as CpuProfile));
}

if (import.meta.main) {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: { top: { type: "string", default: "25" }, help: { type: "boolean" } },
    });
  } catch (error) {
    console.error((error instanceof Error ? error.message : String(error)).split("\n")[0]);
    Deno.exit(2);
  }
  const top = Number(parsed.values.top);
  if (parsed.values.help || parsed.positionals.length === 0 || !(top >= 1)) {
    console.error(
      "Usage: deno run --allow-read bench/profile_summary.ts FILE.cpuprofile|DIR... [--top 25]",
    );
    Deno.exit(parsed.values.help ? 0 : 2);
  }
  const profiles = await readProfiles(parsed.positionals);
  if (profiles.length === 0) {
    console.error("no .cpuprofile files found");
    Deno.exit(1);
  }
  const root = new URL("..", import.meta.url).href;
  console.log(formatSummary(summariseProfiles(profiles, root), top));
}
