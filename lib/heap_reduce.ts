/**
 * V8's memory-reducing collection: a full collection that also shrinks the young generation
 * and hands V8's spare pages back to the system, what Chrome's memory reducer runs once a
 * tab has gone quiet. Neither Deno nor Node ever runs it on its own, so the young generation
 * a burst of traffic grew stays grown: measured with 1,000 idle keep-alive connections, V8's
 * committed heap went from 10 to 15.6 MB and stayed there, and this collection took the
 * balancer's anonymous memory from 16.8 back to 9.4 MiB (bench/README.md, "The V8 heap when
 * idle"). A plain full collection (`gc()`) frees the same objects and gives back nothing.
 *
 * It is reached through V8's `gc` extension, which exists only when the process was started
 * with `--v8-flags=--expose-gc` (the tasks, `deno task compile` and the Dockerfile give it).
 * It stops the event loop for 20-30 ms, so it runs only once the balancer has been idle for a
 * while (`balancer/memory_trim.ts` decides when).
 *
 * @module
 */

/** Compacts the V8 heap (synchronously) and tells how large it is. */
export interface HeapReducer {
  /** Runs the memory-reducing collection; blocks for the 20-30 ms it takes. */
  reduce(): void;
  /** Bytes V8 has committed for its heap now. */
  committedBytes(): number;
}

/** Whether this process can reduce its V8 heap, or why not. */
export type HeapReducerAvailability =
  | { readonly reducer: HeapReducer; readonly unavailable?: undefined }
  | { readonly reducer?: undefined; readonly unavailable: string };

/** The options of V8's `gc` extension (src/extensions/gc-extension.cc). */
type GcFunction = (options: {
  type: "major";
  execution: "sync";
  /** `last-resort`: collect until nothing more is freed, then shrink the heap. */
  flavor: "last-resort";
}) => void;

/** V8's memory-reducing collection, or why this process cannot run it. */
export function heapReducer(): HeapReducerAvailability {
  const gc = (globalThis as { gc?: unknown }).gc;
  if (typeof gc !== "function") return { unavailable: "needs --v8-flags=--expose-gc" };
  const collect = gc as GcFunction;
  return {
    reducer: {
      reduce: () => collect({ type: "major", execution: "sync", flavor: "last-resort" }),
      committedBytes: () => Deno.memoryUsage().heapTotal,
    },
  };
}
