/**
 * `blackhole`: a backend that accepts connections and never answers.
 *
 * @module
 */

import { aborted } from "./_delay.ts";
import { startTcpMock } from "./_tcp_server.ts";
import { optionsHelp } from "./options.ts";
import type { MockApp } from "./running.ts";

/** Reads and drops requests, never answers, holds the connection until the client or close() ends it. */
export const blackholeMock: MockApp = {
  help: "Accepts connections, reads and discards what arrives and never answers, until " +
    "the client gives up or the mock is closed: the client can only time out. " +
    optionsHelp([]),
  start: (options) =>
    startTcpMock("blackhole", options, async ({ signal }) => {
      await aborted(signal);
      return "no answer";
    }),
};
