/**
 * The V8 heap compacted once the balancer is idle (`balancer/idle_heap_reducer.ts`,
 * `lib/heap_reduce.ts`): when it runs on a fake clock and a fake heap, that the real one
 * shrinks a grown heap, and end to end that `balance` offers it with the tasks' V8 flag and
 * says why not without it.
 */
import assert from "node:assert/strict";
import { HEAP_REDUCE_DEFAULTS, IdleHeapReducer } from "../balancer/idle_heap_reducer.ts";
import { FakeClock } from "./_fake_clock.ts";
import { serve } from "./_helpers.ts";
import { metric, startBalance, stopBalance, TASK_FLAGS } from "./_cli.ts";

const START = 1_000_000;
const IDLE = HEAP_REDUCE_DEFAULTS.idleMs;
const GROWTH = HEAP_REDUCE_DEFAULTS.growthBytes;
const MB = 1024 * 1024;

/** A reducer on `clock` over a fake heap of `heap.bytes`, which a compaction sets to 4 MB. */
function reducerOn(clock: FakeClock, options: { idle?: () => boolean; fails?: boolean } = {}) {
  const heap = { bytes: 10 * MB };
  const at: number[] = [];
  const reduced: number[] = [];
  const errors: unknown[] = [];
  const reducer = new IdleHeapReducer({
    reducer: {
      reduce: () => {
        if (options.fails) throw new Error("gc is not a function");
        at.push(clock.nowMs - START);
        heap.bytes = 4 * MB;
      },
      committedBytes: () => heap.bytes,
    },
    clock: clock.now,
    timers: clock,
    isIdle: options.idle ?? (() => true),
    onReduced: () => reduced.push(clock.nowMs - START),
    onError: (error) => errors.push(error),
  });
  return { reducer, heap, at, reduced, errors };
}

Deno.test("heap reducer: compacts once the heap grew and the balancer stayed idle for idleMs", () => {
  const clock = new FakeClock(START);
  const { reducer, heap, at, reduced } = reducerOn(clock);
  heap.bytes += GROWTH;
  reducer.quiet();
  clock.advance(IDLE - 1);
  assert.deepEqual(at, []);
  clock.advance(1);
  assert.deepEqual(at, [IDLE]);
  assert.deepEqual(reduced, [IDLE], "the C heap is trimmed right after");
  assert.equal(reducer.reductions, 1);
  assert.equal(clock.pending, 0, "nothing more until traffic comes back");
  reducer.close();
});

Deno.test("heap reducer: traffic in between moves the compaction to idleMs after the last pause", () => {
  const clock = new FakeClock(START);
  const { reducer, heap, at } = reducerOn(clock);
  heap.bytes += GROWTH;
  reducer.quiet();
  clock.advance(IDLE / 2);
  reducer.quiet(); // a request came and went
  clock.advance(IDLE / 2);
  assert.deepEqual(at, [], "quiet for only half of idleMs");
  clock.advance(IDLE / 2 - 1);
  assert.deepEqual(at, []);
  clock.advance(1);
  assert.deepEqual(at, [IDLE * 1.5]);
  reducer.close();
});

Deno.test("heap reducer: never while a request is in flight; its end starts the wait again", () => {
  const clock = new FakeClock(START);
  let idle = true;
  const { reducer, heap, at } = reducerOn(clock, { idle: () => idle });
  heap.bytes += GROWTH;
  reducer.quiet();
  clock.advance(IDLE / 2);
  idle = false; // a long request started and has not called quiet yet
  clock.advance(IDLE);
  assert.deepEqual(at, []);
  assert.equal(clock.pending, 0, "no polling while busy");
  idle = true;
  reducer.quiet(); // it is done
  clock.advance(IDLE);
  assert.deepEqual(at, [IDLE * 2.5]);
  reducer.close();
});

Deno.test("heap reducer: a heap that has not grown by growthBytes is left alone", () => {
  const clock = new FakeClock(START);
  const { reducer, heap, at } = reducerOn(clock);
  heap.bytes += GROWTH - 1;
  reducer.quiet();
  clock.advance(IDLE * 3);
  assert.deepEqual(at, []);
  heap.bytes += 1;
  reducer.quiet();
  clock.advance(IDLE);
  assert.deepEqual(at, [IDLE * 4]);
  // Growth now counts from the compacted size (4 MB), not from the start's 10.
  heap.bytes = 4 * MB + GROWTH;
  reducer.quiet();
  clock.advance(IDLE);
  assert.deepEqual(at, [IDLE * 4, IDLE * 5]);
  reducer.close();
});

