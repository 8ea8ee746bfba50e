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
  /** Value of the `host` request header: `host[:port]`, the port left out when it is 80. */
  readonly host: string;
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
  /** By authority: backends that differ only in their path prefix share connections. */
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
   * Throws an `UpstreamError` of kind `connect` for a URL this client cannot reach (https,
   * another scheme, an invalid address) and a `TypeError` for an unencoded path prefix.
   */
  target(baseUrl: string): Target {
    let target = this.#targets.get(baseUrl);
    if (target === undefined) {
      const { authority, pathPrefix } = splitBaseUrl(baseUrl);
      target = { origin: this.#origin(authority), pathPrefix };
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
  #origin(authority: string): Origin {
    let origin = this.#origins.get(authority);
    if (origin === undefined) {
      origin = parseOrigin(authority);
      this.#origins.set(authority, origin);
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

/** `http://authority/prefix` → its authority and its path prefix. */
function splitBaseUrl(url: string): { authority: string; pathPrefix: string } {
  if (!url.startsWith("http://")) {
    const scheme = url.slice(0, url.indexOf(":") + 1).toLowerCase();
    if (scheme === "https:") {
      throw new UpstreamError(
        "connect",
        "https backends are not supported by Http1Transport (plain HTTP/1.1 only); " +
          "use FetchTransport for TLS",
      );
    }
    if (scheme !== "http:") {
      throw new UpstreamError("connect", `unsupported backend URL "${url.slice(0, 100)}"`);
    }
  }
  const slash = url.indexOf("/", 7);
  const authority = slash === -1 ? url.slice(7) : url.slice(7, slash);
  const pathPrefix = slash === -1 ? "" : url.slice(slash);
  if (!isSafePath(pathPrefix)) {
    throw new TypeError(`Cannot send a request to "${url.slice(0, 100)}": unencoded path`);
  }
  return { authority, pathPrefix };
}

function parseOrigin(authority: string): Origin {
  let url: URL;
  try {
    url = new URL(`http://${authority}`);
  } catch (error) {
    throw new UpstreamError("connect", `invalid backend address "${authority}"`, { cause: error });
  }
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return { hostname, port: url.port === "" ? 80 : Number(url.port), host: url.host, idle: [] };
}
