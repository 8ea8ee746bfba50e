/**
 * The bridge's bounded-memory rule: a client that stops reading while its backend floods it
 * gets both sides closed once the bytes waiting for it pass WEBSOCKET_BUFFER_LIMIT_BYTES; the
 * backend is told 1013 "try again later" (as 1000 with "1013 …" in the reason).
 *
 * @module
 */

import assert from "node:assert/strict";
import { startBalancer } from "../balancer/server.ts";
import { WEBSOCKET_BUFFER_LIMIT_BYTES } from "../balancer/websocket.ts";
import { eventually, serve } from "./_helpers.ts";

const CHUNK = "x".repeat(64 * 1024);
/** Far beyond the limit plus loopback's socket buffers: reaching it means nothing stopped. */
const GIVE_UP_BYTES = 256 * 1024 * 1024;

/**
 * A backend that sends 64 KiB text messages from the moment it is open until it is closed,
 * keeping its own queue under 1 MiB (it floods the balancer, not its own memory).
 */
function floodingBackend() {
  const state = {
    sentBytes: 0,
    closedWith: undefined as { code: number; reason: string } | undefined,
  };
  const server = serve((request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    const pump = () => {
      if (socket.readyState !== WebSocket.OPEN || state.sentBytes >= GIVE_UP_BYTES) return;
      while (socket.bufferedAmount < 1024 * 1024 && state.sentBytes < GIVE_UP_BYTES) {
        socket.send(CHUNK);
        state.sentBytes += CHUNK.length;
      }
      setTimeout(pump, 1);
    };
    socket.onopen = pump;
    socket.onclose = (e) => state.closedWith = { code: e.code, reason: e.reason };
    return response;
  });
  return Object.assign(server, { state });
}

/** A client that completes the WebSocket handshake over raw TCP and then never reads. */
async function stalledClient(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const request = "GET /feed HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\n" +
    "connection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "sec-websocket-version: 13\r\n\r\n";
  await conn.write(new TextEncoder().encode(request));
  // Read only the 101 head (the backend's first messages may follow it in the same read).
  const buffer = new Uint8Array(1024);
  const n = await conn.read(buffer);
  const head = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
  assert.match(head, /^HTTP\/1\.1 101/, `the handshake was not accepted: ${head}`);
  return conn;
}

Deno.test("a client that stops reading while its backend floods it: both sides closed with 1013 once the limit is passed, the balancer's memory bounded", async () => {
  const backend = floodingBackend();
  const balancer = startBalancer({ port: 0, backends: [{ url: backend.url, weight: 1 }] });
  const rssBefore = Deno.memoryUsage().rss;
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await stalledClient(balancer.port);
    await eventually(() => backend.state.closedWith !== undefined, "the backend's close", 20_000);
    assert.deepEqual(backend.state.closedWith, {
      code: 1000,
      reason: "1013 try again later: a peer is not reading",
    });
    // What was sent is the limit plus what the kernel's socket buffers held, not the flood.
    assert.ok(
      backend.state.sentBytes < 16 * WEBSOCKET_BUFFER_LIMIT_BYTES,
      `the backend sent ${backend.state.sentBytes} bytes before the bridge closed`,
    );
    const grownMiB = (Deno.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.ok(grownMiB < 128, `this process grew by ${grownMiB.toFixed(0)} MiB`);
    await eventually(() => balancer.websockets.size === 0, "the bridge counted closed");
    assert.equal(balancer.balancer.backends[0].websockets, 0);
  } finally {
    conn?.close();
    await balancer.shutdown();
    await backend.shutdown();
  }
});
