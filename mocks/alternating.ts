/**
 * `alternating`: every other request fails, starting with the first.
 *
 * @module
 */

import { startHttpMock } from "./_http_server.ts";
import { optionsHelp } from "./options.ts";
import type { MockApp } from "./running.ts";

/** Fails requests 1, 3, 5… with 500 and serves 2, 4, 6… like `normal`. */
export const alternatingMock: MockApp = {
  help: 'Fails the first request and every other one after it with 500 {"error":"App ' +
    'failure"}; the others are served like normal. GET /health always answers 200 and ' +
    "does not count in the alternation. " + optionsHelp([]),
  start(options) {
    let requests = 0;
    return startHttpMock("alternating", options, () => (requests++ % 2 === 0 ? "fail" : "pass"));
  },
};
