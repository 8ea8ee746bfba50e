/**
 * What a `Balancer` is made of, all injected: its settings, backends, policy,
 * transport and clock, and the optional observers and shared parts of its listener.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { Clock, Timers } from "../lib/time.ts";
import type { Policy } from "../policies/policy.ts";
import type { Transport } from "../transports/transport.ts";
import type { AdmissionGate } from "./admission.ts";
import type { RequestRecord } from "./exchange.ts";
import type { BalancerOptions } from "./options.ts";
import type { LagMonitor } from "./overload.ts";
import type { WebSocketBridges } from "./websocket.ts";

/** What the balancer needs, all injected. */
export interface BalancerParts {
  readonly options: BalancerOptions;
  readonly backends: readonly Backend[];
  readonly policy: Policy;
  readonly transport: Transport;
  readonly clock: Clock;
  /**
   * The origin `Deno.serve` gives a request without authority on this listener (see
   * `hostlessOrigin` in `refusals.ts`); unset, no Host is required.
   */
  readonly hostlessOrigin?: string;
  /** Whether the listener terminates TLS: `x-forwarded-proto: https`. Default false. */
  readonly tls?: boolean;
  /** Called once per finished request; leave unset to skip the bookkeeping. */
  readonly onRequest?: (record: RequestRecord) => void;
  /** Called when a failed try takes a backend out of rotation (an ejection). */
  readonly onEject?: (backend: Backend) => void;
  /** The process's event-loop lag; unset, no timeout is ever taken for overload. */
  readonly lag?: Pick<LagMonitor, "lagMs">;
  /** Where open WebSocket bridges are kept for shutdown. Default a set of this balancer's. */
  readonly websockets?: WebSocketBridges;
  /** Timers for the admission gate (default the platform's, unref'd). */
  readonly timers?: Timers;
  /**
   * Records why each try went to its backend and which were passed over (`explain.ts`), for
   * the admin API's recent requests; needs `onRequest`. Default false: no cost per pick.
   */
  readonly explainPicks?: boolean;
  /** The pool these backends are, for records. Default `default`. */
  readonly pool?: string;
  /**
   * The admission gate, shared by every pool and route of a listener; `null` for none.
   * Unset, one of its own when `options.maxInFlight` asks for one.
   */
  readonly admission?: AdmissionGate | null;
  /** The path prefix (without its trailing `/`) removed from forwarded paths (a route's). */
  readonly stripPrefix?: string;
  /** The key of sticky cookies when `options.stickySecret` is unset. Default a new one. */
  readonly stickySecret?: string;
}
