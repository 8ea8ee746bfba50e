/**
 * Waiting that an abort signal cuts short, so no timer outlives a client that left or a
 * mock that closed (the test sanitizers fail on a pending timer).
 *
 * @module
 */

/**
 * Waits `ms` milliseconds unless `signal` aborts first; the timer is cleared either way.
 *
 * @returns `true` if the full time passed, `false` if the signal cut it short.
 */
export function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Resolves when `signal` aborts (at once if it already has). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}
