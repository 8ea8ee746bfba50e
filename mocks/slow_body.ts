/**
 * `slow-body`: headers at once, then a body that trickles, for body and idle timeouts.
 *
 * @module
 */

import { delay } from "./_delay.ts";
import { responseHead, startTcpMock, writeAll } from "./_tcp_server.ts";
import { optionsHelp } from "./options.ts";
import type { MockApp } from "./running.ts";

/** Chunks per body: at the default interval the body takes 10 s, past a 2 s timeout. */
export const TRICKLE_CHUNKS = 10;

/** Sends 200 and headers at once, then one chunk every `trickleIntervalMs`. */
export const slowBodyMock: MockApp = {
  help: "Sends 200 and its headers at once, then a chunked text body of " +
    `${TRICKLE_CHUNKS} lines, one every trickleIntervalMs, and ends it cleanly if the ` +
    "client is still there. " + optionsHelp(["trickleIntervalMs"]),
  start: (options) =>
    startTcpMock("slow-body", options, async ({ kind, conn, signal }) => {
      await writeAll(
        conn,
        responseHead(kind, "200 OK", {
          "content-type": "text/plain; charset=utf-8",
          "transfer-encoding": "chunked",
          // One exchange per connection (see _tcp_server.ts), so the client must not reuse it.
          "connection": "close",
        }),
      );
      for (let chunk = 1; chunk <= TRICKLE_CHUNKS; chunk++) {
        if (!await delay(options.trickleIntervalMs, signal)) return "client gone";
        const line = `chunk ${chunk} of ${TRICKLE_CHUNKS}\n`;
        await writeAll(conn, `${line.length.toString(16)}\r\n${line}\r\n`);
      }
      await writeAll(conn, "0\r\n\r\n");
      return "200";
    }),
};
