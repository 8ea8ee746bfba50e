/**
 * DNS discovery: a backend URL whose host is a DNS name stands for every address the name
 * has (A and AAAA), and `srv+http://NAME` / `srv+https://NAME` for the targets, ports and
 * weights of its SRV records. This module resolves the names ({@linkcode Resolver},
 * injected so tests need no DNS) and expands the configured list into the backends in force;
 * which of those join, stay or drain is the `Pool`'s business (`pool.ts`).
 *
 * A name that fails to resolve, or resolves to nothing, keeps its last good set: a resolver
 * that breaks never empties a pool. IP literals and `localhost` are not resolved (the
 * transport connects to `localhost` as before), so with only those nothing here runs.
 *
 * @module
 */

import { ipVersion } from "../lib/ip.ts";
import type { BackendConfig } from "./backend.ts";

/** One SRV record (RFC 2782). */
export interface SrvRecord {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly target: string;
}

/** How names are resolved. Each may throw or reject; an empty answer counts as a failure. */
export interface Resolver {
  /** The A and AAAA addresses of `name`. */
  addresses(name: string): Promise<string[]>;
  /** The SRV records of `name`. */
  srv(name: string): Promise<SrvRecord[]>;
}

/** A backend in force; one that came from a name has its configured URL in `from`. */
export type DiscoveredConfig = BackendConfig;

/** What one name resolved to last, for the status document. */
export interface NameStatus {
  /** The configured URL, e.g. `srv+http://_api._tcp.internal`. */
  readonly url: string;
  /** The backends it stands for now (the last good set). */
  readonly backends: readonly string[];
  /** When it last resolved, ms on the balancer's clock; `null` if it never did. */
  readonly resolvedAtMs: number | null;
  /** Why the newest attempt failed; `null` when it succeeded. */
  readonly error: string | null;
}

