/**
 * The benchmark's upstream client candidates (bench/candidates/) work well enough to be
 * compared: each proxies a GET and a POST through the real balancer, streams a request body,
 * and fails the ways `classifyFailure` understands.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startBalancer } from "../balancer/server.ts";
import { classifyFailure } from "../balancer/outcomes.ts";
import type { Transport } from "../transports/transport.ts";
import { NodeHttpTransport } from "../bench/candidates/node_http_transport.ts";
import { UndiciTransport } from "../bench/candidates/undici_transport.ts";
import { deadPort, serve } from "./_helpers.ts";

const CANDIDATES: Array<[string, () => Transport]> = [
  ["NodeHttpTransport", () => new NodeHttpTransport()],
  ["UndiciTransport", () => new UndiciTransport()],
];

/** Closes the transport and waits for it when its `close` says when it is done. */
async function closeAll(transport: Transport): Promise<void> {
  await (transport.close() as void | Promise<void>);
}

function echoBackend() {
  return serve(async (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/slow") {
      await new Promise((resolve) => setTimeout(resolve, 300));
      return new Response("late");
    }
    const body = request.method === "GET" ? `hello ${url.search}` : await request.text();
    return new Response(body, {
      headers: {
        "x-method": request.method,
        "x-seen-host": request.headers.get("host") ?? "",
        "x-seen-custom": request.headers.get("x-custom") ?? "",
        "keep-alive": "timeout=5",
      },
    });
  });
}

for (const [name, make] of CANDIDATES) {
  Deno.test(`${name} proxies a GET and a POST body through the balancer`, async () => {
    const backend = echoBackend();
    const transport = make();
    const balancer = startBalancer({
      port: 0,
      backends: [{ url: backend.url, weight: 1 }],
      transport,
      // No body idle timeout: undici's is one of its "fast timers", served by a module-level
      // 500 ms tick that outlives the closed Agent by a tick, which the op sanitizer reports.
      options: { bodyIdleTimeoutMs: 0 },
    });
    try {
      const get = await fetch(`${balancer.url}/a?b=1`, { headers: { "x-custom": "yes" } });
      assert.equal(get.status, 200);
      assert.equal(await get.text(), "hello ?b=1");
      assert.equal(get.headers.get("x-method"), "GET");
      assert.equal(get.headers.get("x-seen-host"), `127.0.0.1:${backend.port}`);
      assert.equal(get.headers.get("x-seen-custom"), "yes");
      assert.equal(get.headers.get("keep-alive"), null, "hop-by-hop fields are dropped");

      const payload = JSON.stringify({ items: Array.from({ length: 50 }, (_, i) => i) });
      const post = await fetch(`${balancer.url}/echo`, { method: "POST", body: payload });
      assert.equal(post.status, 200);
      assert.equal(post.headers.get("x-method"), "POST");
      assert.equal(await post.text(), payload);
    } finally {
      await balancer.shutdown();
      await closeAll(transport);
      await backend.shutdown();
    }
  });

  Deno.test(`${name} streams a request body and a large response body`, async () => {
    const backend = echoBackend();
    const transport = make();
    try {
      const piece = new Uint8Array(64 * 1024).fill(97);
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 32) return controller.close();
          sent++;
          controller.enqueue(piece);
        },
      });
      const response = await transport.send({
        baseUrl: backend.url,
        path: "/upload",
        method: "PUT",
        headers: [["content-type", "text/plain"]],
        body,
        signal: new AbortController().signal,
        timeoutMs: 5_000,
      });
      assert.equal(response.status, 200);
      response.headers.set("x-app-url", "mutable");
      const text = await response.text();
      assert.equal(text.length, 32 * 64 * 1024);
      assert.ok(text.split("").every((c) => c === "a"));
    } finally {
      await closeAll(transport);
      await backend.shutdown();
    }
  });

  Deno.test(`${name} maps a refused port to a connect failure`, async () => {
    const transport = make();
    const signal = new AbortController().signal;
    try {
      const error = await transport.send({
        baseUrl: `http://127.0.0.1:${deadPort()}`,
        path: "/",
        method: "GET",
        headers: [],
        body: null,
        signal,
        timeoutMs: 2_000,
      }).then(() => assert.fail("a refused port answered"), (error: unknown) => error);
      assert.equal(classifyFailure(error, signal, 2_000).kind, "connect");
    } finally {
      await closeAll(transport);
    }
  });

  Deno.test(`${name} gives up after the per-try timeout with a TimeoutError`, async () => {
    const backend = echoBackend();
    const transport = make();
    const signal = new AbortController().signal;
    try {
      const error = await transport.send({
        baseUrl: backend.url,
        path: "/slow",
        method: "GET",
        headers: [],
        body: null,
        signal,
        timeoutMs: 50,
      }).then(() => assert.fail("answered within the timeout"), (error: unknown) => error);
      assert.ok(error instanceof DOMException && error.name === "TimeoutError", String(error));
      assert.equal(classifyFailure(error, signal, 50).kind, "timeout");
    } finally {
      await closeAll(transport);
      await backend.shutdown();
    }
  });
}
