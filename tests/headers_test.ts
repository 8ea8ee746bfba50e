import assert from "node:assert/strict";
import { endToEnd, forwardedElement, upstreamHeaders } from "../lib/headers.ts";

Deno.test("hop-by-hop headers and those named in Connection do not reach the backend", () => {
  const request = new Headers({
    "connection": "keep-alive, x-secret-hop",
    "keep-alive": "timeout=5",
    "te": "trailers",
    "upgrade": "websocket",
    "proxy-authorization": "Basic eA==",
    "x-secret-hop": "1",
    "x-end-to-end": "kept",
    "host": "lb.example:8080",
  });
  const headers = new Headers(upstreamHeaders(request, { peer: "10.0.0.7", trusted: false }));
  for (const name of ["connection", "keep-alive", "te", "upgrade", "proxy-authorization"]) {
    assert.equal(headers.has(name), false, name);
  }
  assert.equal(headers.has("x-secret-hop"), false);
  assert.equal(headers.get("x-end-to-end"), "kept");
  assert.equal(headers.has("host"), false, "the transport sets the backend's host");
  assert.equal(headers.get("x-forwarded-host"), "lb.example:8080");
  assert.equal(headers.get("x-forwarded-proto"), "http");
  assert.equal(headers.get("x-forwarded-for"), "10.0.0.7");
});

Deno.test("x-forwarded-* from an untrusted peer are replaced, from a trusted proxy extended", () => {
  const request = new Headers({
    "x-forwarded-for": "6.6.6.6",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "forged.example",
    "host": "lb.example",
  });
  const untrusted = new Headers(upstreamHeaders(request, { peer: "10.0.0.7", trusted: false }));
  assert.equal(untrusted.get("x-forwarded-for"), "10.0.0.7");
  assert.equal(untrusted.get("x-forwarded-proto"), "http");
  assert.equal(untrusted.get("x-forwarded-host"), "lb.example");
  const trusted = new Headers(upstreamHeaders(request, { peer: "10.0.0.1", trusted: true }));
  assert.equal(trusted.get("x-forwarded-for"), "6.6.6.6, 10.0.0.1");
  assert.equal(trusted.get("x-forwarded-proto"), "https");
  assert.equal(trusted.get("x-forwarded-host"), "forged.example");
});

Deno.test("a fetch response copied end to end loses hop-by-hop headers and keeps every set-cookie", () => {
  const response = new Headers([
    ["connection", "close"],
    ["transfer-encoding", "chunked"],
    ["keep-alive", "timeout=5"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
    ["content-encoding", "gzip"],
    ["x-private", "1"],
  ]);
  response.append("connection", "x-private");
  const headers = endToEnd(response);
  assert.equal(headers.has("connection"), false);
  assert.equal(headers.has("transfer-encoding"), false);
  assert.equal(headers.has("keep-alive"), false);
  assert.deepEqual(headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(headers.get("content-encoding"), "gzip");
  assert.equal(headers.has("x-private"), false, "named by Connection");
});

Deno.test("this hop as a Forwarded element: IPv6 in brackets and quotes, a host with a port quoted", () => {
  assert.equal(
    forwardedElement("10.0.0.7", "lb.example"),
    "for=10.0.0.7;proto=http;host=lb.example",
  );
  assert.equal(
    forwardedElement("2001:db8::7", "lb.example:8080"),
    'for="[2001:db8::7]";proto=http;host="lb.example:8080"',
  );
  assert.equal(forwardedElement("10.0.0.7", undefined), "for=10.0.0.7;proto=http");
});
