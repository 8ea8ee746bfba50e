/**
 * The node:http backend (`mocks/node_backend.mjs`), run by `node` as a child process: its
 * keep-alive, its modes switched at run time and its delivery count.
 */
import assert from "node:assert/strict";
import { startNodeBackend } from "./_node_backend.ts";

Deno.test("the node backend keeps a connection alive and switches mode while it stays open", async () => {
  const node = await startNodeBackend({ delayMs: 200 });
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 1 });
  try {
    const get = async (id: string) => {
      const started = performance.now();
      const response = await fetch(`${node.url}/x`, { client, headers: { "x-request-id": id } });
      const body = await response.json();
      return { status: response.status, body, ms: performance.now() - started };
    };
    const first = await get("a");
    assert.equal(first.status, 200);
    assert.equal(first.body.app, "node");
    assert.equal(first.body.url, node.url);
    await node.setMode("slow");
    const slow = await get("b");
    assert.ok(slow.ms >= 190, `slow answered in ${slow.ms} ms`);
    await node.setMode("failing");
    const failed = await get("c");
    assert.equal(failed.status, 500);
    assert.deepEqual(failed.body, { error: "App failure" });
    await node.setMode("normal");
    const last = await get("d");
    assert.equal(last.status, 200);
    assert.equal(slow.body.remotePort, first.body.remotePort, "one connection across the switch");
    assert.equal(last.body.remotePort, first.body.remotePort);
    assert.deepEqual(node.deliveries, ["a", "b", "c", "d"]);
    const count = await fetch(`${node.url}/_mock/received?id=b`);
    assert.deepEqual(await count.json(), { id: "b", count: 1 });
  } finally {
    client.close();
    await node.close();
  }
});

Deno.test("in reset mode the node backend reads the request and breaks the connection unanswered", async () => {
  const node = await startNodeBackend({ mode: "reset" });
  try {
    const error = await fetch(`${node.url}/?id=r1`, { method: "POST", body: "{}" }).then(
      (response) => response.body?.cancel().then(() => response.status),
      (error) => error,
    );
    assert.ok(error instanceof TypeError, `expected a broken connection, got ${error}`);
    assert.equal(node.received("r1"), 1);
    const refused = await fetch(`${node.url}/_mock/mode`, {
      method: "POST",
      body: JSON.stringify({ mode: "sleepy" }),
    });
    assert.equal(refused.status, 400);
    await refused.body?.cancel();
  } finally {
    await node.close();
  }
});

Deno.test("a node backend stopped and started again on the same port answers there", async () => {
  const first = await startNodeBackend();
  await first.close();
  const second = await startNodeBackend({ port: first.port });
  try {
    const response = await fetch(`${second.url}/?id=x`);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.deepEqual(second.deliveries, ["x"]);
  } finally {
    await second.close();
  }
});
