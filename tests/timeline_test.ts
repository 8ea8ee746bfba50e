/**
 * The request timeline (`timeline` setting): each request's phases marked in order, in the
 * JSON access log line; nothing of it when the setting is off.
 */
import assert from "node:assert/strict";
import { jsonLine } from "../balancer/access_log.ts";
import { Balancer, type RequestRecord } from "../balancer/balancer.ts";
import { DEFAULT_OPTIONS, healthSettings } from "../balancer/options.ts";
import { Backend } from "../backends/backend.ts";
import { PHASES } from "../lib/timeline.ts";
import { RoundRobin } from "../policies/round_robin.ts";
import { TRANSPORTS } from "../transports/mod.ts";
import { serve } from "./_helpers.ts";
import { startNodeBackend } from "./_node_backend.ts";

/** Sends `count` requests at once through a balancer in front of `url`; returns the records. */
async function recordsThrough(
  url: string,
  options: { timeline: boolean; maxInFlight: number },
  count: number,
): Promise<RequestRecord[]> {
  const records: RequestRecord[] = [];
  const transport = TRANSPORTS.http1();
  const balancer = new Balancer({
    options: { ...DEFAULT_OPTIONS, ...options },
    backends: [new Backend({ url, weight: 1 }, healthSettings({ ejectMs: 10_000 }))],
    policy: new RoundRobin(),
    transport,
    clock: Date.now,
    onRequest: (record) => records.push(record),
  });
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, balancer.handle);
  try {
    await Promise.all(Array.from({ length: count }, async (_, i) => {
      const response = await fetch(`http://127.0.0.1:${proxy.addr.port}/r${i}`, {
        method: "POST",
        body: `{"n":${i}}`,
      });
      assert.equal(response.status, 200);
      await response.text();
    }));
  } finally {
    await proxy.shutdown();
    transport.close();
  }
  return records;
}

Deno.test("with the timeline on, every phase of a request is marked, in order, in its log line", async () => {
  const backend = serve(async (request) => {
    await request.text();
    await new Promise((resolve) => setTimeout(resolve, 15));
    return new Response("ok");
  });
  try {
    // A gate of 1: the later requests wait for admission, so that phase shows too.
    const records = await recordsThrough(backend.url, { timeline: true, maxInFlight: 1 }, 4);
    assert.equal(records.length, 4, "one record per request, once its answer was sent");
    let waited = 0;
    for (const record of records) {
      const phases = record.phases!;
      const marked = PHASES.filter((phase) => phases[phase] !== undefined);
      assert.deepEqual(
        marked.filter((phase) => phase !== "admitted"),
        PHASES.filter((phase) => phase !== "admitted"),
        `all phases marked: ${JSON.stringify(phases)}`,
      );
      const times = marked.map((phase) => phases[phase]!);
      assert.deepEqual(times, [...times].sort((a, b) => a - b), "marks in phase order");
      // The backend's 15 ms are between the request written and the first byte back.
      assert.ok(phases.firstByte! - phases.written! >= 10, JSON.stringify(phases));
      if (phases.admitted !== undefined) {
        waited++;
        assert.ok(phases.admitted >= 10, "a waiter is admitted when an earlier request ends");
      }
      assert.deepEqual(JSON.parse(jsonLine(record)).phases, phases);
    }
    assert.equal(waited, 3, "all but the first waited for the gate");
  } finally {
    await backend.shutdown();
  }
});

Deno.test("the timeline marks the phases against a node:http keep-alive backend too", async () => {
  const backend = await startNodeBackend();
  try {
    const records = await recordsThrough(backend.url, { timeline: true, maxInFlight: 256 }, 3);
    for (const record of records) {
      const phases = record.phases!;
      assert.equal(phases.admitted, undefined, "admitted at once: no admission phase");
      for (const phase of PHASES.filter((phase) => phase !== "admitted")) {
        assert.equal(typeof phases[phase], "number", `${phase} in ${JSON.stringify(phases)}`);
      }
    }
  } finally {
    await backend.close();
  }
});

Deno.test("with the timeline off, records and log lines carry no phases", async () => {
  const backend = serve(() => new Response("ok"));
  try {
    const records = await recordsThrough(backend.url, { timeline: false, maxInFlight: 256 }, 2);
    assert.equal(records.length, 2);
    for (const record of records) {
      assert.equal(record.phases, undefined);
      assert.equal("phases" in JSON.parse(jsonLine(record)), false);
    }
  } finally {
    await backend.shutdown();
  }
});
