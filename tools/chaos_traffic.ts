/**
 * The chaos run's clients: each sends GET, POST and POST with an `Idempotency-Key` in turn
 * through the balancer, and {@linkcode Tally} counts what they saw by phase, kind and outcome.
 *
 * @module
 */

/** The kinds of request a client sends, in turn. */
export const KINDS = ["GET", "POST", "POST+key"] as const;
export type Kind = (typeof KINDS)[number];
/** The kinds the balancer may replay, so a client must never see them fail. */
export const IDEMPOTENT: ReadonlySet<Kind> = new Set(["GET", "POST+key"]);

/** Whether an outcome is a failure as a client sees it. */
export const failed = (outcome: string) => outcome !== "200";

/** What the clients saw: by phase, kind of request and outcome. */
export class Tally {
  readonly #counts = new Map<string, number>();
  /** Answers by the backend that gave them (`x-app-url`; `none` for the balancer's own). */
  readonly byBackend = new Map<string, number>();

  add(phase: string, kind: Kind, outcome: string): void {
    const key = `${phase}\u0000${kind}\u0000${outcome}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  answeredBy(backend: string): void {
    this.byBackend.set(backend, (this.byBackend.get(backend) ?? 0) + 1);
  }

  /** Rows of `[phase, kind, outcome, count]`. */
  rows(): [string, Kind, string, number][] {
    return [...this.#counts].map(([key, n]) => {
      const [phase, kind, outcome] = key.split("\u0000");
      return [phase, kind as Kind, outcome, n];
    });
  }

  sum(filter: (phase: string, kind: Kind, outcome: string) => boolean): number {
    return this.rows().filter(([p, k, o]) => filter(p, k, o)).reduce((n, r) => n + r[3], 0);
  }
}

/**
 * Client `w`: one request after another until `signal` aborts, each counted under the phase
 * in force when it was sent (`phase()`).
 */
export async function client(
  w: number,
  balancerUrl: string,
  tally: Tally,
  phase: () => string,
  signal: AbortSignal,
): Promise<void> {
  for (let i = w; !signal.aborted; i++) {
    const kind = KINDS[i % KINDS.length];
    const at = phase();
    tally.add(at, kind, await send(balancerUrl, kind, w, i, tally));
  }
}

/** Sends request `i` of client `w`; returns its outcome (the status, or what went wrong). */
async function send(
  balancerUrl: string,
  kind: Kind,
  w: number,
  i: number,
  tally: Tally,
): Promise<string> {
  const body = JSON.stringify({ w, i });
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (kind === "POST+key") headers["idempotency-key"] = `chaos-${w}-${i}`;
  try {
    const response = await fetch(kind === "GET" ? `${balancerUrl}/?i=${i}` : balancerUrl, {
      method: kind === "GET" ? "GET" : "POST",
      headers,
      body: kind === "GET" ? undefined : body,
      signal: AbortSignal.timeout(15_000),
    });
    tally.answeredBy(response.headers.get("x-app-url") ?? "none");
    const text = await response.text();
    if (response.status === 200 && kind !== "GET" && text !== body) return "200, wrong body";
    return String(response.status);
  } catch (error) {
    return error instanceof DOMException && error.name === "TimeoutError"
      ? "client timeout"
      : `network error`;
  }
}
