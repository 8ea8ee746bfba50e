/**
 * Routes: which pool a request goes to. An ordered list, the first match wins; a request
 * that matches none goes to the default pool.
 *
 * Matching is flat in the number of routes: {@linkcode compileRoutes} sorts the routes once
 * per configuration into buckets by host (exact names, `*.` suffixes, any host) and, inside
 * each, a map by normalised path prefix. A request looks up at most (labels of its host + 2)
 * × (segments of its path + 1) map entries and takes the lowest-numbered candidate whose
 * methods and headers match; how many routes there are does not enter into it.
 *
 * @module
 */

/** One route as configured (`routes[i]` in the file), normalised. */
export interface Route {
  /** Lower case; `*.example.com` stands for any subdomain at any depth, not the apex. */
  readonly host?: string;
  /** Starts with `/`; matches on segment boundaries (`/api` not `/apiary`). */
  readonly pathPrefix?: string;
  /** Upper case. */
  readonly methods?: readonly string[];
  /** Lower-case names to exact values; all must match. */
  readonly headers?: Readonly<Record<string, string>>;
  /** The pool's name (`default` for the top level). */
  readonly pool: string;
  /** Remove `pathPrefix` from the forwarded path (leaving at least `/`). */
  readonly stripPrefix: boolean;
  /** The per-try timeout for this route; unset, the pool's. */
  readonly timeoutMs?: number;
}

/** Picks the route of a request: its index, or -1 for none (the default pool). */
export interface RouteMatcher {
  match(request: Request): number;
}

/** A route inside a bucket: what is left to check once host and prefix key matched. */
interface Candidate {
  readonly index: number;
  /** The prefix ended with `/`: the path must go on past the key. */
  readonly slash: boolean;
  readonly methods?: ReadonlySet<string>;
  readonly headers?: readonly (readonly [string, string])[];
}

/** Candidates by prefix key, each list in route order. */
type Bucket = Map<string, Candidate[]>;

/**
 * A prefix as a map key: without its trailing `/` (`/api/` → `/api`, `/` → ``), and whether
 * it had one (then `/api` itself does not match, `/api/x` does).
 */
export function prefixKey(prefix: string | undefined): { key: string; slash: boolean } {
  if (prefix === undefined || prefix === "/") return { key: "", slash: false };
  return prefix.endsWith("/")
    ? { key: prefix.slice(0, -1), slash: true }
    : { key: prefix, slash: false };
}

/** Whether a route matches every request (no host, prefix, methods or headers). */
export function isCatchAll(route: Omit<Route, "pool" | "stripPrefix">): boolean {
  return route.host === undefined && prefixKey(route.pathPrefix).key === "" &&
    route.methods === undefined && route.headers === undefined;
}

/** Compiles routes once per configuration. */
export function compileRoutes(routes: readonly Route[]): RouteMatcher {
  return new CompiledRoutes(routes);
}

class CompiledRoutes implements RouteMatcher {
  readonly #exact = new Map<string, Bucket>();
  /** By the suffix after `*.`: `*.example.com` is under `example.com`. */
  readonly #wildcard = new Map<string, Bucket>();
  readonly #anyHost: Bucket = new Map();
  /** Some route names a host: only then is the request's host read. */
  readonly #byHost: boolean;

  constructor(routes: readonly Route[]) {
    routes.forEach((route, index) => {
      const bucket = this.#bucketOf(route.host);
      const { key, slash } = prefixKey(route.pathPrefix);
      const candidate: Candidate = {
        index,
        slash,
        methods: route.methods && new Set(route.methods),
        headers: route.headers && Object.entries(route.headers),
      };
      const list = bucket.get(key);
      if (list === undefined) bucket.set(key, [candidate]);
      else list.push(candidate);
    });
    this.#byHost = this.#exact.size > 0 || this.#wildcard.size > 0;
  }

