/** Making a request id: the counter of lib/request_id.ts against crypto.randomUUID(). */
import { RequestIds } from "../lib/request_id.ts";

const ids = new RequestIds();
let sink = "";
Deno.bench("request id: prefix + counter", () => {
  sink = ids.next();
});
Deno.bench("request id: crypto.randomUUID()", () => {
  sink = crypto.randomUUID();
});
Deno.bench("request id: keep a sane client id", () => {
  sink = ids.of("3f2a9c1e-4b7d-4e2a-9f1c-0a1b2c3d4e5f");
});
globalThis.addEventListener("unload", () => sink.length);
