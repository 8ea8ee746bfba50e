/**
 * The configuration of a running Roundabout, and how it changes: a reload from the sources
 * (SIGHUP, the config file changing, `POST /reload`), a whole new document (`POST /config`),
 * or a change of backends through the admin API. Every change is checked like a start-up
 * configuration; a valid one is put in force atomically (see `server.ts`), an invalid one is
 * rejected with the same messages, logged, and the configuration in force stays.
 *
 * Changes are applied one at a time, in the order they arrive.
 *
 * @module
 */

import type { BackendConfig } from "../backends/backend.ts";
import type { RequestRecord } from "../balancer/balancer.ts";
import type { RunningBalancer } from "../balancer/server.ts";
import { DEFAULT_POOL } from "../balancer/pools.ts";
import { getPath, type PoolSettings, type Settings, toFile, withPoolBackends } from "./model.ts";
import { ConfigError } from "./problems.ts";
import { SETTINGS } from "./settings.ts";
import { type Layer, objectLayer, type Origin, resolve, type Resolved } from "./sources.ts";

/** What became of a change. */
export type Outcome =
  | {
    readonly ok: true;
    /** One line per setting that changed, e.g. `timeout: 2s → 1s`; empty when none did. */
    readonly changes: readonly string[];
    /** Settings that cannot change while running and were kept as they were. */
    readonly kept: readonly string[];
  }
  | { readonly ok: false; readonly problems: readonly string[] };

/** What a {@linkcode LiveConfig} works with. */
export interface LiveConfigParts {
  /** The configuration that started the balancer. */
  readonly initial: Resolved;
  /**
   * The sources, lowest precedence first, read afresh on each call (the file is re-read).
   * A `file` layer in the result is replaced by a document given to `applyDocument`.
   */
  readonly sources: () => Layer[];
  readonly running: RunningBalancer;
  /** The per-request sink for some settings (access log format), or none. */
  readonly sinkFor: (settings: Settings) => ((record: RequestRecord) => void) | undefined;
  /** Event log. */
  readonly log: (line: string) => void;
}

/** Settings a running process cannot change; a change is logged and ignored. */
const FIXED: readonly { path: keyof Settings; why: string }[] = [
  { path: "listen", why: "the listening socket stays open" },
  // Deno.serve takes its certificate once, when it starts listening: no swap without a restart.
  { path: "tls", why: "the listener keeps the certificate it started with" },
  { path: "admin", why: "the admin API keeps its address and token" },
  { path: "transport", why: "the upstream client stays" },
  { path: "backendCa", why: "the upstream client keeps the CA it started with" },
  { path: "workers", why: "the worker threads stay" },
  { path: "memoryTrim", why: "memory trimming is set up at start" },
];

/** The live configuration. */
export class LiveConfig {
  #resolved: Resolved;
  readonly #parts: LiveConfigParts;
  #queue: Promise<unknown> = Promise.resolve();
  /**
   * Reloads from the sources or a whole document (not backend changes through the admin
   * API), by result, and when a configuration was last applied, wall-clock: for metrics.
   */
  readonly reloads = { succeeded: 0, failed: 0, lastSuccessMs: Date.now() };

  constructor(parts: LiveConfigParts) {
    this.#parts = parts;
    this.#resolved = parts.initial;
  }

  /** The settings in force. */
  get settings(): Settings {
    return this.#resolved.settings;
  }

  /** Where each setting in force came from, by setting path. */
  get origins(): ReadonlyMap<string, Origin> {
    return this.#resolved.origins;
  }

  /** Re-reads every source (the config file included) and applies the result. */
  reload(reason: string): Promise<Outcome> {
    return this.#enqueue(reason, () => this.#parts.sources());
  }

  /**
   * Applies a whole config document in place of the file (flags and environment variables
   * still take precedence). It lasts until the sources are read again.
   */
  applyDocument(document: unknown, reason: string): Promise<Outcome> {
    const layer = objectLayer("", document);
    return this.#enqueue(
      reason,
      () => [layer, ...this.#parts.sources().filter((l) => l.source !== "file")],
    );
  }

  /**
   * Applies settings derived from those in force (the admin API's backend changes): `change`
   * gets the backends of `pool` (default: the top-level ones) and returns that pool's next
   * backends, or a reason to refuse. The result lasts until the sources are read again.
   */
  applyBackends(
    change: (backends: readonly BackendConfig[]) => readonly BackendConfig[] | string,
    reason: string,
    pool: string = DEFAULT_POOL,
  ): Promise<Outcome> {
    const run = (): Outcome => {
      const before = this.settings;
      const named = before.pools.find((p) => p.name === pool);
      if (pool !== DEFAULT_POOL && named === undefined) {
        return { ok: false, problems: [`no pool named ${JSON.stringify(pool)}`] };
      }
      const next = change(named?.backends ?? before.backends);
      if (typeof next === "string") return { ok: false, problems: [next] };
      const origins = new Map(this.origins);
      // The pools are one setting (they and the routes come from one source): all of it is now
      // the API's, as the top-level backends are after a change of the default pool.
      origins.set(named === undefined ? "backends" : "pools", { source: "api", name: "admin API" });
      const settings = named === undefined ? { ...before, backends: next } : {
        ...before,
        pools: before.pools.map((p) => p === named ? withPoolBackends(p, next) : p),
      };
      return this.#apply({ settings, origins }, reason);
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result.then((outcome) => this.#settled(outcome));
  }

  #enqueue(reason: string, layers: () => Layer[]): Promise<Outcome> {
    const run = (): Outcome => {
      let resolved: Resolved;
      try {
        resolved = resolve(layers());
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        this.#parts.log(
          `configuration from ${reason} rejected, the current one stays in force:`,
        );
        for (const problem of error.problems) this.#parts.log(`  ${problem}`);
        this.reloads.failed++;
        return { ok: false, problems: error.problems };
      }
      const outcome = this.#apply(resolved, reason);
      this.reloads.succeeded++;
      this.reloads.lastSuccessMs = Date.now();
      return outcome;
    };
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => {});
    return result.then((outcome) => this.#settled(outcome));
  }

