/**
 * A backend's answer on its way to the client: its headers as the client gets them
 * (`x-app-url`, `Location` rewritten to the client's address, a sticky cookie), a 5xx kept
 * while the request moves on, and the try released once the answer is sent.
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { Exchange } from "./exchange.ts";
import type { BalancerOptions } from "./options.ts";
import type { Stickiness } from "./sticky.ts";

/**
 * What a balancer's settings change in a backend's answer, decided once per balancer: the
 * switches are read here, so an answer with all of them off costs a few checks.
 */
export class AnswerHeaders {
  readonly #exposeBackend: boolean;
  readonly #rewriteLocation: boolean;
  /** Sticky sessions (`sticky.ts`); absent when off. */
  readonly #sticky: Stickiness | undefined;
  /** Whether someone reads the request's record, which then names the answering backend. */
  readonly #observed: boolean;

  constructor(
    options: Pick<BalancerOptions, "exposeBackend" | "rewriteLocation">,
    sticky: Stickiness | undefined,
    observed: boolean,
  ) {
    this.#exposeBackend = options.exposeBackend;
    this.#rewriteLocation = options.rewriteLocation;
    this.#sticky = sticky;
    this.#observed = observed;
  }

  /**
   * A backend's response as the client gets it: the same object, its headers changed in
   * place (the transport has already dropped hop-by-hop fields): `x-app-url` naming the
   * backend (`exposeBackend`), a sticky cookie when one is due, and `Location` /
   * `Content-Location` that point at the backend's own URL rewritten to the client's
   * (`rewriteLocation`).
   */
  apply(response: Response, backend: Backend, exchange: Exchange): Response {
    if (this.#observed) exchange.answeredBy = backend.url;
    const headers = response.headers;
    if (this.#exposeBackend) headers.set("x-app-url", backend.url);
    const sticky = this.#sticky;
    if (sticky !== undefined) sticky.onAnswer(headers, backend, exchange.sticky);
    if (this.#rewriteLocation) {
      const request = exchange.request;
      const location = headers.get("location");
      if (location !== null) rewriteToClient(headers, "location", location, backend, request);
      const content = headers.get("content-location");
      if (content !== null) rewriteToClient(headers, "content-location", content, backend, request);
    }
    return response;
  }
}

/**
 * Keeps the try counted in flight until the response body has been sent, or the client
 * left, or the body failed: `info.completed` settles in all three cases. One promise
 * reaction with a handler bound once per backend, instead of a stream wrapped around every
 * body. Outside `Deno.serve` (no `completed`), the try ends with its headers.
 */
export function releaseWhenSent(
  response: Response,
  backend: Backend,
  info: Deno.ServeHandlerInfo,
): Response {
  const completed = info.completed as Promise<void> | undefined;
  if (completed === undefined) backend.endTry();
  else completed.then(backend.endTry, backend.endTry);
  return response;
}

/**
 * Rewrites the field `name`, whose value is `value`, when it points at `backend`'s own base
 * URL: that prefix becomes the scheme and host the client used (from the request URL, which
 * `Deno.serve` builds from the client's `Host`), as nginx's `proxy_redirect default`. One
 * string comparison with a prefix kept per backend; nothing is parsed unless it matches.
 */
export function rewriteToClient(
  headers: Headers,
  name: string,
  value: string,
  backend: Backend,
  request: Request,
): void {
  const base = backend.url;
  if (!value.startsWith(base)) return;
  // Only the whole base: `http://b:8001` must not match `http://b:80012/...`.
  const next = value.charCodeAt(base.length);
  // end, "/", "?", "#"
  if (!(Number.isNaN(next) || next === 47 || next === 63 || next === 35)) return;
  const url = request.url;
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  const origin = slash === -1 ? url : url.slice(0, slash);
  const rest = value.slice(base.length);
  headers.set(name, origin + (rest === "" || rest.charCodeAt(0) !== 47 ? `/${rest}` : rest));
}

export async function keepAnswer(
  response: Response,
  limit: number,
  signal: AbortSignal,
): Promise<Response | undefined> {
  const length = Number(response.headers.get("content-length") ?? 0);
  if (response.body === null || length > limit) {
    await response.body?.cancel();
    return undefined;
  }
  // A hanging body must not hold the request: the signal cancels the read.
  const reader = response.body.getReader();
  const stop = () => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  try {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel();
        return undefined;
      }
      chunks.push(value);
    }
    if (signal.aborted) return undefined;
    return new Response(new Blob(chunks as BlobPart[]), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  } catch {
    return undefined;
  } finally {
    signal.removeEventListener("abort", stop);
  }
}
