/**
 * A backend: its configuration (immutable) and the state the balancer keeps about it.
 *
 * @module
 */

import { Health, type PassiveHealthOptions } from "./health.ts";

/** How a backend is configured. */
export interface BackendConfig {
  /** Base URL, `http://host:port` with an optional path prefix and no trailing slash. */
  readonly url: string;
  /** Relative share of traffic for weighted policies, a whole number ≥ 1. Default 1. */
  readonly weight: number;
}

/** A configured backend together with what the balancer has learnt about it. */
export class Backend {
  /** Requests currently waiting on this backend. */
  inFlight = 0;
  /** Tries sent to this backend. */
  requests = 0;
  /** Tries that failed (connection, timeout or 5xx). */
  failures = 0;
  readonly health: Health;

  constructor(readonly config: BackendConfig, passive: PassiveHealthOptions) {
    this.health = new Health(passive);
  }

  /** Base URL as configured, used in `x-app-url`. */
  get url(): string {
    return this.config.url;
  }

  /** Whether a policy may choose this backend at `nowMs`. */
  available(nowMs: number): boolean {
    return this.health.available(nowMs);
  }
}

/**
 * Checks and normalises a backend base URL: http or https, a host, no credentials, query or
 * fragment, no trailing slash. Returns the URL or, when it is unusable, why.
 */
export function normaliseBackendUrl(text: string): { url: string } | { problem: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: "is not an http(s) URL such as http://127.0.0.1:8001" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { problem: "is not an http(s) URL such as http://127.0.0.1:8001" };
  }
  if (url.hostname === "") return { problem: "has no host" };
  if (url.username || url.password) return { problem: "must not contain credentials" };
  if (url.search || url.hash) return { problem: "must not contain a query or fragment" };
  const path = url.pathname.replace(/\/+$/, "");
  return { url: `${url.protocol}//${url.host}${path}` };
}