  /** Waits until the balancer follows the last change (probes included). */
  async #settled(outcome: Outcome): Promise<Outcome> {
    await this.#pending;
    return outcome;
  }

  #pending: Promise<unknown> = Promise.resolve();

  #apply(next: Resolved, reason: string): Outcome {
    const before = this.settings;
    const kept: string[] = [];
    let settings = next.settings;
    const origins = new Map(next.origins);
    for (const { path, why } of FIXED) {
      if (JSON.stringify(before[path]) === JSON.stringify(settings[path])) continue;
      kept.push(path);
      this.#parts.log(
        `${path} cannot change while running (${why}); keeping ${
          path === "admin"
            ? "the current admin settings"
            : JSON.stringify(toFile(before)[path]) ?? "none"
        } until a restart`,
      );
      settings = { ...settings, [path]: before[path] };
      for (const [field, origin] of this.origins) {
        if (field === path || field.startsWith(`${path}.`)) origins.set(field, origin);
      }
    }
    const changes = describeChanges(before, settings);
    this.#resolved = { settings, origins };
    this.#pending = this.#parts.running.reconfigure({
      backends: settings.backends,
      options: settings.options,
      pools: settings.pools,
      routes: settings.routes,
      onRequest: this.#parts.sinkFor(settings),
    }).catch((error) => this.#parts.log(`probes did not follow the reload: ${error}`));
    this.#parts.log(
      changes.length === 0
        ? `configuration from ${reason} applied: nothing changed`
        : `configuration from ${reason} applied: ${changes.join("; ")}`,
    );
    return { ok: true, changes, kept };
  }
}

/** One line per setting that differs, e.g. `timeout: 2s → 1s`. */
export function describeChanges(before: Settings, after: Settings): string[] {
  const changes: string[] = [];
  const a = toFile(before);
  const b = toFile(after);
  for (const { path, field, type } of SETTINGS) {
    if (path === "backends") continue;
    if (type === "token") {
      // A secret is not in the file shape: said to have changed, never shown.
      if (getPath(before, field) !== getPath(after, field)) changes.push(`${path}: changed`);
      continue;
    }
    const x = JSON.stringify(getPath(a, path));
    const y = JSON.stringify(getPath(b, path));
    if (x !== y) changes.push(`${path}: ${x ?? "unset"} → ${y ?? "unset"}`);
  }
  changes.push(...backendChanges("backends", before.backends, after.backends));
  changes.push(...routingChanges(before, after));
  return changes;
}

/** e.g. `backends added: …`, `backend … weight: 1 → 2`; `label` names the list. */
function backendChanges(
  label: string,
  before: readonly BackendConfig[],
  after: readonly BackendConfig[],
): string[] {
  const changes: string[] = [];
  const old = new Map(before.map((backend) => [backend.url, backend.weight]));
  const now = new Map(after.map((backend) => [backend.url, backend.weight]));
  const added = [...now.keys()].filter((url) => !old.has(url));
  const removed = [...old.keys()].filter((url) => !now.has(url));
  const reweighted = [...now].filter(([url, w]) => old.has(url) && old.get(url) !== w);
  if (added.length > 0) changes.push(`${label} added: ${added.join(", ")}`);
  if (removed.length > 0) changes.push(`${label} removed (draining): ${removed.join(", ")}`);
  const one = label.replace(/s$/, "");
  for (const [url, weight] of reweighted) {
    changes.push(`${one} ${url} weight: ${old.get(url)} → ${weight}`);
  }
  const order = (list: readonly BackendConfig[]) => list.map((x) => x.url).join(" ");
  if (added.length === 0 && removed.length === 0 && order(before) !== order(after)) {
    changes.push(`${label} reordered`);
  }
  return changes;
}

/** e.g. `pools added: static`, `pool api changed`, `routes: 2 → 3`. */
function routingChanges(before: Settings, after: Settings): string[] {
  const changes: string[] = [];
  const old = new Map(before.pools.map((pool) => [pool.name, JSON.stringify(pool.given)]));
  const now = new Map(after.pools.map((pool) => [pool.name, JSON.stringify(pool.given)]));
  const added = [...now.keys()].filter((name) => !old.has(name));
  const removed = [...old.keys()].filter((name) => !now.has(name));
  if (added.length > 0) changes.push(`pools added: ${added.join(", ")}`);
  if (removed.length > 0) changes.push(`pools removed: ${removed.join(", ")}`);
  for (const pool of after.pools) {
    const was = before.pools.find((p) => p.name === pool.name);
    if (was === undefined || old.get(pool.name) === now.get(pool.name)) continue;
    const backends = backendChanges(`pool ${pool.name} backends`, was.backends, pool.backends);
    changes.push(...backends);
    const rest = (p: PoolSettings) => JSON.stringify({ ...p.given, backends: undefined });
    if (backends.length === 0 || rest(was) !== rest(pool)) {
      changes.push(`pool ${pool.name} changed`);
    }
  }
  if (JSON.stringify(before.routes) !== JSON.stringify(after.routes)) {
    const [x, y] = [before.routes.length, after.routes.length];
    changes.push(x === y ? `routes changed (${y})` : `routes: ${x} → ${y}`);
  }
  return changes;
}
