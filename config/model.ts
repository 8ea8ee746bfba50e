/**
 * The configuration model: what a running Roundabout is told ({@linkcode Settings}), and the
 * two ways between it and the config file's shape. Each setting's default, check and
 * description are declared once, in `settings.ts`; here they become {@linkcode DEFAULT_SETTINGS}.
 *
 * @module
 */

import type { AccessLogFormat } from "../balancer/access_log.ts";
import { type BackendConfig, normaliseBackendUrl } from "../backends/backend.ts";
import type { BalancerOptions } from "../balancer/options.ts";
import { formatDuration } from "../lib/duration.ts";
import type { PoolConfig } from "../balancer/pools.ts";
import type { Route } from "../balancer/routes.ts";
import { fromRoute, toRoute } from "./routing.ts";
import { POOL_SETTINGS, type Setting, SETTINGS } from "./settings.ts";
import { BACKEND_OBJECT, type DurationValue, ms } from "./values.ts";

export { repeatedBackends } from "./values.ts";

// topology.ts describes its mock apps with the same value kinds as the settings.
export { duration, hostname, integer, ms, port } from "./values.ts";
export { CONFIG_FILE } from "./schema.ts";

/** Where the balancer listens. Cannot change while running. See `listen.*` in settings.ts. */
export interface ListenSettings {
  readonly hostname: string;
  readonly port: number;
}

/** The admin API. Cannot change while running. See `admin.*` in settings.ts. */
export interface AdminSettings {
  readonly hostname: string;
  /** Unset: no admin API. */
  readonly port?: number;
  /** Unset: loopback only, no token. */
  readonly token?: string;
  /** `GET /metrics` needs no token. See `metrics.public`. */
  readonly metricsPublic: boolean;
}

/** TLS termination. Cannot change while running. See `tls.*` in settings.ts. */
export interface TlsSettings {
  /** Path of the PEM certificate chain; unset (with `key`): plain HTTP. */
  readonly cert?: string;
  /** Path of the PEM private key. */
  readonly key?: string;
  /** A plain port answering 308 to HTTPS; unset: none. */
  readonly redirectPort?: number;
}

/** Everything a running Roundabout is told; each field is a setting of settings.ts. */
export interface Settings {
  readonly listen: ListenSettings;
  readonly tls: TlsSettings;
  readonly backends: readonly BackendConfig[];
  readonly options: BalancerOptions;
  readonly transport: string;
  /** Path of the PEM CA certificates trusted for https:// backends. */
  readonly backendCa?: string;
  readonly admin: AdminSettings;
  readonly accessLog: AccessLogFormat;
  readonly shutdownGraceMs: number;
  readonly workers: number;
  /** Hand freed C-heap memory back to the system. See `memoryTrim`. */
  readonly memoryTrim: boolean;
  /** `pools`: each with the top-level options overlaid with its own settings. */
  readonly pools: readonly PoolSettings[];
  /** `routes`, in order. */
  readonly routes: readonly Route[];
}

/** A pool as configured: what the balancer runs, and what the file said (for `toFile`). */
export interface PoolSettings extends PoolConfig {
  /** The pool's own settings as the file gave them. */
  readonly given: ConfigFile;
}

/** A config file's contents, as written (durations as strings or milliseconds). */
export type ConfigFile = Record<string, unknown>;

/** One backend as the admin API's `POST /backends` takes it. */
export const BACKEND_BODY = BACKEND_OBJECT;

/** The conventional admin port, used by `roundabout status` when none is given. */
export const CONVENTIONAL_ADMIN_PORT = 9090;

