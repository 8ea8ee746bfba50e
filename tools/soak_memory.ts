/**
 * The soak run's watch on the balancer's resident memory (VmRSS from /proc): timed samples,
 * a progress line every 10 s, and the peak.
 *
 * @module
 */

import { rssKiB } from "../harness/procfs.ts";
import { count, scrape, total } from "./_common.ts";

export function mib(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}

export function signed(kib: number): string {
  return `${kib >= 0 ? "+" : "−"}${mib(Math.abs(kib))}`;
}

/**
 * The balancer's resident memory: samples with their time since the start, and the peak of
 * those and of a finer sampler that runs while the load does.
 */
export class MemoryWatch {
  readonly samples: [number, number][] = [];
  peak = 0;
  readonly #t0 = performance.now();

  constructor(readonly pid: number) {}

  /** Takes a sample now; returns it in KiB. */
  sample(): number {
    const kib = rssKiB(this.pid);
    this.samples.push([(performance.now() - this.#t0) / 1000, kib]);
    this.peak = Math.max(this.peak, kib);
    return kib;
  }

  /**
   * A sample and a progress line (with the balancer's request count) every 10 s, and the peak
   * every 250 ms, so a short spike between the 10 s samples counts. Returns what stops both.
   */
  watch(adminUrl: string): () => Promise<void> {
    let progress: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      const kib = this.sample();
      const at = ((performance.now() - this.#t0) / 1000).toFixed(0).padStart(8);
      progress = scrape(adminUrl, ["roundabout_requests_total"]).then((metrics) => {
        const served = metrics ? count(total(metrics, "roundabout_requests_total")) : "?";
        console.log(`${at} s  RSS ${mib(kib)}  (${served} requests served so far)`);
      });
    }, 10_000);
    const peakTimer = setInterval(() => {
      this.peak = Math.max(this.peak, rssKiB(this.pid));
    }, 250);
    return async () => {
      clearInterval(timer);
      clearInterval(peakTimer);
      await progress;
    };
  }
}
