/**
 * `delayed`: a slow app, for timeouts.
 *
 * @module
 */

import { delay } from "./_delay.ts";
import { startHttpMock } from "./_http_server.ts";
import { optionsHelp } from "./options.ts";
import type { MockApp } from "./running.ts";

/** Waits `delayMs`, then answers like `normal`; stops waiting when the client leaves. */
export const delayedMock: MockApp = {
  help: "Waits delayMs before answering each request like normal, and stops waiting as " +
    "soon as the client leaves. GET /health answers at once. " + optionsHelp(["delayMs"]),
  start: (options) =>
    startHttpMock(
      "delayed",
      options,
      async (signal) => (await delay(options.delayMs, signal)) ? "pass" : "abandon",
    ),
};
