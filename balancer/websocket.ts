/**
 * WebSocket through the balancer (RFC 6455), as a message-level bridge: the client's upgrade
 * is accepted with `Deno.upgradeWebSocket` only once a backend accepted Deno's `WebSocket`
 * client, so the client gets the backend's subprotocol choice, or its refusal's status.
 *
 * - The backend is picked by the policy and tried like any request: a connection that fails
 *   or a handshake that times out or answers 5xx counts against it and the upgrade moves on;
 *   a 4xx refusal (401, 403, 404, …) goes to the client with its status. Deno's client does
 *   not expose the refusal's body, so the body is the balancer's JSON naming the status.
 * - The client's end-to-end headers (cookies, authorization, origin, `x-forwarded-*`) reach
 *   the backend's handshake; `Sec-WebSocket-Extensions` is not offered (no permessage-deflate
 *   through a message-level bridge); the client's `Sec-WebSocket-Protocol` list is offered.
 * - Close codes and reasons pass both ways. The WebSocket API can send only 1000 and
 *   3000-4999: another code (1001 going away, 1011, …) reaches the other side as 1000 with
 *   the reason `"CODE reason"`; 1005 (no code) as no code.
 * - Bounded memory: the API cannot pause reading, so a side whose `bufferedAmount` passes
 *   {@linkcode WEBSOCKET_BUFFER_LIMIT_BYTES} is not waited for: both sides are closed, with
 *   1013 "try again later" as the rule above sends it (1000, reason `"1013 try again …"`).
 * - Shutdown: `Deno.serve`'s own shutdown closes upgraded client sockets at once with 1001
 *   (measured), so they get no grace period; the backend side is then closed with 1001 "going
 *   away" (as 1000 `"1001 going away"`, the rule above).
 *
 * @module
 */

import type { Backend } from "../backends/backend.ts";
import type { TryFailure } from "../backends/health.ts";
import type { FieldList } from "../lib/headers.ts";
import { pathAndQuery } from "./refusals.ts";

/** How many bytes may wait to be sent to one side before the bridge closes (4 MiB). */
export const WEBSOCKET_BUFFER_LIMIT_BYTES = 4 * 1024 * 1024;

/** Whether `request` asks for a WebSocket (RFC 6455 §4.1): GET with `Upgrade: websocket`. */
export function isWebSocketUpgrade(request: Request, upgrade: string): boolean {
  return request.method === "GET" && upgrade.toLowerCase() === "websocket";
}

/** The open bridges of one running balancer, whatever configuration opened them. */
export class WebSocketBridges {
  readonly #open = new Set<WebSocket>();
  /**
   * The client for `wss://` backends signed by a private CA: Deno's WebSocket trusts only
   * the system's roots unless given a `Deno.HttpClient` with `caCerts` (measured).
   * Made only when CAs are given; closed by {@linkcode close}.
   */
  readonly client: Deno.HttpClient | undefined;
  constructor(caCerts: readonly string[] = []) {
    this.client = caCerts.length > 0 ? Deno.createHttpClient({ caCerts: [...caCerts] }) : undefined;
  }
  /** Releases the client made for the CAs (open bridges keep their connections). */
  close(): void {
    this.client?.close();
  }
  /**
   * Set when the balancer stops: `Deno.serve`'s shutdown closes the client sides itself (1001,
   * measured) and the bridge sees no code, so the backend side is told 1001 "going away".
   */
  stopping = false;
  get size(): number {
    return this.#open.size;
  }
  /** Counts `client`'s bridge as open; returns the function that counts it closed. */
  add(client: WebSocket): () => void {
    this.#open.add(client);
    return () => this.#open.delete(client);
  }
}

/** What the bridge needs from the balancer. */
export interface WebSocketParts {
  readonly timeoutMs: number;
  /** The path and query sent upstream (a route may strip a prefix). Default the request's. */
  readonly target?: string;
  readonly clock: () => number;
  readonly bridges: WebSocketBridges;
  /** The next backend after those tried, or `undefined`. */
  next(tried: readonly Backend[]): Backend | undefined;
  /** A failed handshake, counted against `backend`. */
  markFailed(backend: Backend, kind: TryFailure, detail: string, startMs: number): void;
}

/** The handshake fields that Deno's client writes itself, or that are not passed through. */
const OWN_FIELDS = new Set([
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
]);

type Handshake = { socket: WebSocket } | { status: number } | {
  failure: TryFailure;
  detail: string;
};

/** Bridges an upgrade request to the first backend that accepts it, starting with `first`. */
export async function bridgeWebSocket(
  request: Request,
  first: Backend,
  fields: FieldList,
  parts: WebSocketParts,
): Promise<Response> {
  const protocols = (request.headers.get("sec-websocket-protocol") ?? "").split(",")
    .map((p) => p.trim()).filter((p) => p !== "");
  const headers = fields.filter(([name]) => !OWN_FIELDS.has(name));
  const path = parts.target ?? pathAndQuery(request.url);
  const client = parts.bridges.client;
  const tried: Backend[] = [];
  let backend: Backend | undefined = first;
  let last = "no backend accepted the WebSocket";
  while (backend !== undefined) {
    const startMs = parts.clock();
    backend.startTry();
    const url = wsUrl(backend.url, path);
    const result = await handshake(url, { protocols, headers, client }, parts.timeoutMs);
    backend.endTry();
    if ("socket" in result) return accept(request, result.socket, backend, parts.bridges);
    if ("status" in result && result.status < 500) return refused(result.status);
    const [kind, detail]: [TryFailure, string] = "status" in result
      ? ["5xx", `status ${result.status}`]
      : [result.failure, result.detail];
    parts.markFailed(backend, kind, `WebSocket handshake: ${detail}`, startMs);
    last = `${backend.url}: ${detail}`;
    tried.push(backend);
    backend = parts.next(tried);
  }
  return Response.json({ error: "upstream unreachable", detail: last }, { status: 502 });
}

