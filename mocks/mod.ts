/**
 * Mock backend apps for demos, scenario tests, the benchmark and chaos tests: a normal JSON
 * app and seven ways for a backend to misbehave.
 *
 * ```ts
 * import { startMock } from "./mod.ts";
 *
 * const mock = await startMock("alternating");
 * try {
 *   const response = await fetch(mock.url, { method: "POST", body: "{}" });
 *   await response.body?.cancel();
 *   console.log(response.status, mock.arrivals); // 500 1
 * } finally {
 *   await mock.close();
 * }
 * ```
 *
 * The HTTP mocks (normal, alternating, delayed, flaky) change behaviour while running,
 * keeping their keep-alive connections: `mock.setMode("slow", { delayMs: 1000 })`, or over
 * HTTP on the mock's own port `POST /_mock/mode {"mode":"slow","delayMs":3000}` (modes
 * `as-started`, `normal`, `slow`, `failing`). Each counts deliveries per request id
 * (the query parameter `id`, or the header `x-request-id`): `mock.received(id)`, or
 * `GET /_mock/received?id=ID`. See `_mode.ts`.
 *
 * @module
 */

import { alternatingMock } from "./alternating.ts";
import { blackholeMock } from "./blackhole.ts";
import { delayedMock } from "./delayed.ts";
import { flakyMock } from "./flaky.ts";
import { garbageMock } from "./garbage.ts";
import { normalMock } from "./normal.ts";
import { type MockKind, type MockOptions, resolveMockOptions } from "./options.ts";
import { resetMock } from "./reset.ts";
import type { MockApp, RunningMock } from "./running.ts";
import { slowBodyMock } from "./slow_body.ts";

export { CONTROL_PREFIX, MOCK_MODES, type MockMode, type ModeSetting } from "./_mode.ts";
export { MAX_PATTERN_BYTES, patternBytes } from "./bytes.ts";
export {
  isMockKind,
  MOCK_DEFAULTS,
  MOCK_KINDS,
  type MockKind,
  type MockOptions,
  type ResolvedMockOptions,
} from "./options.ts";
export type { RunningMock } from "./running.ts";
export { TRICKLE_CHUNKS } from "./slow_body.ts";

/** Every app by kind; the record type makes a missing kind a type error. */
const APPS: Readonly<Record<MockKind, MockApp>> = {
  "normal": normalMock,
  "alternating": alternatingMock,
  "delayed": delayedMock,
  "reset": resetMock,
  "garbage": garbageMock,
  "slow-body": slowBodyMock,
  "flaky": flakyMock,
  "blackhole": blackholeMock,
};

/** One help paragraph per kind: what it does and which options apply (for `mock --help`). */
export const MOCK_HELP: Readonly<Record<MockKind, string>> = Object.freeze(
  Object.fromEntries(
    Object.entries(APPS).map(([kind, app]) => [kind, app.help]),
  ) as Record<MockKind, string>,
);

/**
 * Starts a mock app listening on `options.hostname`:`options.port` (any free port by
 * default). Always `close()` it.
 *
 * @throws {TypeError} (as a rejection) if `kind` is not a mock kind.
 * @throws {RangeError} (as a rejection) listing every invalid option.
 * @throws {Deno.errors.AddrInUse} (as a rejection) if the port is taken.
 */
export function startMock(kind: MockKind, options?: MockOptions): Promise<RunningMock> {
  // Promise.try turns a synchronous throw (bad option, port taken) into a rejection.
  return Promise.try(() => {
    const app = Object.hasOwn(APPS, kind) ? APPS[kind] : undefined;
    if (app === undefined) {
      throw new TypeError(
        `Cannot start mock "${kind}": it is not one of ${Object.keys(APPS).join(", ")}`,
      );
    }
    return app.start(resolveMockOptions(options));
  });
}
