/**
 * Cost of header hygiene per request: `upstreamHeaders` (client → backend, a field list) and
 * `endToEnd` (backend → client, as the fetch transport copies a response; the HTTP/1.1
 * transport drops hop-by-hop fields while parsing) on realistic header sets, next to a plain
 * copy of the same headers as the floor.
 *
 * ```sh
 * deno bench bench/headers_bench.ts
 * ```
 *
 * @module
 */

import { endToEnd, upstreamHeaders } from "../lib/headers.ts";

/** What a browser sends through a proxy to an API, hop-by-hop fields included. */
const BROWSER_REQUEST = new Headers({
  host: "api.example.com",
  "user-agent":
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
  accept: "application/json, text/plain, */*",
  "accept-language": "en-GB,en;q=0.9,de;q=0.8",
  "accept-encoding": "gzip, deflate, br, zstd",
  "content-type": "application/json",
  "content-length": "68",
  origin: "https://app.example.com",
  referer: "https://app.example.com/orders/12345",
  cookie: "session=3f9a1c2b7d; theme=dark; _ga=GA1.2.123456789.1700000000",
  authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJl",
  "x-request-id": "7c0e9a52-2b3f-4f4e-9a7d-1b2c3d4e5f60",
  connection: "keep-alive",
  "keep-alive": "timeout=5",
  "sec-fetch-mode": "cors",
  "sec-fetch-site": "same-site",
});

/** What wrk sends: the minimum. */
const WRK_REQUEST = new Headers({
  host: "127.0.0.1:18110",
  "content-type": "application/json",
  "content-length": "68",
});

/** A typical API response, with two cookies and hop-by-hop fields to strip. */
const API_RESPONSE = new Headers([
  ["content-type", "application/json; charset=utf-8"],
  ["content-length", "1024"],
  ["date", "Sat, 22 Nov 2025 12:00:00 GMT"],
  ["server", "nginx"],
  ["cache-control", "private, max-age=0, no-cache"],
  ["etag", 'W/"400-abc123def456"'],
  ["vary", "Accept-Encoding, Origin"],
  ["access-control-allow-origin", "https://app.example.com"],
  ["set-cookie", "session=3f9a1c2b7d; Path=/; HttpOnly; Secure; SameSite=Lax"],
  ["set-cookie", "csrf=91ab7c; Path=/; Secure; SameSite=Strict"],
  ["x-request-id", "7c0e9a52-2b3f-4f4e-9a7d-1b2c3d4e5f60"],
  ["connection", "keep-alive"],
  ["keep-alive", "timeout=60"],
]);

const CLIENT = { peer: "203.0.113.7", trusted: false };
let sink: unknown;

for (
  const [name, request] of [["browser request", BROWSER_REQUEST], [
    "wrk request",
    WRK_REQUEST,
  ]] as const
) {
  Deno.bench({
    name: `new Headers(copy), ${name}`,
    group: `upstream, ${name}`,
    baseline: true,
    fn() {
      sink = new Headers(request);
    },
  });
  Deno.bench({
    name: `upstreamHeaders, ${name}`,
    group: `upstream, ${name}`,
    fn() {
      sink = upstreamHeaders(request, CLIENT);
    },
  });
}

Deno.bench({
  name: "new Headers(copy), API response",
  group: "downstream",
  baseline: true,
  fn() {
    sink = new Headers(API_RESPONSE);
  },
});
Deno.bench({
  name: "endToEnd, API response (fetch transport)",
  group: "downstream",
  fn() {
    sink = endToEnd(API_RESPONSE);
  },
});

// The floor under any header rewrite: walking the fields once, two ways. In Deno 2.9.6 `for…of`
// over a Headers costs many times what `forEach` does (see the results), which matters to any
// code that copies headers field by field.
let length = 0;
Deno.bench({
  name: "for…of over a Headers, browser request",
  group: "iteration",
  baseline: true,
  fn() {
    for (const [name] of BROWSER_REQUEST) length += name.length;
  },
});
Deno.bench({
  name: "forEach over a Headers, browser request",
  group: "iteration",
  fn() {
    BROWSER_REQUEST.forEach((_value, name) => length += name.length);
  },
});

// Keeps the results observable so the calls cannot be optimised away.
if (sink === null || length < 0) console.log(sink, length);
