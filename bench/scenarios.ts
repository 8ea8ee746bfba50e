/**
 * The load each subject is measured under. A scenario is data: adding one is one entry.
 *
 * @module
 */

import type { WrkScript } from "../harness/wrk.ts";

/** Which three backends a scenario's subject balances over. */
export type BackendSet = "healthy" | "one-slow" | "one-failing";

/** One kind of load. */
export interface Scenario {
  /** Name used in `--scenarios`, tables, JSON and the chart. */
  readonly name: string;
  /** One line for people. */
  readonly description: string;
  /** wrk script in harness/: `post.lua` (small JSON POST) or `get.lua`. */
  readonly script: WrkScript;
  /** Request path on the backends (see nginx_backend.conf). */
  readonly path: string;
  /** wrk connections. */
  readonly connections: number;
  /** Backends behind the subject: all healthy, or the third one slow or failing. */
  readonly backends: BackendSet;
  /** Scenario whose results this one is compared with ("×healthy" columns), if any. */
  readonly baseline?: string;
  /**
   * Whether to warm up before measuring (default true). The resilience group does not: a
   * warm-up would meet the slow or failing backend first and have it ejected before the
   * measurement starts, hiding the cost of finding out.
   */
  readonly warmup?: boolean;
  /**
   * `wrk` (default): load from wrk. `idle`: no load; the bench itself opens `connections`
   * keep-alive connections, sends one GET `path` on each, reads the whole answer, then keeps
   * them open and idle for {@linkcode IDLE_HOLD_S} seconds while the subject's RSS is
   * sampled (memory per idle connection; req/s means nothing there).
   */
  readonly kind?: "wrk" | "idle";
  /**
   * Whether wrk speaks HTTPS to the subject (default false), with one self-signed certificate
   * for all (`harness/certs.ts`); the backends stay plain HTTP. Only subjects that terminate
   * TLS take part.
   */
  readonly tls?: boolean;
  /**
   * `idle` scenarios: after closing the connections, wait this many seconds and read the
   * subject's RSS once more (does it give back what they cost?). Default: not read.
   */
  readonly afterCloseS?: number;
}

/** Seconds an `idle` scenario keeps its connections open and idle. */
export const IDLE_HOLD_S = 5;

/** 1,000 idle keep-alive connections: what they cost in memory. */
const IDLE_1000: Scenario = {
  name: "idle-1000",
  description: "1,000 keep-alive connections, one GET each, then idle 5 s (watch RSS)",
  script: "get.lua",
  path: "/small",
  connections: 1000,
  backends: "healthy",
  warmup: false,
  kind: "idle",
};

/** Every scenario, in the order they run and are reported. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: "post-small-c8",
    description: "POST small JSON, 8 connections",
    script: "post.lua",
    path: "/echo",
    connections: 8,
    backends: "healthy",
  },
  {
    name: "post-small-c64",
    description: "POST small JSON, 64 connections",
    script: "post.lua",
    path: "/echo",
    connections: 64,
    backends: "healthy",
  },
  {
    name: "https-post-small-c64",
    description: "as post-small-c64, over HTTPS to the subject (TLS termination)",
    script: "post.lua",
    path: "/echo",
    connections: 64,
    backends: "healthy",
    tls: true,
  },
  {
    name: "get-1k",
    description: "GET 1 KiB body, 64 connections",
    script: "get.lua",
    path: "/1k",
    connections: 64,
    backends: "healthy",
  },
  {
    name: "get-1m",
    description: "GET 1 MiB body, 8 connections",
    script: "get.lua",
    path: "/1m",
    connections: 8,
    backends: "healthy",
  },
  {
    name: "conns-1000",
    description: "POST small JSON, 1,000 keep-alive connections (watch RSS)",
    script: "post.lua",
    path: "/echo",
    connections: 1000,
    backends: "healthy",
  },
  IDLE_1000,
  {
    ...IDLE_1000,
    name: "idle-1000-close",
    description: "idle-1000, then the connections closed and RSS read 12 s later " +
      "(is their memory given back?)",
    afterCloseS: 12,
  },
  {
    name: "healthy",
    description:
      "GET small JSON, 64 connections, healthy backends, no warm-up (baseline of the next two)",
    script: "get.lua",
    path: "/small",
    connections: 64,
    backends: "healthy",
    warmup: false,
  },
  {
    name: "one-slow",
    description: "as healthy, but backend 3 answers after 3 s (timeout is 2 s)",
    script: "get.lua",
    path: "/small",
    connections: 64,
    backends: "one-slow",
    baseline: "healthy",
    warmup: false,
  },
  {
    name: "healthy-c1000",
    description: "as healthy, 1,000 connections (baseline of one-slow-c1000)",
    script: "get.lua",
    path: "/small",
    connections: 1000,
    backends: "healthy",
    warmup: false,
  },
  {
    // At 64 connections the admission gate (256) never queues; here it does, so a slow
    // backend holding slots could starve the others.
    name: "one-slow-c1000",
    description: "as one-slow, 1,000 connections: does the admission gate let it starve the rest?",
    script: "get.lua",
    path: "/small",
    connections: 1000,
    backends: "one-slow",
    baseline: "healthy-c1000",
    warmup: false,
  },
  {
    name: "one-failing",
    description: "as healthy, but backend 3 answers 500 to every other request",
    script: "get.lua",
    path: "/small",
    connections: 64,
    backends: "one-failing",
    baseline: "healthy",
    warmup: false,
  },
];

/** What `--quick` runs: one healthy and one unhealthy scenario. */
export const QUICK_SCENARIOS: readonly string[] = ["post-small-c64", "one-failing"];

/** Looks up a scenario by name. */
export function scenarioByName(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
