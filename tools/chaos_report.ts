/**
 * The chaos run's verdict: what the clients saw by phase and kind of request, and the
 * balancer's own count of requests against the clients'.
 *
 * @module
 */

import { count, type Samples, total } from "./_common.ts";
import { failed, IDEMPOTENT, KINDS, type Tally } from "./chaos_traffic.ts";

/** Everything the report is made of. */
export interface Findings {
  readonly tally: Tally;
  /** The counters after the traffic stopped. */
  readonly final: Samples;
  /** The highest value of every counter seen during the run. */
  readonly highest: Samples;
  readonly kills: number;
  readonly restarts: number;
  /** "marked failed" lines in the balancer's log. */
  readonly ejectionLines: number;
  readonly balancerUrl: string;
}

/** Prints the report; returns the exit code (0 when the run passed). */
export function report(f: Findings): number {
  const out: string[] = [""];
  out.push(...overview(f));
  out.push("", "client-visible failures by phase (failed / sent):");
  out.push(...phaseTable(f.tally));
  const idempotent = idempotency(f.tally);
  out.push(...idempotent.lines);
  out.push("", "the balancer's count (roundabout_requests_total) against the clients':");
  const counts = countComparison(f);
  out.push(...counts.lines);
  const pass = idempotent.failed === 0 && counts.exact;
  out.push(
    "",
    pass
      ? `PASS: zero client-visible failures for ${
        count(idempotent.sent)
      } idempotent requests, counts agree`
      : `FAIL: ${idempotent.failed} idempotent failures${counts.exact ? "" : ", counts disagree"}`,
  );
  console.log(out.join("\n"));
  return pass ? 0 : 1;
}

/** Requests sent by kind, answers by status, what the chaos did, retries. */
function overview(f: Findings): string[] {
  const { tally } = f;
  const byOutcome = new Map<string, number>();
  for (const [, , outcome, n] of tally.rows()) {
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + n);
  }
  return [
    `requests sent: ${count(tally.sum(() => true))} (${
      KINDS.map((k) => `${k} ${count(tally.sum((_, kind) => kind === k))}`).join(", ")
    })`,
    `answered by status: ${[...byOutcome].sort().map(([o, n]) => `${o}: ${count(n)}`).join(", ")}`,
    `chaos: backend 1 killed ${f.kills} times, restarted ${f.restarts} times; ${f.ejectionLines} ejections logged by the balancer`,
    `retried (roundabout_retries_total): ${count(total(f.final, "roundabout_retries_total"))}`,
  ];
}

/** One row per phase, one `failed/sent (outcome×n …)` cell per kind. */
function phaseTable(tally: Tally): string[] {
  const rows = tally.rows();
  const phases = [...new Set(rows.map((r) => r[0]))];
  const lines = [`  ${"phase".padEnd(20)}${KINDS.map((k) => k.padEnd(22)).join("")}`];
  for (const phase of phases) {
    const cells = KINDS.map((kind) => {
      const n = tally.sum((p, k) => p === phase && k === kind);
      const bad = rows.filter(([p, k, o]) => p === phase && k === kind && failed(o));
      const what = bad.map(([, , o, m]) => `${o}×${m}`).join(" ");
      return `${tally.sum((p, k, o) => p === phase && k === kind && failed(o))}/${n}${
        what ? ` (${what})` : ""
      }`
        .padEnd(22);
    });
    lines.push(`  ${phase.padEnd(20)}${cells.join("")}`);
  }
  return lines;
}

/** Failures of idempotent and of plain requests. */
function idempotency(tally: Tally): { lines: string[]; failed: number; sent: number } {
  const idempotentFailed = tally.sum((_, k, o) => IDEMPOTENT.has(k) && failed(o));
  const idempotentSent = tally.sum((_, k) => IDEMPOTENT.has(k));
  const plainFailed = tally.sum((_, k, o) => !IDEMPOTENT.has(k) && failed(o));
  const plainSent = tally.sum((_, k) => !IDEMPOTENT.has(k));
  const lines = [
    `idempotent (GET, POST with Idempotency-Key): ${count(idempotentFailed)} failed of ${
      count(idempotentSent)
    }`,
    `non-idempotent (POST): ${count(plainFailed)} failed of ${count(plainSent)}` +
    (plainFailed > 0
      ? " (not replayed by design where retryAfterSend is idempotent, or when broken after sending)"
      : ""),
  ];
  return { lines, failed: idempotentFailed, sent: idempotentSent };
}

/** `roundabout_requests_total` summed by backend label. */
function perBackend(samples: Samples): Map<string, number> {
  const map = new Map<string, number>();
  for (const [key, value] of samples) {
    if (!key.startsWith("roundabout_requests_total{")) continue;
    const backend = /backend="([^"]*)"/.exec(key)?.[1] ?? "?";
    map.set(backend, (map.get(backend) ?? 0) + value);
  }
  return map;
}

/** The balancer's count per backend against the clients'; `exact` when they agree. */
function countComparison(f: Findings): { lines: string[]; exact: boolean } {
  const { tally } = f;
  const now = perBackend(f.final);
  const ever = perBackend(f.highest);
  const backends = [...new Set([...tally.byBackend.keys(), ...ever.keys()])].sort();
  const lines: string[] = [];
  let exact = true;
  for (const backend of backends) {
    const client = tally.byBackend.get(backend) ?? 0;
    const inForce = now.get(backend);
    const seen = ever.get(backend) ?? 0;
    const line = inForce !== undefined
      ? `${count(inForce)} counted, ${count(client)} seen by clients: ${
        inForce === client ? "agree" : `DIFFER by ${inForce - client}`
      }`
      : `removed by a reload, so its series left /metrics; last scraped ${count(seen)}, ` +
        `${count(client)} seen by clients (${
          client - seen
        } answered between the last scrape and the removal)`;
    if (inForce !== undefined && inForce !== client) exact = false;
    lines.push(`  ${backend.padEnd(24)} ${line}`);
  }
  lines.push(...totals(f), exactness(exact));
  return { lines, exact };
}

/** The totals of both counts. */
function totals(f: Findings): string[] {
  const sent = f.tally.sum(() => true);
  const counted = total(f.final, "roundabout_requests_total");
  const countedEver = total(f.highest, "roundabout_requests_total");
  const answered = [...f.tally.byBackend.values()].reduce((a, b) => a + b, 0);
  return [
    `  total: /metrics now sums to ${count(counted)}; with removed backends' last samples ` +
    `${count(countedEver)}; clients sent ${count(sent)} and got ${count(answered)} responses ` +
    `(${count(sent - answered)} without one).`,
  ];
}

function exactness(exact: boolean): string {
  return exact
    ? "  agree for every backend still configured; the shortfall of the total is requests answered by backends that reloads removed (admin/metrics.ts drops their series)."
    : "  DISAGREE for a backend still configured: see above.";
}
