/**
 * Serves a {@linkcode buildMockApp} app with `Deno.serve`, counting arrivals before the app
 * runs and cutting gates short on close.
 *
 * @module
 */

import { buildMockApp, type Gate } from "./_http_app.ts";
import { CONTROL_PREFIX, controlResponse, ModeSwitch, requestId } from "./_mode.ts";
import type { MockKind, ResolvedMockOptions } from "./options.ts";
import { Arrivals, listenUrl, type RunningMock, runningMock } from "./running.ts";

/** Starts an HTTP mock whose behaviour is `gate`. */
export function startHttpMock(
  kind: MockKind,
  options: ResolvedMockOptions,
  gate: Gate,
): RunningMock {
  const arrivals = new Arrivals();
  const modes = new ModeSwitch(options.delayMs);
  const closing = new AbortController();
  const server = Deno.serve(
    { hostname: options.hostname, port: options.port, onListen() {} },
    (request, info) => {
      const target = request.url.slice(request.url.indexOf("/", "http://".length));
      if (target.startsWith(CONTROL_PREFIX)) {
        return controlResponse(request, modes, arrivals, options.log);
      }
      // Counted here, when the headers are in, so a request failed or delayed still counts.
      arrivals.record(request.method, requestId(request.headers, target));
      // `app` is assigned below, before any request can be handled.
      return app.fetch(request, { remoteAddr: info.remoteAddr });
    },
  );
  const url = listenUrl(options.hostname, server.addr.port);
  const app = buildMockApp({
    kind,
    url,
    gate: modes.gate(gate),
    log: options.log,
    closing: closing.signal,
  });
  return runningMock({
    kind,
    url,
    port: server.addr.port,
    arrivals,
    modes,
    close: async () => {
      // shutdown() waits for in-flight requests; aborting first ends any gate still waiting.
      closing.abort();
      await server.shutdown();
    },
  });
}