/** The system's resolver, or the server at `nameServer` (`IP:PORT`), via `Deno.resolveDns`. */
export function dnsResolver(nameServer?: string, timeoutMs = 5_000): Resolver {
  const server = nameServer === undefined ? undefined : parseNameServer(nameServer);
  const options = () => ({
    ...(server ? { nameServer: server } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return {
    async addresses(name) {
      const answers = await Promise.allSettled([
        Deno.resolveDns(name, "A", options()),
        Deno.resolveDns(name, "AAAA", options()),
      ]);
      const found = answers.flatMap((a) => a.status === "fulfilled" ? a.value : []);
      // One family missing is normal (no AAAA); both failing is the resolver's failure.
      if (found.length === 0 && answers.some((a) => a.status === "rejected")) {
        throw (answers.find((a) => a.status === "rejected") as PromiseRejectedResult).reason;
      }
      return found;
    },
    srv: (name) => Deno.resolveDns(name, "SRV", options()),
  };
}

/** `IP:PORT` or `[IPv6]:PORT` as `Deno.resolveDns` takes it; port 53 when left out. */
export function parseNameServer(text: string): { ipAddr: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(text.trim());
  const ipAddr = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? 53 : Number(match[3]);
  if (ipAddr === undefined || ipVersion(ipAddr) === 0 || port < 1 || port > 65_535) {
    return undefined;
  }
  return { ipAddr, port };
}

/** Whether `url` (a normalised backend URL) needs resolving: a DNS name or an SRV URL. */
export function isDiscovered(url: string): boolean {
  if (url.startsWith("srv+")) return true;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  return ipVersion(host) === 0 && host !== "localhost";
}

/** Whether any backend of `configs` needs resolving. */
export function needsDiscovery(configs: readonly BackendConfig[]): boolean {
  return configs.some((config) => isDiscovered(config.url));
}

/** What one refresh changed, for the event log. */
export interface Refreshed {
  /** One line per name whose set changed or whose resolution failed. */
  readonly lines: readonly string[];
  /** Whether any name's set changed. */
  readonly changed: boolean;
}

interface Known {
  backends: DiscoveredConfig[];
  resolvedAtMs: number | null;
  error: string | null;
}

/** The last good set of every name, and how to refresh them. */
export class Discovery {
  /** Resolutions that failed (an error or an empty answer), for the metrics. */
  failures = 0;
  readonly #resolver: Resolver;
  readonly #known = new Map<string, Known>();
  /** Addresses the last refresh added to a name that had answered before. */
  #joining = new Set<string>();

  constructor(resolver: Resolver) {
    this.#resolver = resolver;
  }

  /**
   * The backends in force for `configs`: IP and `localhost` URLs as they are, each name
   * replaced by its last good set (nothing until it first resolves). The first of two
   * equal URLs wins.
   */
  expand(configs: readonly BackendConfig[]): DiscoveredConfig[] {
    const out = new Map<string, DiscoveredConfig>();
    for (const config of configs) {
      const found = isDiscovered(config.url)
        ? this.#known.get(config.url)?.backends ?? []
        : [config];
      for (const backend of found) if (!out.has(backend.url)) out.set(backend.url, backend);
    }
    return [...out.values()];
  }

  /** Forgets the names `configs` no longer has. */
  retain(configs: readonly BackendConfig[]): void {
    const urls = new Set(configs.map((config) => config.url));
    for (const url of this.#known.keys()) if (!urls.has(url)) this.#known.delete(url);
  }

  /** Resolves every name of `configs` at `nowMs`; forgets names no longer configured. */
  async refresh(configs: readonly BackendConfig[], nowMs: number): Promise<Refreshed> {
    const names = configs.filter((config) => isDiscovered(config.url));
    this.retain(names);
    const results = await Promise.all(names.map((config) => this.#resolve(config)));
    const lines: string[] = [];
    let changed = false;
    this.#joining = new Set();
    names.forEach((config, i) => {
      const result = results[i];
      const known = this.#known.get(config.url) ??
        { backends: [], resolvedAtMs: null, error: null };
      this.#known.set(config.url, known);
      if (typeof result === "string") {
        this.failures++;
        known.error = result;
        lines.push(
          `dns ${config.url}: ${result}; keeping the last good set ` +
            `(${known.backends.map((b) => b.url).join(", ") || "none yet"})`,
        );
        return;
      }
      const line = changeLine(config.url, known.backends, result);
      if (line !== undefined) {
        lines.push(line);
        changed = true;
      }
      if (known.resolvedAtMs !== null) {
        const was = new Set(known.backends.map((b) => b.url));
        for (const b of result) if (!was.has(b.url)) this.#joining.add(b.url);
      }
      Object.assign(known, { backends: result, resolvedAtMs: nowMs, error: null });
    });
    return { lines, changed };
  }

  /**
   * Whether `config` is an address the last refresh found for a name that had answered
   * before: it joins a running pool (slow start, probes) rather than starting in rotation.
   */
  readonly joins = (config: BackendConfig): boolean => this.#joining.has(config.url);

  /** Every configured name and what it stands for. */
  status(): NameStatus[] {
    return [...this.#known.entries()].map(([url, known]) => ({
      url,
      backends: known.backends.map((b) => b.url),
      resolvedAtMs: known.resolvedAtMs,
      error: known.error,
    }));
  }

  /** The backends `config` stands for now, or why they could not be had. */
  async #resolve(config: BackendConfig): Promise<DiscoveredConfig[] | string> {
    try {
      const found = config.url.startsWith("srv+")
        ? await this.#fromSrv(config)
        : await this.#fromAddresses(config);
      return found.length > 0 ? found : "no addresses in the answer";
    } catch (error) {
      return `resolution failed: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  async #fromAddresses(config: BackendConfig): Promise<DiscoveredConfig[]> {
    const url = new URL(config.url);
    const addresses = await this.#resolver.addresses(url.hostname);
    const rest = config.url.slice(`${url.protocol}//${url.host}`.length);
    return unique(addresses).map((address) => ({
      url: `${url.protocol}//${hostPort(address, url.port)}${rest}`,
      weight: config.weight,
      from: config.url,
    }));
  }

  /**
   * Every SRV target, with its record's priority: lower values serve first, higher ones
   * stand by (`Pool`, RFC 2782 failover). Each target's addresses share its weight (SRV
   * weight 0 counts as 1: every backend needs a share).
   */
  async #fromSrv(config: BackendConfig): Promise<DiscoveredConfig[]> {
    const url = new URL(config.url.slice("srv+".length));
    const records = await this.#resolver.srv(url.hostname);
    const sorted = [...records].sort((a, b) => a.priority - b.priority);
    const rest = config.url.slice(`srv+${url.protocol}//${url.host}`.length);
    const out: DiscoveredConfig[] = [];
    for (const record of sorted) {
      const target = record.target.replace(/\.$/, "");
      const addresses = ipVersion(target) !== 0 ? [target] : await this.#resolver.addresses(target);
      for (const address of unique(addresses)) {
        out.push({
          url: `${url.protocol}//${hostPort(address, String(record.port))}${rest}`,
          weight: Math.min(1_000, Math.max(1, record.weight)),
          from: config.url,
          priority: record.priority,
        });
      }
    }
    return out;
  }
}

/** e.g. `dns http://api.internal:8080: added http://127.0.0.3:8080; removed http://…` */
function changeLine(
  from: string,
  before: readonly DiscoveredConfig[],
  after: readonly DiscoveredConfig[],
): string | undefined {
  const was = new Map(before.map((b) => [b.url, b.weight]));
  const now = new Map(after.map((b) => [b.url, b.weight]));
  const priorityWas = new Map(before.map((b) => [b.url, b.priority]));
  const added = after.filter((b) => !was.has(b.url)).map((b) => b.url);
  const removed = before.filter((b) => !now.has(b.url)).map((b) => b.url);
  const reweighted = after.filter((b) => was.has(b.url) && was.get(b.url) !== b.weight)
    .map((b) => `${b.url} weight ${b.weight}`);
  const moved = after.filter((b) => was.has(b.url) && priorityWas.get(b.url) !== b.priority)
    .map((b) => `${b.url} priority ${b.priority}`);
  const parts = [
    added.length ? `added ${added.join(", ")}` : "",
    removed.length ? `removed ${removed.join(", ")} (draining)` : "",
    reweighted.length ? `reweighted ${reweighted.join(", ")}` : "",
    moved.length ? `moved ${moved.join(", ")}` : "",
  ].filter(Boolean);
  return parts.length ? `dns ${from}: ${parts.join("; ")}` : undefined;
}

function hostPort(address: string, port: string): string {
  const host = ipVersion(address) === 6 ? `[${address}]` : address;
  return port ? `${host}:${port}` : host;
}

function unique(addresses: readonly string[]): string[] {
  return [...new Set(addresses)].sort();
}
