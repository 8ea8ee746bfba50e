/**
 * Roundabout's entry point, for `deno run main.ts` and the compiled binary alike.
 *
 * @module
 */

import { main } from "./cli/main.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
