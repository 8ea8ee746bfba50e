/**
 * The admin API's errors, in one shape: a 4xx (or 5xx) JSON body `{ "error": …, …details }`
 * whose message names the value at fault and what was expected. Nothing the caller sent as
 * a secret (the token) and no stack trace ever goes into one.
 *
 * @module
 */

import type { Context } from "hono";
import { JsoncError, parseJsonc } from "../config/jsonc.ts";

/** The statuses the admin API answers errors with. */
export type ProblemStatus = 400 | 401 | 403 | 404 | 405 | 409 | 500 | 504;

/** A JSON error: `{ error, ...details }` with `headers` added. */
export function problem(
  c: Context,
  status: ProblemStatus,
  error: string,
  details: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  return c.json({ error, ...details }, status, headers);
}

/** The request's body as JSON (comments allowed, as in the config file), or a 400 saying why not. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") return problem(c, 400, "expected a JSON body");
  try {
    return parseJsonc(text);
  } catch (error) {
    if (error instanceof JsoncError) {
      return problem(c, 400, `the body is not valid JSON: ${error.message}`);
    }
    throw error;
  }
}
