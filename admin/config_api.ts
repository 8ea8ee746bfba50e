/**
 * The configuration through the admin API: `GET /config` (what is in force and where each
 * value came from), `POST /config` (a whole config document, as in the file) and
 * `POST /reload` (re-read the file, the environment and the flags). Changes go through the
 * live configuration, which checks them as it checks the file.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import type { Outcome } from "../config/live.ts";
import { toFile } from "../config/model.ts";
import { problem, readJson } from "./errors.ts";
import { type AdminParts, audit, oneWorkerOnly } from "./parts.ts";

/** `GET /config`, `POST /config` and `POST /reload`. */
export function configApi(parts: AdminParts): Hono {
  const { live } = parts;
  return new Hono()
    .get(
      "/config",
      (c) => c.json({ config: toFile(live.settings), origins: Object.fromEntries(live.origins) }),
    )
    .post("/config", oneWorkerOnly(parts), async (c) => {
      const body = await readJson(c);
      if (body instanceof Response) return body;
      audit(c, parts, "asked to apply a configuration (POST /config)");
      return outcome(c, await live.applyDocument(body, "the admin API (POST /config)"));
    })
    .post("/reload", (c) => reload(c, parts));
}

/**
 * Reloads from the sources. With several workers, every worker re-reads the same sources;
 * this one answers with its own outcome.
 */
async function reload(c: Context, parts: AdminParts): Promise<Response> {
  audit(c, parts, "asked to reload (POST /reload)");
  const worker = parts.worker;
  if (worker === undefined) {
    return outcome(c, await parts.live.reload("the admin API (POST /reload)"));
  }
  const reason = `the admin API (POST /reload on worker ${worker.index})`;
  worker.reloadOthers(reason);
  return outcome(c, await parts.live.reload(reason));
}

/** A change's answer: what changed and what waits for a restart, or 400 with every problem. */
function outcome(c: Context, result: Outcome): Response {
  if (!result.ok) return problem(c, 400, "invalid configuration", { problems: result.problems });
  return c.json({ applied: true, changes: result.changes, keptUntilRestart: result.kept });
}
