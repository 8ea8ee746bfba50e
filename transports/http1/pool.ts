/**
 * Idle keep-alive connections, kept per origin (host:port) and reused last-in first-out, so
 * the warmest connections serve and the surplus ages out. One shared timer closes those idle
 * for too long.
 *
 * @module
 */

import { UpstreamError } from "../transport.ts";
import type { Http1Connection } from "./connection.ts";
import { isSafePath } from "./request.ts";

/** A backend origin as the transport connects to it, with its idle connections. */
export interface Origin {
  /** Host name or IP address for `Deno.connect` (IPv6 without brackets). */
  readonly hostname: string;
  readonly port: number;
  /**
   * Value of the `host` request header: `host[:port]`, the port left out when it is the
   * scheme's default (80, or 443 with TLS).
   */
  readonly host: string;
  /** Whether connections to it speak TLS (an `https://` backend). */
  readonly tls: boolean;
  /** Idle connections, oldest first; the last one is reused next. */
  readonly idle: Http1Connection[];
}

/** Where the requests to one backend go: its origin, and the path prefix of its base URL. */
export interface Target {
  readonly origin: Origin;
  /** The base URL's path (`/v2` of `http://api.test/v2`), or `""`; percent-encoded. */
  readonly pathPrefix: string;
}

/** Keep-alive connections per origin with an idle timeout. */
export class Http1Pool {
  /** By scheme and authority: backends that differ only in their path prefix share connections. */
  readonly #origins = new Map<string, Origin>();
  /** By base URL, parsed once: a request only looks its backend's up. */
  readonly #targets = new Map<string, Target>();
  readonly #maxIdlePerOrigin: number;
  readonly #idleTimeoutMs: number;
  #idleCount = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(maxIdlePerOrigin: number, idleTimeoutMs: number) {
    this.#maxIdlePerOrigin = maxIdlePerOrigin;
    this.#idleTimeoutMs = idleTimeoutMs;
  }

  /**
   * The target of a backend's base URL (`http://host:port/prefix`), parsed on first use.
   * Throws an `UpstreamError` of kind `connect` for a URL this client cannot reach (a
   * scheme other than http and https, an invalid address) and a `TypeError` for an
   * unencoded path prefix.
   */
  target(baseUrl: string): Target {
    let target = this.#targets.get(baseUrl);
    if (target === undefined) {
      const { tls, authority, pathPrefix } = splitBaseUrl(baseUrl);
      target = { origin: this.#origin(tls, authority), pathPrefix };
      this.#targets.set(baseUrl, target);
    }
    return target;
  }

  /** The most recently used idle connection to `origin` that is still open, if any. */
  take(origin: Origin): Http1Connection | undefined {
    const idle = origin.idle;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      this.#idleCount--;
      if (!conn.closed) {
        conn.wake();
        return conn;
      }
    }
    return undefined;
  }

  /** Keeps `conn` for reuse, or closes it when the pool is closed or full for its origin. */
  put(origin: Origin, conn: Http1Connection): void {
    if (this.#closed || conn.closed || origin.idle.length >= this.#maxIdlePerOrigin) {
      conn.close();
      return;
    }
    conn.idle = true;
    conn.idleSinceMs = Date.now();
    conn.watchWhileIdle();
    origin.idle.push(conn);
    this.#idleCount++;
    if (this.#timer === undefined) this.#startSweeper();
  }

  /** Closes every idle connection and stops the timer; later `put`s close what they get. */
  close(): void {
    this.#closed = true;
    this.#stopSweeper();
    for (const origin of this.#origins.values()) {
      for (const conn of origin.idle) conn.close();
      origin.idle.length = 0;
    }
    this.#idleCount = 0;
  }

  /** The origin for an `authority` (`host:port` as written in a URL), created on first use. */
  #origin(tls: boolean, authority: string): Origin {
    const key = tls ? `https://${authority}` : authority;
    let origin = this.#origins.get(key);
    if (origin === undefined) {
      origin = parseOrigin(tls, authority);
      this.#origins.set(key, origin);
    }
    return origin;
  }

  #startSweeper(): void {
    // A quarter of the timeout (within 10 ms .. 1 s) closes a connection at most 25% late.
    const everyMs = Math.max(10, Math.min(1000, this.#idleTimeoutMs / 4));
    const timer = setInterval(() => this.#sweep(), everyMs);
    // An idle pool must not keep the process (or a test) running.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #stopSweeper(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    const oldestKeptMs = Date.now() - this.#idleTimeoutMs;
    for (const origin of this.#origins.values()) {
      const idle = origin.idle;
      let kept = 0;
      for (const conn of idle) {
        if (conn.closed || conn.idleSinceMs <= oldestKeptMs) conn.close();
        else idle[kept++] = conn;
      }
      this.#idleCount -= idle.length - kept;
      idle.length = kept;
    }
    if (this.#idleCount === 0) this.#stopSweeper();
  }
}

/** `http[s]://authority/prefix` → whether it is TLS, its authority and its path prefix. */
function splitBaseUrl(url: string): { tls: boolean; authority: string; pathPrefix: string } {
  const tls = url.startsWith("https://");
  if (!tls && !url.startsWith("http://")) {
    throw new UpstreamError("connect", `unsupported backend URL "${url.slice(0, 100)}"`);
  }
  const start = tls ? 8 : 7;
  const slash = url.indexOf("/", start);
  const authority = slash === -1 ? url.slice(start) : url.slice(start, slash);
  const pathPrefix = slash === -1 ? "" : url.slice(slash);
  if (!isSafePath(pathPrefix)) {
    throw new TypeError(`Cannot send a request to "${url.slice(0, 100)}": unencoded path`);
  }
  return { tls, authority, pathPrefix };
}

function parseOrigin(tls: boolean, authority: string): Origin {
  let url: URL;
  try {
    url = new URL(`${tls ? "https" : "http"}://${authority}`);
  } catch (error) {
    throw new UpstreamError("connect", `invalid backend address "${authority}"`, { cause: error });
  }
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === "" ? (tls ? 443 : 80) : Number(url.port);
  return { hostname, port, host: url.host, tls, idle: [] };
}
