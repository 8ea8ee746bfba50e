/**
 * Request ids: one per request, the client's own when it is sane, seen by the backend, sent
 * back to the client and written in the access log.
 */
import assert from "node:assert/strict";
import type { RequestRecord } from "../balancer/balancer.ts";
import { startBalancer } from "../balancer/server.ts";
import { isSaneRequestId, RequestIds } from "../lib/request_id.ts";
import { deadPort } from "./_helpers.ts";

async function withBackend(
  test: (
    url: string,
    seen: (string | null)[],
    records: RequestRecord[],
    balancer: URL,
  ) => Promise<void>,
): Promise<void> {
  const seen: (string | null)[] = [];
  const backend = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    seen.push(request.headers.get("x-request-id"));
    return new Response("ok");
  });
  const records: RequestRecord[] = [];
  const url = `http://127.0.0.1:${backend.addr.port}`;
  const balancer = startBalancer({
    port: 0,
    backends: [{ url, weight: 1 }],
    onRequest: (record) => records.push(record),
  });
  try {
    await test(url, seen, records, new URL(balancer.url));
  } finally {
    await balancer.shutdown();
    await backend.shutdown();
  }
}

Deno.test("a request without an id gets one, seen by the backend, the client and the log", async () => {
  await withBackend(async (_url, seen, records, balancer) => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const response = await fetch(balancer, { headers: { "user-agent": "probe/1" } });
      await response.body?.cancel();
      ids.push(response.headers.get("x-request-id")!);
    }
    assert.match(ids[0], /^[0-9a-f]{8}-[0-9a-z]+$/);
    assert.notEqual(ids[0], ids[1], "each request its own id");
    assert.deepEqual(seen, ids, "the backend saw the same ids");
    assert.deepEqual(records.map((r) => r.requestId), ids, "the log has them");
    assert.equal(records[0].userAgent, "probe/1");
    assert.equal(records[0].client, "127.0.0.1");
  });
});

Deno.test("a client's sane x-request-id is kept end to end; an unsafe one is replaced", async () => {
  await withBackend(async (_url, seen, records, balancer) => {
    const kept = await fetch(balancer, {
      method: "POST",
      body: "hello",
      headers: { "x-request-id": "abc-123_XYZ.7" },
    });
    await kept.body?.cancel();
    assert.equal(kept.headers.get("x-request-id"), "abc-123_XYZ.7");
    assert.equal(seen[0], "abc-123_XYZ.7");
    assert.equal(records[0].bytesIn, 5);
    const unsafe = await fetch(balancer, { headers: { "x-request-id": 'a b"<script>' } });
    await unsafe.body?.cancel();
    const replaced = unsafe.headers.get("x-request-id")!;
    assert.notEqual(replaced, 'a b"<script>');
    assert.ok(isSaneRequestId(replaced));
    assert.equal(seen[1], replaced, "the backend got the replacement, once");
  });
});

Deno.test("an answer the balancer makes up carries the request id too", async () => {
  const balancer = startBalancer({
    port: 0,
    backends: [{ url: `http://127.0.0.1:${deadPort()}`, weight: 1 }],
  });
  try {
    const response = await fetch(balancer.url);
    await response.body?.cancel();
    assert.equal(response.status, 502);
    assert.match(response.headers.get("x-request-id") ?? "", /^[0-9a-f]{8}-1$/);
  } finally {
    await balancer.shutdown();
  }
});

Deno.test("made ids are a random prefix and a counter; sane client ids are short visible tokens", () => {
  const ids = new RequestIds(0xabcdef);
  assert.equal(ids.next(), "00abcdef-1");
  assert.equal(ids.next(), "00abcdef-2");
  assert.equal(ids.of("given-1"), "given-1");
  assert.equal(ids.of(null), "00abcdef-3");
  assert.equal(ids.of(""), "00abcdef-4");
  assert.equal(ids.of("x".repeat(129)), "00abcdef-5");
  assert.equal(ids.of("a\u00e9"), "00abcdef-6");
});
