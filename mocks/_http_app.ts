/**
 * The routes every HTTP mock serves, and the one place where a mock's behaviour (fail,
 * wait, pass) is applied. The apps differ only in the {@linkcode Gate} they pass in.
 *
 * @module
 */

import { type Context, Hono, type MiddlewareHandler } from "hono";
import { MAX_PATTERN_BYTES, patternBytes } from "./bytes.ts";
import type { MockKind } from "./options.ts";

/** What a gate decided about one request. */
export type Verdict =
  /** Serve it normally. */
  | "pass"
  /** Answer 500 `{"error":"App failure"}`. */
  | "fail"
  /** The client left or the mock is closing: answer 503, which nobody may read. */
  | "abandon";

/**
 * Runs before the routes for every request except `/health`. `signal` aborts when the
 * client goes away or the mock closes, so a gate that waits must stop waiting then.
 */
export type Gate = (signal: AbortSignal) => Verdict | Promise<Verdict>;

/** What {@linkcode buildMockApp} needs to know. */
export interface MockAppConfig {
  readonly kind: MockKind;
  /** The mock's own URL, reported by `GET /`. */
  readonly url: string;
  readonly gate: Gate;
  readonly log: (line: string) => void;
  /** Aborts when the mock closes. */
  readonly closing: AbortSignal;
}

/** The Hono app behind an HTTP mock. */
export function buildMockApp(config: MockAppConfig): Hono {
  const { kind, url } = config;
  const app = new Hono();
  app.use(logRequests(config));
  app.use(applyGate(config));
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.all("/echo", echo);
  app.get("/bytes/:count", bytes);
  // Compressed whatever the client accepts: a proxy must pass it through or decode it
  // consistently, and this is how a test finds out which it does.
  app.get("/gzip", (c) => gzip(c, JSON.stringify({ app: kind, url, compressed: "gzip" })));
  // Any other path and method: a JSON body is echoed byte for byte; without a body there
  // is nothing to echo, so the mock says who it is (handy to see where a balancer sent you).
  app.all("*", (c) => echoJsonOrIntroduce(c, { app: kind, url }));
  return app;
}

/** Marks every answer with `x-mock` and logs one line per request once answered. */
function logRequests({ kind, log }: MockAppConfig): MiddlewareHandler {
  return async (c, next) => {
    await next();
    c.header("x-mock", kind);
    // With "no-legacy-abort" (deno.json) the request signal fires only if the client left.
    const outcome = c.req.raw.signal.aborted ? "client gone" : String(c.res.status);
    log(`${c.req.method} ${c.req.path} ${outcome} (${kind})`);
  };
}

/** Lets the mock's gate fail, hold or pass each request. */
function applyGate({ gate, closing }: MockAppConfig): MiddlewareHandler {
  return async (c, next) => {
    // Health probes must neither fail, wait, nor advance an alternation or a random
    // sequence: otherwise the probe rate would change what real traffic sees.
    if (c.req.path === "/health") return await next();
    const verdict = await gate(AbortSignal.any([c.req.raw.signal, closing]));
    if (verdict === "fail") return c.json({ error: "App failure" }, 500);
    if (verdict === "abandon") return c.json({ error: "Request abandoned" }, 503);
    await next();
  };
}

/** `/echo`: what arrived, with the body's length and SHA-256 instead of the body. */
async function echo(c: Context): Promise<Response> {
  const body = new Uint8Array(await c.req.arrayBuffer());
  return c.json({
    method: c.req.method,
    path: c.req.path,
    query: new URL(c.req.url).search.slice(1),
    headers: Object.fromEntries(c.req.raw.headers),
    bodyLength: body.byteLength,
    bodySha256: await sha256Hex(body),
    // The client's port: two requests over one keep-alive connection share it.
    remotePort: (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr?.port,
  });
}

/** `/bytes/N`: N bytes of the known pattern. */
function bytes(c: Context): Response {
  const count = Number(c.req.param("count"));
  if (!Number.isInteger(count) || count < 0 || count > MAX_PATTERN_BYTES) {
    return c.json({ error: `N must be an integer from 0 to ${MAX_PATTERN_BYTES}` }, 400);
  }
  return c.body(patternBytes(count), 200, { "content-type": "application/octet-stream" });
}

/** `json`, gzipped, with `content-encoding: gzip`. */
async function gzip(c: Context, json: string): Promise<Response> {
  const gzipped = await new Response(
    new Blob([json]).stream().pipeThrough(new CompressionStream("gzip")),
  ).bytes();
  return c.body(gzipped, 200, {
    "content-type": "application/json",
    "content-encoding": "gzip",
  });
}

/** A JSON body back as it came (400 if it is not JSON); no body: `introduction`. */
async function echoJsonOrIntroduce(c: Context, introduction: object): Promise<Response> {
  const text = await c.req.text();
  if (text === "") return c.json(introduction);
  try {
    JSON.parse(text);
  } catch {
    return c.json({ error: "Request body is not valid JSON" }, 400);
  }
  return c.body(text, 200, { "content-type": "application/json" });
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
