/**
 * WebSocket through the balancer: the handshake goes to a backend the policy picks, the
 * backend chooses the subprotocol and sees the client's cookie and origin, messages and close
 * codes pass both ways, refusals and dead backends are handled as for any request.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startBalancer } from "../balancer/server.ts";
import { deadPort, eventually } from "./_helpers.ts";
import { withInstance } from "./_instance.ts";
import { connect, type Seen, wsBackend } from "./_websocket.ts";

function wsUrl(httpUrl: string, path = "/chat"): string {
  return httpUrl.replace("http", "ws") + path;
}

Deno.test("a WebSocket through the balancer: the backend's subprotocol, cookie, authorization and origin, text and binary both ways, its close code to the client", async () => {
  const backend = wsBackend();
  const balancer = startBalancer({ port: 0, backends: [{ url: backend.url, weight: 1 }] });
  try {
    const client = await connect(wsUrl(balancer.url), ["chat.v1", "chat.v2"], {
      cookie: "session=abc",
      authorization: "Bearer t0ken",
      origin: "http://app.example",
    });
    assert.equal(client.socket.protocol, "chat.v2");
    client.socket.send("hello");
    client.socket.send(new Uint8Array([1, 2, 3]));
    client.socket.send("seen");
    await eventually(() => client.messages.length === 3, "three echoes");
    assert.equal(client.messages[0], "hello");
    assert.deepEqual([...new Uint8Array(client.messages[1] as ArrayBuffer)], [1, 2, 3]);
    const seen = JSON.parse(client.messages[2] as string) as Seen;
    assert.equal(seen.cookie, "session=abc");
    assert.equal(seen.authorization, "Bearer t0ken");
    assert.equal(seen.origin, "http://app.example");
    assert.equal(seen.offered, "chat.v1, chat.v2");
    assert.equal(seen.extensions, null, "permessage-deflate is not offered");
    client.socket.send("close");
    const closed = await client.closed;
    assert.equal(closed.code, 4001);
    assert.equal(closed.reason, "bye");
    await eventually(() => balancer.balancer.backends[0].websockets === 0, "the count back to 0");
  } finally {
    await balancer.shutdown();
    await backend.shutdown();
  }
});

Deno.test("the client's close code and reason reach the backend", async () => {
  const backend = wsBackend();
  const balancer = startBalancer({ port: 0, backends: [{ url: backend.url, weight: 1 }] });
  try {
    const client = await connect(wsUrl(balancer.url), []);
    assert.equal(client.socket.protocol, "");
    client.socket.close(4002, "client leaves");
    await client.closed;
    await eventually(() => backend.seen[0]?.closedWith !== undefined, "the backend's close");
    assert.deepEqual(backend.seen[0].closedWith, { code: 4002, reason: "client leaves" });
  } finally {
    await balancer.shutdown();
    await backend.shutdown();
  }
});

Deno.test("a backend refusing the WebSocket handshake with 403 gives the client 403", async () => {
  const backend = wsBackend();
  const balancer = startBalancer({ port: 0, backends: [{ url: backend.url, weight: 1 }] });
  try {
    const response = await fetch(`${balancer.url}/forbidden`, {
      headers: {
        upgrade: "websocket",
        connection: "upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
    assert.equal(response.status, 403);
    assert.match((await response.json()).error, /refused the WebSocket handshake with status 403/);
    assert.equal(balancer.balancer.backends[0].health.state(Date.now()), "healthy");
  } finally {
    await balancer.shutdown();
    await backend.shutdown();
  }
});

Deno.test("a WebSocket moves on from a dead backend, which is counted failed", async () => {
  const backend = wsBackend();
  const dead = `http://127.0.0.1:${deadPort()}`;
  const balancer = startBalancer({
    port: 0,
    backends: [{ url: dead, weight: 1 }, { url: backend.url, weight: 1 }],
  });
  try {
    const client = await connect(wsUrl(balancer.url), []);
    client.socket.send("ping");
    await eventually(() => client.messages.length === 1, "the echo");
    assert.equal(client.messages[0], "ping");
    const [first] = balancer.balancer.backends;
    assert.equal(first.failures, 1);
    assert.match(first.lastError?.detail ?? "", /WebSocket handshake: connection refused/);
    client.socket.close(1000);
    await client.closed;
  } finally {
    await balancer.shutdown();
    await backend.shutdown();
  }
});

Deno.test("open WebSockets are counted per backend in /status and /metrics", async () => {
  const backend = wsBackend();
  await withInstance(
    { backends: [backend.url], admin: { port: 0 }, accessLog: "off" },
    async ({ instance, admin }) => {
      const client = await connect(wsUrl(instance.running.url), []);
      const status = await (await fetch(`${admin}/status`)).json();
      assert.equal(status.backends[0].websockets, 1);
      const metrics = await (await fetch(`${admin}/metrics`)).text();
      assert.match(
        metrics,
        new RegExp(`roundabout_websockets_open\\{backend="${backend.url}"\\} 1`),
      );
      client.socket.close(1000);
      await client.closed;
      const [counted] = instance.running.balancer.backends;
      await eventually(() => counted.websockets === 0, "the count back to 0");
      const after = await (await fetch(`${admin}/status`)).json();
      assert.equal(after.backends[0].websockets, 0);
    },
  );
  await backend.shutdown();
});

Deno.test("shutting the balancer down closes its WebSockets on both sides", async () => {
  const backend = wsBackend();
  const balancer = startBalancer({ port: 0, backends: [{ url: backend.url, weight: 1 }] });
  let stopped = false;
  try {
    const client = await connect(wsUrl(balancer.url), []);
    assert.equal(await balancer.shutdown(1_000), true);
    stopped = true;
    const closed = await client.closed;
    assert.equal(closed.code, 1001);
    await eventually(() => backend.seen[0]?.closedWith !== undefined, "the backend's close");
    // 1001 cannot be sent through the WebSocket API: it travels as 1000 with it in the reason.
    assert.deepEqual(backend.seen[0].closedWith, { code: 1000, reason: "1001 going away" });
    assert.equal(balancer.websockets.size, 0);
  } finally {
    if (!stopped) await balancer.shutdown();
    await backend.shutdown();
  }
});

Deno.test("a backend removed by a reload drains: its open WebSocket goes on until it closes", async () => {
  const backend = wsBackend();
  const other = wsBackend();
  const balancer = startBalancer({ port: 0, backends: [{ url: backend.url, weight: 1 }] });
  try {
    const client = await connect(wsUrl(balancer.url), []);
    await balancer.reconfigure({
      backends: [{ url: other.url, weight: 1 }],
      options: balancer.balancer.options,
    });
    assert.deepEqual(balancer.draining.map((b) => b.url), [backend.url]);
    client.socket.send("still here");
    await eventually(() => client.messages.length === 1, "the echo after the reload");
    assert.equal(client.messages[0], "still here");
    client.socket.close(1000);
    await client.closed;
    await eventually(() => balancer.draining.length === 0, "the drained backend forgotten");
    assert.equal(backend.seen.length, 1);
  } finally {
    await balancer.shutdown();
    await backend.shutdown();
    await other.shutdown();
  }
});
