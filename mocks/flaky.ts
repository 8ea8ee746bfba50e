/**
 * `flaky`: fails a share of requests at random, repeatably.
 *
 * @module
 */

import { startHttpMock } from "./_http_server.ts";
import { seededRandom } from "../lib/random.ts";
import { optionsHelp } from "./options.ts";
import type { MockApp } from "./running.ts";

/** Fails each request with probability `failureRate`, from a PRNG seeded with `seed`. */
export const flakyMock: MockApp = {
  help: 'Fails each request with 500 {"error":"App failure"} with probability ' +
    "failureRate, otherwise serves it like normal. The choice comes from a generator " +
    "seeded with seed, so the same seed fails the same requests in every run. GET /health " +
    "always answers 200 and does not draw a number. " + optionsHelp(["failureRate", "seed"]),
  start(options) {
    const random = seededRandom(options.seed);
    return startHttpMock("flaky", options, () => random() < options.failureRate ? "fail" : "pass");
  },
};