  #bucketOf(host: string | undefined): Bucket {
    if (host === undefined) return this.#anyHost;
    const map = host.startsWith("*.") ? this.#wildcard : this.#exact;
    const name = host.startsWith("*.") ? host.slice(2) : host;
    let bucket = map.get(name);
    if (bucket === undefined) map.set(name, bucket = new Map());
    return bucket;
  }

  match(request: Request): number {
    const url = request.url;
    const start = url.indexOf("/", url.indexOf("//") + 2);
    const query = url.indexOf("?", start);
    const end = query === -1 ? url.length : query;
    let best = Number.MAX_SAFE_INTEGER;
    if (this.#byHost) {
      const host = hostKey(request.headers.get("host") ?? url.slice(url.indexOf("//") + 2, start));
      const exact = this.#exact.get(host);
      if (exact !== undefined) best = scan(exact, request, url, start, end, best);
      if (this.#wildcard.size > 0) {
        for (let dot = host.indexOf("."); dot !== -1; dot = host.indexOf(".", dot + 1)) {
          const bucket = this.#wildcard.get(host.slice(dot + 1));
          if (bucket !== undefined) best = scan(bucket, request, url, start, end, best);
        }
      }
    }
    if (this.#anyHost.size > 0) best = scan(this.#anyHost, request, url, start, end, best);
    return best === Number.MAX_SAFE_INTEGER ? -1 : best;
  }
}

/**
 * The lowest route index under `best` in `bucket` for the path `url[start, end)`: each
 * prefix key the path has (``, `/a`, `/a/b`, … the whole path) is one map lookup.
 */
function scan(
  bucket: Bucket,
  request: Request,
  url: string,
  start: number,
  end: number,
  best: number,
): number {
  for (let cut = start;;) {
    const key = cut === start ? "" : url.slice(start, cut);
    best = pick(bucket.get(key), request, true, best);
    const next = url.indexOf("/", cut + 1);
    if (next === -1 || next >= end) break;
    cut = next;
  }
  // The whole path as a key: `/api` for `/api` and `/api?q` (nothing follows the key).
  if (end > start + 1 && url.charCodeAt(end - 1) !== 47 /* "/" */) {
    best = pick(bucket.get(url.slice(start, end)), request, false, best);
  }
  return best;
}

/** The first candidate of `list` under `best` that the request satisfies, else `best`. */
function pick(
  list: Candidate[] | undefined,
  request: Request,
  more: boolean,
  best: number,
): number {
  if (list === undefined) return best;
  for (const candidate of list) {
    if (candidate.index >= best) return best;
    if (candidate.slash && !more) continue;
    if (candidate.methods !== undefined && !candidate.methods.has(request.method)) continue;
    if (candidate.headers !== undefined && !headersMatch(candidate.headers, request.headers)) {
      continue;
    }
    return candidate.index;
  }
  return best;
}

function headersMatch(wanted: readonly (readonly [string, string])[], headers: Headers): boolean {
  for (const [name, value] of wanted) if (headers.get(name) !== value) return false;
  return true;
}

/** A Host as routes compare it: lower case, without port or trailing dot. */
export function hostKey(host: string): string {
  let name = host;
  if (name.startsWith("[")) name = name.slice(0, name.indexOf("]") + 1);
  else {
    const colon = name.indexOf(":");
    if (colon !== -1) name = name.slice(0, colon);
  }
  if (name.endsWith(".")) name = name.slice(0, -1);
  return name.toLowerCase();
}

/**
 * The forwarded path of a request that matched a route with `stripPrefix`: the target
 * without the prefix's key, and at least `/` (`/api/x?q` → `/x?q`, `/api?q` → `/?q`).
 */
export function stripPath(target: string, key: string): string {
  const rest = target.slice(key.length);
  return rest.startsWith("/") ? rest : `/${rest}`;
}

/**
 * Whether every request `later` matches is matched by `earlier` (so `later` is unreachable):
 * `earlier`'s host covers, prefix covers, methods ⊇ and headers ⊆ `later`'s.
 */
export function covers(earlier: Route, later: Route): boolean {
  return hostCovers(earlier.host, later.host) &&
    prefixCovers(earlier.pathPrefix, later.pathPrefix) &&
    (earlier.methods === undefined ||
      (later.methods !== undefined && later.methods.every((m) => earlier.methods!.includes(m)))) &&
    Object.entries(earlier.headers ?? {}).every(([name, value]) => later.headers?.[name] === value);
}

function hostCovers(earlier: string | undefined, later: string | undefined): boolean {
  if (earlier === undefined) return true;
  if (later === undefined) return false;
  if (!earlier.startsWith("*.")) return earlier === later;
  const suffix = earlier.slice(1); // ".example.com": any subdomain, not the apex
  return (later.startsWith("*.") ? later.slice(1) : later).endsWith(suffix);
}

function prefixCovers(earlier: string | undefined, later: string | undefined): boolean {
  const a = prefixKey(earlier);
  const b = prefixKey(later);
  if (a.key === "") return true;
  if (b.key === a.key) return !a.slash || b.slash;
  return b.key.startsWith(`${a.key}/`);
}
