/**
 * Handing freed memory back (`balancer/memory_trim.ts`, `lib/malloc_trim.ts`): when the
 * trimmer trims on a fake clock, that the admission gate tells it when traffic pauses, and
 * end to end that `balance` trims with `--allow-ffi` and says why not without it.
 */
import assert from "node:assert/strict";
import { AdmissionGate, type Slot } from "../balancer/admission.ts";
import { MemoryTrimmer, TRIM_DEFAULTS } from "../balancer/memory_trim.ts";
import { mallocTrim } from "../lib/malloc_trim.ts";
import { FakeClock } from "./_fake_clock.ts";
import { serve } from "./_helpers.ts";
import { metric, startBalance, stopBalance, TASK_FLAGS } from "./_cli.ts";

const WITHOUT_FFI = TASK_FLAGS.filter((flag) => flag !== "--allow-ffi");

/** A trimmer on `clock` whose trims are recorded (at their fake time) and resolve at once. */
function trimmerOn(clock: FakeClock, answer: () => Promise<boolean> = () => Promise.resolve(true)) {
  const at: number[] = [];
  const errors: unknown[] = [];
  const trimmer = new MemoryTrimmer({
    trim: () => {
      at.push(clock.nowMs - START);
      return answer();
    },
    clock: clock.now,
    timers: clock,
    onError: (error) => errors.push(error),
  });
  return { trimmer, at, errors };
}

const START = 1_000_000;
const GAP = TRIM_DEFAULTS.minGapMs;

