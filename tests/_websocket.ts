/**
 * A WebSocket backend and client for tests, over ws:// or wss:// (with certificates from
 * `_pki.ts`).
 *
 * @module
 */

import { serve, type TestServer } from "./_helpers.ts";

/** A certificate chain and its key, PEM contents. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/** `serve` from `_helpers.ts`, or the same over HTTPS when `tls` is given. */
function serveMaybeTls(
  tls: TlsFiles | undefined,
  handler: (request: Request) => Response,
): TestServer {
  if (tls === undefined) return serve(handler);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, ...tls, onListen() {} }, handler);
  return {
    url: `https://127.0.0.1:${server.addr.port}`,
    port: server.addr.port,
    shutdown: () => server.shutdown(),
  };
}

/** What the backend saw of one handshake and of the close that ended it. */
export interface Seen {
  cookie: string | null;
  authorization: string | null;
  origin: string | null;
  offered: string | null;
  extensions: string | null;
  closedWith?: { code: number; reason: string };
}

/**
 * A Deno WebSocket backend: echoes, answers "seen" with what its handshake saw, closes with
 * 4001 "bye" on "close", picks "chat.v2" when offered, refuses `/forbidden` with 403.
 */
export function wsBackend(tls?: TlsFiles): TestServer & { seen: Seen[] } {
  const seen: Seen[] = [];
  const server = serveMaybeTls(tls, (request) => {
    if (new URL(request.url).pathname === "/forbidden") {
      return new Response("not you", { status: 403 });
    }
    const h = request.headers;
    const entry: Seen = {
      cookie: h.get("cookie"),
      authorization: h.get("authorization"),
      origin: h.get("origin"),
      offered: h.get("sec-websocket-protocol"),
      extensions: h.get("sec-websocket-extensions"),
    };
    seen.push(entry);
    const offered = (entry.offered ?? "").split(",").map((p) => p.trim());
    const protocol = offered.includes("chat.v2") ? "chat.v2" : undefined;
    const { socket, response } = Deno.upgradeWebSocket(request, { protocol });
    socket.onmessage = (e) => {
      if (e.data === "close") socket.close(4001, "bye");
      else if (e.data === "seen") socket.send(JSON.stringify(entry));
      else socket.send(e.data);
    };
    socket.onclose = (e) => entry.closedWith = { code: e.code, reason: e.reason };
    return response;
  });
  return Object.assign(server, { seen });
}

/** Opens Deno's client with the given protocols and headers; resolves once open. */
export async function connect(
  url: string,
  protocols: string[],
  headers: Record<string, string> = {},
  client?: Deno.HttpClient,
) {
  // `headers` and `client` are Deno's extensions of the constructor (not in lib.dom's types).
  const socket = new WebSocket(url, { protocols, headers, client } as unknown as string[]);
  socket.binaryType = "arraybuffer";
  const messages: (string | ArrayBuffer)[] = [];
  socket.onmessage = (e) => messages.push(e.data);
  const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = (e) => reject(new Error((e as ErrorEvent).message));
  });
  return { socket, messages, closed };
}