/** The value at a dotted `path` of a document, or undefined. */
export function getPath(document: unknown, path: string): unknown {
  let node = document;
  for (const key of path.split(".")) {
    if (node === null || typeof node !== "object" || Array.isArray(node)) return undefined;
    if (!Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Sets the value at a dotted `path`, making the objects on the way. */
export function setPath(document: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let node = document;
  for (const key of keys.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys.at(-1)!] = value;
}

/** A setting's value as `Settings` holds it, from its value as the file holds it. */
function fromFileValue(setting: Setting, value: unknown): unknown {
  if (value === undefined) return undefined;
  if (setting.type === "duration") return ms(value as DurationValue);
  if (setting.type === "backends") {
    return (value as (string | { url: string; weight?: number })[]).map(backendConfig);
  }
  if (setting.means !== undefined) return setting.means[value as string];
  return Array.isArray(value) ? [...value] : value;
}

/** A setting's value as the file holds it, from its value in `Settings`. */
function toFileValue(setting: Setting, value: unknown): unknown {
  if (value === undefined) return undefined;
  if (setting.type === "duration") return formatDuration(value as number);
  if (setting.type === "backends") {
    return (value as BackendConfig[]).map((b) => b.weight === 1 ? b.url : { ...b });
  }
  if (setting.means !== undefined) {
    return Object.keys(setting.means).find((choice) => setting.means![choice] === value);
  }
  return Array.isArray(value) ? [...value] : value;
}

/**
 * Settings from a file-shaped value that passed the schema, with each setting's default
 * (from settings.ts) for everything not given.
 */
export function toSettings(file: ConfigFile): Settings {
  const settings: Record<string, unknown> = {};
  for (const setting of SETTINGS) {
    const value = getPath(file, setting.path) ?? setting.default;
    setPath(settings, setting.field, fromFileValue(setting, value));
  }
  const top = settings as unknown as Settings;
  const pools = Object.entries((file.pools ?? {}) as Record<string, ConfigFile>)
    .map(([name, given]) => poolSettings(name, given, top));
  const routes = ((file.routes ?? []) as Parameters<typeof toRoute>[0][]).map(toRoute);
  return { ...top, pools, routes };
}

/** A pool's settings: the top level's, overlaid with those the pool gives. */
function poolSettings(name: string, given: ConfigFile, top: Settings): PoolSettings {
  const pool: Record<string, unknown> = { backends: [], options: structuredClone(top.options) };
  for (const setting of POOL_SETTINGS) {
    const value = getPath(given, setting.path);
    if (value !== undefined) setPath(pool, setting.field, fromFileValue(setting, value));
  }
  const { backends, options } = pool as unknown as PoolConfig;
  return { name, backends, options, given: structuredClone(given) };
}

/** `pool` holding `backends` instead of its own, in force and as the file would give them. */
export function withPoolBackends(
  pool: PoolSettings,
  backends: readonly BackendConfig[],
): PoolSettings {
  const setting = POOL_SETTINGS.find((s) => s.type === "backends")!;
  const given = { ...pool.given, [setting.path]: toFileValue(setting, backends) };
  return { ...pool, backends, given };
}

/** Every setting at its default. */
export const DEFAULT_SETTINGS: Settings = toSettings({});

/**
 * Settings written back in the file's shape, durations as text, without the admin token:
 * what `check-config` prints and `GET /config` answers, and what `POST /config` takes back.
 */
export function toFile(settings: Settings): ConfigFile {
  const file: ConfigFile = {};
  for (const setting of SETTINGS) {
    // The token is a secret: never written back (it cannot change while running anyway).
    if (setting.type === "token") continue;
    const value = toFileValue(setting, getPath(settings, setting.field));
    if (value !== undefined) setPath(file, setting.path, value);
  }
  if (settings.pools.length > 0) {
    file.pools = Object.fromEntries(settings.pools.map((pool) => [pool.name, pool.given]));
  }
  if (settings.routes.length > 0) file.routes = settings.routes.map(fromRoute);
  return file;
}

/** A backend as written (a URL, or url and weight), normalised. Assumes it is valid. */
export function backendConfig(entry: string | { url: string; weight?: number }): BackendConfig {
  const text = typeof entry === "string" ? entry : entry.url;
  const normal = normaliseBackendUrl(text) as { url: string };
  return { url: normal.url, weight: typeof entry === "string" ? 1 : entry.weight ?? 1 };
}

/** Whether `hostname` only accepts connections from this machine. */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