/** Lets the trim's promise reactions run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

Deno.test("trimmer: the first pause trims at once, the next within the gap waits for it", async () => {
  const clock = new FakeClock(START);
  const { trimmer, at } = trimmerOn(clock);
  trimmer.quiet();
  assert.deepEqual(at, [0]);
  await settle();
  clock.advance(GAP * 0.3);
  trimmer.quiet();
  clock.advance(GAP * 0.2);
  trimmer.quiet(); // a third pause within the gap: still one trim, when the gap is up
  assert.deepEqual(at, [0]);
  clock.advance(GAP * 0.5 - 1);
  assert.deepEqual(at, [0]);
  clock.advance(1);
  assert.deepEqual(at, [0, GAP]);
  assert.equal(clock.pending, 1, "only the every-10s timer is left");
  trimmer.close();
  assert.equal(clock.pending, 0);
});

Deno.test("trimmer: without pauses it trims every 10 s once started, and close stops it", async () => {
  const clock = new FakeClock(START);
  const { trimmer, at } = trimmerOn(clock);
  trimmer.start();
  clock.advance(9_999);
  assert.deepEqual(at, []);
  clock.advance(1);
  await settle();
  clock.advance(10_000);
  assert.deepEqual(at, [10_000, 20_000]);
  assert.equal(trimmer.trims, 2);
  trimmer.close();
  clock.advance(60_000);
  trimmer.quiet();
  assert.deepEqual(at, [10_000, 20_000], "a closed trimmer never trims");
  assert.equal(trimmer.on, false);
});

Deno.test("trimmer: a pause moves the next every-10s trim to 10 s after it", async () => {
  const clock = new FakeClock(START);
  const { trimmer, at } = trimmerOn(clock);
  trimmer.start();
  clock.advance(4_000);
  trimmer.quiet();
  await settle();
  clock.advance(9_999);
  assert.deepEqual(at, [4_000]);
  clock.advance(1);
  assert.deepEqual(at, [4_000, 14_000]);
  trimmer.close();
});

Deno.test("trimmer: counts the trims that gave memory back", async () => {
  const clock = new FakeClock(START);
  let gives = true;
  const { trimmer } = trimmerOn(clock, () => Promise.resolve(gives));
  trimmer.quiet();
  await settle();
  gives = false;
  clock.advance(GAP);
  trimmer.quiet();
  await settle();
  assert.equal(trimmer.trims, 2);
  assert.equal(trimmer.released, 1);
  trimmer.close();
});

Deno.test("trimmer: no second trim while one runs; it comes once the first is done", async () => {
  const clock = new FakeClock(START);
  let finish: (released: boolean) => void = () => {};
  const { trimmer, at } = trimmerOn(clock, () => new Promise((resolve) => finish = resolve));
  trimmer.quiet();
  clock.advance(GAP);
  trimmer.quiet(); // due, but the first trim has not finished
  clock.advance(0);
  assert.deepEqual(at, [0]);
  finish(true);
  await settle();
  clock.advance(GAP - 1);
  assert.deepEqual(at, [0], "the retry waits a whole gap after the busy moment");
  clock.advance(1);
  assert.deepEqual(at, [0, 2 * GAP]);
  trimmer.close();
});

Deno.test("trimmer: a failed trim turns trimming off and is reported once", async () => {
  const clock = new FakeClock(START);
  const { trimmer, at, errors } = trimmerOn(
    clock,
    () => Promise.reject(new Error("libc.so.6: cannot open shared object file")),
  );
  trimmer.start();
  trimmer.quiet();
  await settle();
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /libc\.so\.6/);
  assert.equal(trimmer.on, false);
  assert.equal(clock.pending, 0, "no timer left behind");
  clock.advance(60_000);
  trimmer.quiet();
  assert.deepEqual(at, [0]);
});

Deno.test("trimmer: a trim that throws at once is reported, not thrown at the caller", async () => {
  const clock = new FakeClock(START);
  const { trimmer, errors } = trimmerOn(clock, () => {
    throw new Error("dlopen failed");
  });
  trimmer.quiet(); // must not throw: its caller is a request leaving the gate
  await settle();
  assert.equal(errors.length, 1);
  assert.equal(trimmer.on, false);
});

Deno.test("admission gate: says when the last request leaves and nobody waits", async () => {
  const clock = new FakeClock(START);
  let empties = 0;
  const gate = new AdmissionGate(1, {
    maxWaitMs: 2_000,
    clock: clock.now,
    timers: clock,
    stuckMs: 250,
    onEmpty: () => empties++,
  });
  const slot = (): Slot => ({ admittedMs: 0, holdsSlot: false });
  const first = slot();
  const second = slot();
  assert.equal(gate.enter(first, clock.nowMs), undefined);
  const waiting = gate.enter(second, clock.nowMs);
  gate.leave(first); // the waiter takes the slot: not empty
  await waiting;
  assert.equal(empties, 0);
  gate.leave(second);
  assert.equal(empties, 1);
  gate.leave(second); // a second leave of the same slot changes nothing
  assert.equal(empties, 1);
  gate.close();
});

Deno.test("malloc_trim: offered exactly when this process may use FFI, else says why", () => {
  // `deno task test` runs without --allow-ffi; `deno test -A` with it. Querying never prompts.
  const allowed = Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  const availability = mallocTrim();
  if (allowed && Deno.build.target.endsWith("-linux-gnu")) {
    assert.equal(typeof availability.trim, "function");
    assert.equal(availability.unavailable, undefined);
  } else {
    assert.equal(availability.trim, undefined);
    assert.match(availability.unavailable!, /^needs --allow-ffi$|^not Linux with glibc/);
  }
});

Deno.test("balance with --allow-ffi hands memory back once traffic pauses, and counts it", async () => {
  const app = serve(() => Response.json({ ok: true }));
  const seen: string[] = [];
  const run = await startBalance(app.url, [], seen);
  try {
    assert.ok(!seen.some((l) => l.includes("memory trim off")), seen.join("\n"));
    assert.equal(await metric(run.admin, "roundabout_memory_trim_on"), 1);
    for (let i = 0; i < 3; i++) {
      const response = await fetch(run.balancer, { method: "POST", body: "{}" });
      assert.equal(response.status, 200);
      await response.body?.cancel();
    }
    // The first pause trims at once; the count is read over HTTP until it shows.
    let trims = 0;
    await eventuallyAsync(async () =>
      (trims = (await metric(run.admin, "roundabout_memory_trims_total"))!) >= 1
    );
    assert.ok(trims >= 1 && trims <= 4, `trims ${trims}`);
    // A trim that failed (no glibc's malloc_trim after all) would have turned trimming off.
    assert.equal(await metric(run.admin, "roundabout_memory_trim_on"), 1);
    assert.ok(!seen.some((l) => l.includes("memory trim off")), seen.join("\n"));
  } finally {
    await stopBalance(run);
    await app.shutdown();
  }
});

Deno.test("balance without --allow-ffi says memory trim is off and why; --no-memory-trim is silent", async () => {
  const app = serve(() => new Response("ok"));
  try {
    for (const [args, says] of [[[], true], [["--no-memory-trim"], false]] as const) {
      const seen: string[] = [];
      const run = await startBalance(app.url, args, seen, WITHOUT_FFI);
      try {
        const line = seen.find((l) => l.includes("memory trim off"));
        if (says) {
          assert.equal(
            line,
            "[balancer] memory trim off: needs --allow-ffi (--no-memory-trim silences this)",
          );
        } else {
          assert.equal(line, undefined);
        }
        assert.equal(await metric(run.admin, "roundabout_memory_trim_on"), undefined);
      } finally {
        await stopBalance(run);
      }
    }
  } finally {
    await app.shutdown();
  }
});

/** Polls `condition` every 20 ms for up to 3 s. */
async function eventuallyAsync(condition: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 3_000;
  while (!(await condition())) {
    if (performance.now() > deadline) assert.fail("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
