/**
 * `garbage`: an answer that is not HTTP at all.
 *
 * @module
 */

import { startTcpMock, writeAll } from "./_tcp_server.ts";
import { optionsHelp } from "./options.ts";
import type { MockApp } from "./running.ts";

const NOT_HTTP = "this is not http\r\n\r\n";

/** Answers every request with bytes that are not an HTTP response, then closes. */
export const garbageMock: MockApp = {
  help: `Answers every request with ${JSON.stringify(NOT_HTTP)}, which is not HTTP, and ` +
    "closes the connection: the client fails to parse a response. " + optionsHelp([]),
  start: (options) =>
    startTcpMock("garbage", options, async ({ conn }) => {
      await writeAll(conn, NOT_HTTP);
      return "garbage";
    }),
};
