/**
 * WebSocket over TLS on both sides: `wss://` clients through the HTTPS listener, and `wss://`
 * backends signed by a private CA that `backendCa` trusts (the bridge's own client uses it).
 * Certificates come from `_pki.ts` (openssl, at test time).
 *
 * @module
 */

import assert from "node:assert/strict";
import { eventually } from "./_helpers.ts";
import { withInstance } from "./_instance.ts";
import { withPki } from "./_pki.ts";
import { connect, type Seen, wsBackend } from "./_websocket.ts";

/** Runs the "chat" exchange of `_websocket.ts`'s backend through `url` and checks each step. */
async function chat(url: string, client?: Deno.HttpClient): Promise<Seen> {
  const ws = await connect(url, ["chat.v1", "chat.v2"], { cookie: "session=abc" }, client);
  assert.equal(ws.socket.protocol, "chat.v2", "the backend's subprotocol");
  ws.socket.send("hello");
  ws.socket.send(new Uint8Array([1, 2, 3]));
  ws.socket.send("seen");
  await eventually(() => ws.messages.length === 3, "three echoes");
  assert.equal(ws.messages[0], "hello");
  assert.deepEqual([...new Uint8Array(ws.messages[1] as ArrayBuffer)], [1, 2, 3]);
  const seen = JSON.parse(ws.messages[2] as string) as Seen;
  assert.equal(seen.cookie, "session=abc");
  ws.socket.send("close");
  const closed = await ws.closed;
  assert.equal(closed.code, 4001);
  assert.equal(closed.reason, "bye");
  return seen;
}

Deno.test("a wss:// client through the HTTPS listener reaches a ws:// backend: its subprotocol, the cookie, text and binary echoed, its close code 4001", async () => {
  await withPki(async (pki) => {
    const backend = wsBackend();
    const client = Deno.createHttpClient({ caCerts: [pki.ca] });
    try {
      const config = {
        backends: [backend.url],
        tls: { cert: pki.certFile, key: pki.keyFile },
        accessLog: "off",
      };
      await withInstance(config, async ({ instance }) => {
        const { port } = instance.running;
        const seen = await chat(`wss://127.0.0.1:${port}/chat`, client);
        assert.equal(seen.offered, "chat.v1, chat.v2");
        const [counted] = instance.running.balancer.backends;
        await eventually(() => counted.websockets === 0, "the count back to 0");
      });
    } finally {
      client.close();
      await backend.shutdown();
    }
  });
});

Deno.test("a wss:// backend signed by a private CA is bridged when backendCa trusts that CA", async () => {
  await withPki(async (pki) => {
    const backend = wsBackend({ cert: pki.cert, key: pki.key });
    try {
      assert.match(backend.url, /^https:/);
      const config = { backends: [backend.url], backendCa: pki.caFile, accessLog: "off" };
      await withInstance(config, async ({ instance }) => {
        const url = instance.running.url.replace("http", "ws") + "/chat";
        await chat(url);
        assert.equal(backend.seen.length, 1);
      });
    } finally {
      await backend.shutdown();
    }
  });
});

Deno.test("without backendCa a wss:// backend's private certificate fails the handshake: 502 naming the reason, the backend marked failed", async () => {
  await withPki(async (pki) => {
    const backend = wsBackend({ cert: pki.cert, key: pki.key });
    try {
      const config = { backends: [backend.url], accessLog: "off" };
      await withInstance(config, async ({ instance, logs }) => {
        const response = await fetch(`${instance.running.url}/chat`, {
          headers: {
            upgrade: "websocket",
            connection: "upgrade",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            "sec-websocket-version": "13",
          },
        });
        assert.equal(response.status, 502);
        const body = await response.json();
        const reason = "TLS: invalid peer certificate: UnknownIssuer";
        assert.equal(body.detail, `${backend.url}: ${reason}`);
        const [failed] = instance.running.balancer.backends;
        assert.equal(failed.lastError?.detail, `WebSocket handshake: ${reason}`);
        assert.ok(logs.some((line) => line.includes(`backend ${backend.url} marked failed`)));
        assert.equal(backend.seen.length, 0);
      });
    } finally {
      await backend.shutdown();
    }
  });
});
