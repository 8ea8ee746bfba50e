/**
 * `roundabout healthcheck`: asks a running Roundabout's `/healthz` (or any URL) and exits 0
 * on a 2xx answer, 1 otherwise. It exists for container images without curl or wget (the
 * distroless image of `deploy/Dockerfile`): Docker's HEALTHCHECK runs the binary itself.
 *
 * @module
 */

import { parseFlags, quote, stringFlag, UsageError } from "./usage.ts";

const DEFAULT_URL = "http://127.0.0.1:9090/healthz";
const TIMEOUT_MS = 3_000;

export const HEALTHCHECK_HELP =
  `roundabout healthcheck: exit 0 if a running Roundabout answers its health check

Usage: roundabout healthcheck [--url URL]

Options:
  --url URL   what to ask (default ${DEFAULT_URL}: the admin API's /healthz; /readyz
              also needs a backend available). Exits 0 on a 2xx answer within 3s, else 1.`;

const SPEC = { url: { type: "string" } } as const;

/** Runs the command; resolves with the exit status. */
export async function healthcheckCommand(args: readonly string[]): Promise<number> {
  const { flags, positionals } = parseFlags("healthcheck", args, SPEC);
  if (flags.help) {
    console.log(HEALTHCHECK_HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`healthcheck: unexpected argument ${quote(positionals[0])} (see --help)`);
  }
  const given = stringFlag(flags, "url") ?? DEFAULT_URL;
  if (!/^https?:\/\/[^/]/.test(given) || !URL.canParse(given)) {
    throw new UsageError(`--url ${quote(given)}: expected a URL such as ${DEFAULT_URL}`);
  }
  try {
    const response = await fetch(given, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    const text = await response.text();
    if (response.ok) return 0;
    console.error(`roundabout: ${given} answered ${response.status}: ${text.slice(0, 300)}`);
  } catch (error) {
    console.error(`roundabout: ${given}: ${error instanceof Error ? error.message : error}`);
  }
  return 1;
}