/** `ws://` (or `wss://`) for the backend's base URL and the client's path. */
function wsUrl(base: string, path: string): string {
  return base.replace(/^http/, "ws") + path;
}

/** Opens Deno's client to the backend: open, refused with a status, or failed. */
function handshake(
  url: string,
  init: { protocols: string[]; headers: FieldList; client: Deno.HttpClient | undefined },
  timeoutMs: number,
): Promise<Handshake> {
  return new Promise((resolve) => {
    // `headers` and `client` are Deno's extensions of the constructor (not in lib.dom's types).
    const socket = new WebSocket(url, init as unknown as string[]);
    socket.binaryType = "arraybuffer";
    const timer = setTimeout(() => {
      socket.onclose = null;
      socket.close();
      resolve({ failure: "timeout", detail: `no handshake within ${timeoutMs}ms` });
    }, timeoutMs);
    let message = "";
    socket.onerror = (event) => message = (event as ErrorEvent).message ?? "";
    socket.onopen = () => {
      clearTimeout(timer);
      resolve({ socket });
    };
    socket.onclose = () => {
      clearTimeout(timer);
      // Deno says e.g. "failed to connect to WebSocket: Invalid status code: 403".
      const status = /Invalid status code: (\d{3})/.exec(message);
      if (status) resolve({ status: Number(status[1]) });
      else if (message.includes("connect error")) {
        resolve({ failure: "connect", detail: "connection refused" });
      } else if (message.includes("invalid peer certificate")) {
        // TLS failed before the handshake was sent: as the HTTP/1.1 client, a connect failure.
        const reason = message.slice(message.indexOf("invalid peer certificate"));
        resolve({ failure: "connect", detail: `TLS: ${reason}` });
      } else resolve({ failure: "reset", detail: message || "closed during the handshake" });
    };
  });
}

/** The backend's refusal, its status passed on (Deno's client does not give its body). */
function refused(status: number): Response {
  return Response.json(
    { error: `the backend refused the WebSocket handshake with status ${status}` },
    { status },
  );
}

/** Upgrades the client with the backend's subprotocol and joins the two sockets. */
function accept(
  request: Request,
  upstream: WebSocket,
  backend: Backend,
  bridges: WebSocketBridges,
): Response {
  const protocol = upstream.protocol || undefined;
  const { socket: client, response } = Deno.upgradeWebSocket(request, { protocol });
  client.binaryType = "arraybuffer";
  backend.websocketOpened();
  let closed = false;
  const pending: (string | ArrayBuffer)[] = [];
  const finish = () => {
    if (closed) return;
    closed = true;
    forget();
    backend.websocketClosed();
  };
  const forget = bridges.add(client);
  const overflow = () => {
    closeSide(client, 1013, "try again later: a peer is not reading");
    closeSide(upstream, 1013, "try again later: a peer is not reading");
  };
  const relay = (to: WebSocket, data: string | ArrayBuffer) => {
    if (to.readyState !== WebSocket.OPEN) return;
    to.send(data);
    if (to.bufferedAmount > WEBSOCKET_BUFFER_LIMIT_BYTES) overflow();
  };
  // The backend may speak first, before the client's side is open.
  upstream.onmessage = (e) =>
    client.readyState === WebSocket.CONNECTING ? pending.push(e.data) : relay(client, e.data);
  client.onopen = () => {
    for (const data of pending.splice(0)) relay(client, data);
    if (upstream.readyState !== WebSocket.OPEN) closeSide(client, 1000, "backend closed");
  };
  client.onmessage = (e) => relay(upstream, e.data);
  upstream.onclose = (e) => {
    finish();
    closeSide(client, e.code, e.reason);
  };
  client.onclose = (e) => {
    finish();
    const noCode = e.code === 1005 || e.code === 0;
    if (noCode && bridges.stopping) closeSide(upstream, 1001, "going away");
    else closeSide(upstream, e.code, e.reason);
  };
  return response;
}

/**
 * Closes `socket` with the other side's `code` and `reason` where the API allows that code
 * (1000, 3000-4999); 1005 (none given) as none; any other code as 1000 with it in the reason.
 */
function closeSide(socket: WebSocket, code: number, reason: string): void {
  // A client side still connecting is closed by its `onopen`, once it can be.
  if (socket.readyState !== WebSocket.OPEN) return;
  if (code === 1000 || (code >= 3000 && code <= 4999)) socket.close(code, reason);
  else if (code === 1005 || code === 0) socket.close();
  else socket.close(1000, `${code} ${reason}`.slice(0, 120));
}
