/**
 * Access log lines: JSON for machines with every try and why it failed, text for people,
 * nothing at all when off, and batched writes that never make a request wait.
 */
import assert from "node:assert/strict";
import { accessLogger, jsonLine, LineBuffer, textLine } from "../balancer/access_log.ts";
import type { RequestRecord } from "../balancer/balancer.ts";
import { startBalancer } from "../balancer/server.ts";

const RECORD: RequestRecord = {
  startMs: Date.UTC(2025, 0, 2, 3, 4, 5),
  method: "POST",
  path: "/orders?x=1",
  status: 200,
  backend: "http://127.0.0.1:8003",
  tries: [
    { backend: "http://127.0.0.1:8002", outcome: "status", status: 500, durationMs: 3 },
    { backend: "http://127.0.0.1:8003", outcome: "ok", status: 200, durationMs: 4 },
  ],
  durationMs: 7,
  requestId: "4f1c2a9e-1",
  client: "127.0.0.1",
  bytesIn: 7,
  userAgent: "curl/8.5.0",
};

Deno.test("a JSON access log line has time, method, path, status, backend, attempts with reasons, duration, request id, client, bytes in, user agent", () => {
  const line = JSON.parse(jsonLine(RECORD));
  assert.equal(line.time, "2025-01-02T03:04:05.000Z");
  assert.equal(line.method, "POST");
  assert.equal(line.path, "/orders?x=1");
  assert.equal(line.status, 200);
  assert.equal(line.backend, "http://127.0.0.1:8003");
  assert.equal(line.attempts, 2);
  assert.deepEqual(line.tries[0], RECORD.tries[0]);
  assert.equal(line.durationMs, 7);
  assert.equal(line.requestId, "4f1c2a9e-1");
  assert.equal(line.client, "127.0.0.1");
  assert.equal(line.bytesIn, 7);
  assert.equal(line.userAgent, "curl/8.5.0");
  assert.equal(
    textLine(RECORD),
    'POST /orders?x=1 200 http://127.0.0.1:8003 7ms id=4f1c2a9e-1 from 127.0.0.1 in 7B "curl/8.5.0"' +
      " (moved on from: http://127.0.0.1:8002 status 500)",
  );
});

Deno.test("with the access log off there is no per-request hook at all", () => {
  assert.equal(accessLogger("off", () => {}, false), undefined);
  const lines: string[] = [];
  accessLogger("auto", (line) => lines.push(line), false)!(RECORD);
  accessLogger("auto", (line) => lines.push(line), true)!(RECORD);
  assert.ok(lines[0].startsWith("{"), "auto is JSON when not on a terminal");
  assert.ok(lines[1].startsWith("POST "), "auto is text on a terminal");
});

Deno.test("lines gathered in a burst are written together, once, after it", async () => {
  const writes: string[] = [];
  const buffer = new LineBuffer(async (bytes) => {
    writes.push(new TextDecoder().decode(bytes));
    await Promise.resolve();
  });
  for (let i = 0; i < 1000; i++) buffer.push(`line ${i}`);
  assert.equal(writes.length, 0, "push never writes");
  await buffer.flush();
  assert.equal(writes.length, 1);
  assert.equal(writes[0].split("\n").length, 1001);
  buffer.push("after");
  await buffer.flush();
  assert.deepEqual(writes.slice(1), ["after\n"]);
});

Deno.test("a reader too slow to keep up loses lines, counted, instead of holding requests up", async () => {
  let release!: () => void;
  const blocked = new Promise<void>((resolve) => release = resolve);
  const writes: string[] = [];
  const buffer = new LineBuffer(async (bytes) => {
    writes.push(new TextDecoder().decode(bytes));
    await blocked;
  }, { maxPendingBytes: 100 });
  buffer.push("first");
  await new Promise((resolve) => setTimeout(resolve, 5)); // the first write starts and blocks
  for (let i = 0; i < 50; i++) buffer.push(`waiting line ${i}`);
  assert.ok(buffer.dropped > 0);
  release();
  await buffer.flush();
  assert.match(writes.join(""), new RegExp(`${buffer.dropped} log line\\(s\\) dropped`));
});

Deno.test("refused requests are in the access log with their status, and no backend or try", async () => {
  const lines: string[] = [];
  const balancer = startBalancer({
    port: 0,
    // Never reached: every request below is answered before a backend is chosen.
    backends: [{ url: "http://127.0.0.1:9", weight: 1 }],
    options: { maxTargetBytes: 64, maxHeaderBytes: 1024 },
    onRequest: accessLogger("json", (line) => lines.push(line), false),
  });
  try {
    const answers = [
      await fetch(balancer.url + "/" + "a".repeat(100)),
      await fetch(balancer.url + "/big", { headers: { "x-big": "b".repeat(2048) } }),
      await fetch(balancer.url + "/*", { method: "OPTIONS" }),
    ];
    for (const answer of answers) await answer.body?.cancel();
    assert.deepEqual(answers.map((a) => a.status), [414, 431, 204]);
  } finally {
    await balancer.shutdown();
  }
  const records = lines.map((line) => JSON.parse(line));
  assert.deepEqual(
    records.map((r) => [r.method, r.path, r.status, r.backend, r.attempts]),
    [
      ["GET", "/" + "a".repeat(100), 414, null, 0],
      ["GET", "/big", 431, null, 0],
      ["OPTIONS", "/*", 204, null, 0],
    ],
  );
});
