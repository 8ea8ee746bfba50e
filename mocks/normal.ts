/**
 * `normal`: a well-behaved JSON app, the reference the other HTTP mocks deviate from.
 *
 * @module
 */

import { startHttpMock } from "./_http_server.ts";
import { optionsHelp } from "./options.ts";
import type { MockApp } from "./running.ts";

/** Answers every request at once. */
export const normalMock: MockApp = {
  help: "Answers every request at once, with the header x-mock naming the app. " +
    "A request with a JSON body gets that body back (400 if it is not JSON), one " +
    "without a body gets the app's identity {app, url}; GET /health returns " +
    "{status: ok}; /echo (any method) " +
    "describes the request received (method, path, query, headers, body length and " +
    "SHA-256); GET /bytes/N returns N bytes (byte i is i mod 256); GET /gzip returns " +
    "gzip-compressed JSON whatever the client accepts. " + optionsHelp([]),
  start: (options) => startHttpMock("normal", options, () => "pass"),
};
