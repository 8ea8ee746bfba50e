/**
 * Changing what a running HTTP mock does, while its keep-alive connections stay open: the
 * mode switch behind `RunningMock.setMode` and the mock's own control routes under
 * {@linkcode CONTROL_PREFIX}, which a person (or a test) reaches on the mock's port:
 *
 * - `POST /_mock/mode` with `{"mode":"slow","delayMs":3000}` switches the mode and answers
 *   the mode now in force; `GET /_mock/mode` reads it.
 * - `GET /_mock/received?id=ID` answers `{"id":ID,"count":N}`: how many requests with that
 *   request id (the query parameter `id`, or the header `x-request-id`) arrived;
 *   `GET /_mock/received` answers every id's count and the number of arrivals.
 *
 * Control requests are neither counted nor delayed nor failed. The balancer forwards paths
 * as they are, so send them to the mock's own port, not through the balancer.
 *
 * @module
 */

import type { Gate } from "./_http_app.ts";
import { delay } from "./_delay.ts";
import type { Arrivals } from "./running.ts";

/** Where a mock's control routes live: no app path starts with it. */
export const CONTROL_PREFIX = "/_mock/";

/**
 * What a mock does with each request (`/health` is always answered at once):
 * - `as-started`: what its kind does (the mode every mock starts in);
 * - `normal`: answers at once, like the `normal` app;
 * - `slow`: waits `delayMs`, then answers like `normal` (stops waiting if the client leaves);
 * - `failing`: answers 500 `{"error":"App failure"}` at once.
 */
export const MOCK_MODES = ["as-started", "normal", "slow", "failing"] as const;

/** The name of a mode. */
export type MockMode = (typeof MOCK_MODES)[number];

/** A mode and its delay (used by `slow` only). */
export interface ModeSetting {
  readonly mode: MockMode;
  readonly delayMs: number;
}

/**
 * The request id a delivery is counted under: the query's `id`, else `x-request-id`. The
 * query comes first because a balancer in front adds an `x-request-id` of its own to a
 * request that has none; an `id` in the query is the client's, whatever the path.
 */
export function requestId(headers: Headers | undefined, target: string): string | undefined {
  const query = target.indexOf("?");
  const fromQuery = query < 0
    ? undefined
    : new URLSearchParams(target.slice(query + 1)).get("id") ?? undefined;
  return fromQuery ?? headers?.get("x-request-id") ?? undefined;
}

/** One mock's current mode; `gate` applies it in front of the kind's own gate. */
export class ModeSwitch {
  #setting: ModeSetting;

  constructor(readonly defaultDelayMs: number) {
    this.#setting = { mode: "as-started", delayMs: defaultDelayMs };
  }

  get setting(): ModeSetting {
    return this.#setting;
  }

  /**
   * Switches to `mode`; `delayMs` defaults to the mock's `delayMs` option.
   *
   * @throws {RangeError} if the mode or the delay is not valid.
   */
  set(mode: string, delayMs: unknown = this.defaultDelayMs): ModeSetting {
    if (!(MOCK_MODES as readonly string[]).includes(mode)) {
      throw new RangeError(`mode must be one of ${MOCK_MODES.join(", ")}, got ${String(mode)}`);
    }
    if (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0) {
      throw new RangeError(`delayMs must be a number of milliseconds, got ${String(delayMs)}`);
    }
    this.#setting = Object.freeze({ mode: mode as MockMode, delayMs });
    return this.#setting;
  }

  /** The kind's `gate`, behind the mode in force when each request arrives. */
  gate(own: Gate): Gate {
    return async (signal) => {
      const { mode, delayMs } = this.#setting;
      switch (mode) {
        case "as-started":
          return await own(signal);
        case "normal":
          return "pass";
        case "failing":
          return "fail";
        case "slow":
          return (await delay(delayMs, signal)) ? "pass" : "abandon";
      }
    };
  }
}

/** Answers a request under {@linkcode CONTROL_PREFIX}. */
export async function controlResponse(
  request: Request,
  modes: ModeSwitch,
  arrivals: Arrivals,
  log: (line: string) => void,
): Promise<Response> {
  const url = new URL(request.url);
  const route = `${request.method} ${url.pathname}`;
  if (route === `GET ${CONTROL_PREFIX}mode`) return Response.json(modes.setting);
  if (route === `POST ${CONTROL_PREFIX}mode`) {
    try {
      const body = await request.json();
      const setting = modes.set(body?.mode, body?.delayMs ?? modes.defaultDelayMs);
      log(`mode ${setting.mode}${setting.mode === "slow" ? ` ${setting.delayMs}ms` : ""}`);
      return Response.json(setting);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return Response.json({ error: message }, { status: 400 });
    }
  }
  if (route === `GET ${CONTROL_PREFIX}received`) {
    const id = url.searchParams.get("id");
    if (id !== null) return Response.json({ id, count: arrivals.received(id) });
    return Response.json({ arrivals: arrivals.total, received: arrivals.receivedIds });
  }
  await request.body?.cancel();
  return Response.json({ error: `no control route ${route}` }, { status: 404 });
}
