/**
 * Profile mode (`--profile`): each chosen Deno subject under each chosen scenario with
 * `--cpu-prof`; the profiles are copied to the results folder and summarised.
 *
 * @module
 */

import { REPO_DIR } from "../harness/deno_run.ts";
import type { Backends } from "./backends.ts";
import { measure, progressLine, type RunContext } from "./measure.ts";
import type { BenchOptions } from "./options.ts";
import { formatSummary, readProfiles, summariseProfiles } from "./profile_summary.ts";
import { type Scenario, scenarioByName } from "./scenarios.ts";
import type { Subject } from "./subjects.ts";

/** Profile mode: each Deno subject under each scenario with --cpu-prof; prints summaries. */
export async function profile(
  options: BenchOptions,
  dir: string,
  subjects: Subject[],
  backends: Backends,
  stamp: string,
): Promise<void> {
  await Deno.mkdir(options.outDir, { recursive: true });
  for (const subject of subjects) {
    for (const name of options.scenarios) {
      const scenario = scenarioByName(name)!;
      if (!subject.handles(scenario)) continue;
      await profileOne({ options, dir, backends }, subject, scenario, stamp);
    }
  }
}

/** One subject under one scenario: measured with --cpu-prof, then its profile kept and summarised. */
async function profileOne(
  run: Omit<RunContext, "denoFlags">,
  subject: Subject,
  scenario: Scenario,
  stamp: string,
): Promise<void> {
  const { options, dir } = run;
  const profDir = `${dir}/prof-${subject.name}-${scenario.name}`;
  await Deno.mkdir(profDir, { recursive: true });
  const ctx: RunContext = { ...run, denoFlags: ["--cpu-prof", `--cpu-prof-dir=${profDir}`] };
  console.log(`profiling ${subject.name} under ${scenario.name} for ${options.durationS} s…`);
  const m = await measure(ctx, subject, scenario, 1);
  console.log(`  ${progressLine(m)}`);
  const profiles = await readProfiles([profDir]);
  if (profiles.length === 0) {
    console.log(
      `  no .cpuprofile written: the subject must exit cleanly on SIGTERM for --cpu-prof ` +
        `to write one (log: ${dir}/${subject.name}.log)`,
    );
    return;
  }
  for await (const entry of Deno.readDir(profDir)) {
    const target = `${options.outDir}/${stamp}-${subject.name}-${scenario.name}.cpuprofile`;
    await Deno.copyFile(`${profDir}/${entry.name}`, target);
    console.log(`  profile: ${target} (open in Chrome DevTools › Performance)`);
  }
  console.log("");
  console.log(formatSummary(summariseProfiles(profiles, `file://${REPO_DIR}/`), options.top));
  console.log("");
}
