/**
 * The comparison: every round, every scenario, every subject (the subject order rotated each
 * round), one measurement after another, with a progress line for each.
 *
 * @module
 */

import { isShuttingDown } from "../harness/processes.ts";
import { WRK_GRACE_S } from "../harness/wrk.ts";
import type { Backends } from "./backends.ts";
import { measure, progressLine, type RunContext, WRK_TIMEOUT_S } from "./measure.ts";
import type { BenchOptions } from "./options.ts";
import type { Measurement } from "./report.ts";
import { type Scenario, scenarioByName } from "./scenarios.ts";
import { START_TIMEOUT_MS, type Subject } from "./subjects.ts";

/** One measurement to make. */
interface Step {
  readonly round: number;
  readonly scenario: Scenario;
  readonly subject: Subject;
}

function fmtDuration(seconds: number): string {
  const s = Math.round(seconds);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** Every measurement in order; subjects that do not handle a scenario are left out. */
function plan(options: BenchOptions, subjects: Subject[]): Step[] {
  const scenarios = options.scenarios.map((n) => scenarioByName(n)!);
  const steps: Step[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const scenario of scenarios) {
      // Rotate the order each round so no subject always runs first (or right after another).
      const shift = (round - 1) % subjects.length;
      const order = [...subjects.slice(shift), ...subjects.slice(0, shift)];
      for (const subject of order) {
        if (subject.handles(scenario)) steps.push({ round, scenario, subject });
      }
    }
  }
  return steps;
}

/** How many measurements, about how long they take, and the hard upper bound. */
function printPlan(options: BenchOptions, steps: number): void {
  const perRunS = options.warmupS + options.durationS;
  // The hard limits: start, warm-up and measured wrk runs each with their overrun, stop.
  const limitS = START_TIMEOUT_MS / 1000 + perRunS + 2 * (WRK_TIMEOUT_S + WRK_GRACE_S) + 3;
  console.log(
    `${steps} measurements of ${options.durationS} s (+${options.warmupS} s warm-up): ` +
      `about ${fmtDuration(steps * (perRunS + 2))}, at most ` +
      `${fmtDuration(steps * limitS)}\n`,
  );
}

/** Makes every measurement of the plan; a backend that dies ends the run. */
export async function compare(
  options: BenchOptions,
  dir: string,
  subjects: Subject[],
  notes: string[],
  backends: Backends,
): Promise<Measurement[]> {
  const ctx: RunContext = { options, dir, backends };
  const steps = plan(options, subjects);
  printPlan(options, steps.length);
  const measurements: Measurement[] = [];
  // A subject that fails to start is tried again at its next turn (the tree may be mid-edit,
  // a transport may not exist yet); each distinct reason is noted once.
  const noted = new Set<string>();
  for (const [i, { round, scenario, subject }] of steps.entries()) {
    if (isShuttingDown()) break;
    const dead = backends.dead();
    if (dead) throw new Error(`a backend died, stopping: ${dead}`);
    const m = await measure(ctx, subject, scenario, round);
    if (isShuttingDown()) break;
    console.log(
      `[${i + 1}/${steps.length}] round ${round} ${scenario.name} ${subject.name}: ${
        progressLine(m)
      }`,
    );
    if (m.error) noteFailure(m.error, { round, scenario, subject }, noted, notes);
    measurements.push(m);
  }
  return measurements;
}

/** Adds a note for a failed measurement unless its subject already failed for that reason. */
function noteFailure(error: string, step: Step, noted: Set<string>, notes: string[]): void {
  const why = error.split("\n").map((l) => l.trim()).filter(Boolean).slice(0, 4).join(" | ");
  if (noted.has(`${step.subject.name} ${why}`)) return;
  noted.add(`${step.subject.name} ${why}`);
  notes.push(
    `${step.subject.name} failed (${step.scenario.name}, round ${step.round}): ${why}`,
  );
}
