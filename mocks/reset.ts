/**
 * `reset`: a response cut off in the middle of its body.
 *
 * @module
 */

import { responseHead, startTcpMock, writeAll } from "./_tcp_server.ts";
import { optionsHelp } from "./options.ts";
import type { MockApp } from "./running.ts";

/** Bytes the head promises; far more than {@linkcode PARTIAL_BODY} delivers. */
const DECLARED_LENGTH = 1024;
const PARTIAL_BODY = '{"app":"reset","partial":';

/** Sends 200 and headers promising more body than it writes, then closes. */
export const resetMock: MockApp = {
  help: `Answers 200 with content-length ${DECLARED_LENGTH}, writes ${PARTIAL_BODY.length} ` +
    "bytes of body and closes the connection: the client gets its status and headers, " +
    "then an error while reading the body. " + optionsHelp([]),
  start: (options) =>
    startTcpMock("reset", options, async ({ kind, conn }) => {
      await writeAll(
        conn,
        responseHead(kind, "200 OK", {
          "content-type": "application/json",
          "content-length": String(DECLARED_LENGTH),
        }),
      );
      await writeAll(conn, PARTIAL_BODY);
      // Deno cannot send a TCP RST (no SO_LINGER); a FIN before content-length is reached
      // is what a client sees as a cut body all the same.
      return "cut";
    }),
};