Deno.test("heap reducer: a compaction that throws turns it off, reported once; close stops it", () => {
  const clock = new FakeClock(START);
  const { reducer, heap, errors } = reducerOn(clock, { fails: true });
  heap.bytes += GROWTH;
  reducer.quiet();
  clock.advance(IDLE);
  assert.equal(errors.length, 1);
  assert.equal(reducer.on, false);
  reducer.quiet();
  clock.advance(IDLE);
  assert.equal(errors.length, 1);
  assert.equal(clock.pending, 0);

  const other = reducerOn(clock);
  other.heap.bytes += GROWTH;
  other.reducer.quiet();
  other.reducer.close();
  assert.equal(clock.pending, 0, "close clears the pending check");
  clock.advance(IDLE);
  assert.deepEqual(other.at, []);
});

/** Runs `code` (a module importing lib/heap_reduce.ts) under `deno run` with `flags`. */
async function runScript(code: string, flags: readonly string[]): Promise<string> {
  const lib = new URL("../lib/heap_reduce.ts", import.meta.url).href;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", ...flags, code.replace("LIB", lib)],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return text.trim();
}

Deno.test("V8's heap compaction gives back a young generation a burst grew", async () => {
  const out = await runScript(
    `import { heapReducer } from "LIB";
     const { reducer } = heapReducer();
     let ring = new Array(50000);
     for (let i = 0; i < 2000000; i++) ring[i % ring.length] = { i, s: "x" + i };
     const grown = reducer.committedBytes();
     ring = [];
     reducer.reduce();
     console.log(JSON.stringify({ grown, after: reducer.committedBytes() }));`,
    ["--v8-flags=--expose-gc"],
  );
  const { grown, after } = JSON.parse(out);
  assert.ok(grown > 16 * MB, `the burst grew the heap to ${grown} bytes`);
  assert.ok(after < grown / 2, `after the compaction ${after} of ${grown} bytes`);
});

Deno.test("without --v8-flags=--expose-gc the heap compaction is unavailable, and says so", async () => {
  const out = await runScript(
    `import { heapReducer } from "LIB";
     console.log(JSON.stringify(heapReducer().unavailable ?? null));`,
    [],
  );
  assert.equal(JSON.parse(out), "needs --v8-flags=--expose-gc");
});

Deno.test("balance offers the idle heap compaction with the tasks' flags, says why not without", async () => {
  const app = serve(() => new Response("ok"));
  const withoutGc = TASK_FLAGS.filter((flag) => !flag.startsWith("--v8-flags"));
  const cases = [
    { flags: TASK_FLAGS, args: [], line: undefined, on: 1 },
    {
      flags: withoutGc,
      args: [],
      line:
        "[balancer] idle heap compaction off: needs --v8-flags=--expose-gc (--no-memory-trim silences this)",
      on: undefined,
    },
    { flags: withoutGc, args: ["--no-memory-trim"], line: undefined, on: undefined },
  ];
  try {
    for (const { flags, args, line, on } of cases) {
      const seen: string[] = [];
      const run = await startBalance(app.url, args, seen, flags);
      try {
        assert.equal(seen.find((l) => l.includes("heap compaction")), line, seen.join("\n"));
        assert.equal(await metric(run.admin, "roundabout_memory_heap_compaction_on"), on);
        if (on) {
          assert.equal(await metric(run.admin, "roundabout_memory_heap_compactions_total"), 0);
        }
      } finally {
        await stopBalance(run);
      }
    }
  } finally {
    await app.shutdown();
  }
});

Deno.test("balance compacts its heap once a burst of 1,000 connections is over", async () => {
  const app = serve(() => Response.json({ ok: true }));
  const seen: string[] = [];
  const run = await startBalance(app.url, [], seen);
  try {
    // A connection each, as many clients would: a client of its own per request.
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(Array.from({ length: 50 }, async () => {
        const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
        try {
          const response = await fetch(run.balancer, { method: "POST", body: "{}", client });
          assert.equal(response.status, 200);
          await response.body?.cancel();
        } finally {
          client.close();
        }
      }));
    }
    const deadline = performance.now() + HEAP_REDUCE_DEFAULTS.idleMs + 3_000;
    let compactions = 0;
    while (performance.now() < deadline) {
      compactions = (await metric(run.admin, "roundabout_memory_heap_compactions_total"))!;
      if (compactions > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(compactions, 1);
  } finally {
    await stopBalance(run);
    await app.shutdown();
  }
});
