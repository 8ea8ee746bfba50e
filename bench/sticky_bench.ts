/**
 * Nanoseconds per sticky first pick (`Stickiness.preferred`), reading the request's field
 * included: a signed cookie among others, and rendezvous hashing of a header over 3 and 30
 * backends. The balancer's whole request path is in `balancer_bench.ts`.
 *
 * ```sh
 * deno bench bench/sticky_bench.ts
 * ```
 *
 * @module
 */

import { Backend } from "../backends/backend.ts";
import { DEFAULT_OPTIONS, healthSettings } from "../balancer/options.ts";
import type { StickySpec } from "../balancer/sticky.ts";
import { createStickiness } from "../balancer/sticky_modes.ts";
import { cookieToken } from "../balancer/sticky_cookie.ts";

const SECRET = "bench-secret-of-32-characters-xx";

function stickiness(spec: StickySpec, count: number) {
  const settings = healthSettings(DEFAULT_OPTIONS);
  const backends = Array.from(
    { length: count },
    (_, i) => new Backend({ url: `http://10.0.${i >> 8}.${i & 255}:8080`, weight: 1 }, settings),
  );
  return {
    backends,
    sticky: createStickiness(spec, { backends, secret: SECRET, tls: false, trustedProxies: [] }),
  };
}

function request(headers: Record<string, string>) {
  return { request: new Request("http://x/", { headers }), peer: "127.0.0.1", trusted: false };
}

for (const count of [3, 30]) {
  const byCookie = stickiness({ cookie: "rb" }, count);
  const token = cookieToken(SECRET, byCookie.backends[1].url);
  const withCookie = request({ cookie: `theme=dark; rb=${token}; lang=en` });
  Deno.bench(`cookie among others, ${count} backends`, { group: `${count}` }, () => {
    byCookie.sticky.preferred(withCookie, 0);
  });
  const byHeader = stickiness({ header: "x-user" }, count);
  const withHeader = request({ "x-user": "user-12345" });
  Deno.bench(`rendezvous on a header, ${count} backends`, { group: `${count}` }, () => {
    byHeader.sticky.preferred(withHeader, 0);
  });
}
