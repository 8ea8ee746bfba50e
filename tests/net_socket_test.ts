/**
 * The HTTP/1.1 client over `node:net` sockets (transport `http1-net`): the exchanges the
 * default `Deno.connect` sockets are tested with in http1_client_test.ts, on the other socket,
 * against Deno.serve and a node:http keep-alive backend.
 */
import assert from "node:assert/strict";
import { TRANSPORTS } from "../transports/mod.ts";
import type { Transport } from "../transports/transport.ts";
import { UpstreamError } from "../transports/transport.ts";
import { deadPort, serve } from "./_helpers.ts";
import { startNodeBackend } from "./_node_backend.ts";

function send(
  transport: Transport,
  baseUrl: string,
  init: { method?: string; body?: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> } = {},
): Promise<Response> {
  return transport.send({
    baseUrl,
    path: "/echo?x=1",
    method: init.method ?? "GET",
    headers: [["accept", "text/plain"]],
    body: init.body ?? null,
    signal: new AbortController().signal,
    timeoutMs: 5_000,
  });
}

Deno.test("over node:net, requests with and without bodies reuse one keep-alive connection", async () => {
  const peers = new Set<number>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request, info) => {
      peers.add(info.remoteAddr.port);
      return new Response(`${request.method} ${await request.text()}`);
    },
  );
  const backend = {
    url: `http://127.0.0.1:${server.addr.port}`,
    shutdown: () => server.shutdown(),
  };
  const transport = TRANSPORTS["http1-net"]();
  try {
    assert.equal(await (await send(transport, backend.url)).text(), "GET ");
    const body = new TextEncoder().encode("hello");
    assert.equal(
      await (await send(transport, backend.url, { method: "POST", body })).text(),
      "POST hello",
    );
    const stream = ReadableStream.from([new TextEncoder().encode("chunk")]);
    assert.equal(
      await (await send(transport, backend.url, { method: "PUT", body: stream })).text(),
      "PUT chunk",
    );
    assert.equal(peers.size, 1);
  } finally {
    transport.close();
    await backend.shutdown();
  }
});

Deno.test("over node:net, a large body streams through with backpressure, intact", async () => {
  const size = 3 * 1024 * 1024;
  const backend = serve(() => new Response(new Uint8Array(size).fill(7)));
  const transport = TRANSPORTS["http1-net"]();
  try {
    const bytes = await (await send(transport, backend.url)).bytes();
    assert.equal(bytes.byteLength, size);
    assert.ok(bytes.every((b) => b === 7));
  } finally {
    transport.close();
    await backend.shutdown();
  }
});

Deno.test("over node:net, a node:http keep-alive backend serves many requests on few connections", async () => {
  const backend = await startNodeBackend();
  const transport = TRANSPORTS["http1-net"]();
  try {
    for (let i = 0; i < 20; i++) {
      const response = await send(transport, backend.url);
      assert.equal(response.status, 200);
      await response.body?.cancel();
    }
  } finally {
    transport.close();
    await backend.close();
  }
});

Deno.test("over node:net, a refused port is a connect failure naming it", async () => {
  const transport = TRANSPORTS["http1-net"]();
  const port = deadPort();
  try {
    await assert.rejects(send(transport, `http://127.0.0.1:${port}`), (error) => {
      assert.ok(error instanceof UpstreamError);
      assert.equal(error.kind, "connect");
      assert.match(error.message, new RegExp(`connection refused \\(127\\.0\\.0\\.1:${port}\\)`));
      return true;
    });
  } finally {
    transport.close();
  }
});
