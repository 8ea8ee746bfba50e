/**
 * `GET /healthz` and `GET /readyz` for orchestrators (Kubernetes probes, Docker's
 * HEALTHCHECK, load balancers in front). They need no token: a kubelet cannot send one, and
 * they reveal no backend address and change nothing. They are mounted before the token
 * guard but after the guard against web pages (see `app.ts`), so a page in a browser still
 * cannot read them. The answers themselves are `balancer/readiness.ts`'s, the same as on the
 * balancer's port with `health.onListener`.
 *
 * @module
 */

import { Hono } from "hono";
import {
  LIVENESS_PATH,
  livenessAnswer,
  READINESS_PATH,
  readinessAnswer,
} from "../balancer/readiness.ts";
import type { AdminParts } from "./parts.ts";

/** `GET /healthz` (the process serves) and `GET /readyz` (a backend is available). */
export function healthApi(parts: AdminParts): Hono {
  const { running, clock } = parts;
  return new Hono()
    .get(LIVENESS_PATH, () => livenessAnswer())
    .get(READINESS_PATH, () =>
      // The configuration in force: a reload that removes every backend shows at once.
      readinessAnswer(running.balancer.backends, clock(), parts.stopping?.aborted ?? false));
}
