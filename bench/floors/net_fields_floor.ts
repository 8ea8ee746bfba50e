// floor-net (net_floor.ts) plus the one thing no HTTP proxy can leave out: the fields. The
// client's request fields go to the backend (not host, connection, content-length or
// transfer-encoding, which this hop decides) and the backend's response fields come back to
// the client (not connection, keep-alive, content-length or transfer-encoding). Everything
// else is net_floor.ts as it is: content-length only, no hygiene, no timeouts, no retries.
// It measures what Deno's Headers cost a proxy, on top of the crudest round trip; a yardstick,
// not a design to copy.
// usage: deno run -A net_fields_floor.ts PORT http://127.0.0.1:B1 http://127.0.0.1:B2 …
import net from "node:net";
const backends = Deno.args.slice(1).map((url) => Number(new URL(url).port));
type C = { s: net.Socket; buf: Uint8Array[]; waiter?: () => void };
const pools: C[][] = backends.map(() => []);
let next = 0;
const enc = new TextEncoder(), dec = new TextDecoder();
const NOT_FORWARDED = new Set(["host", "connection", "content-length", "transfer-encoding"]);
const NOT_RETURNED = new Set(["connection", "keep-alive", "content-length", "transfer-encoding"]);
function open(port: number): Promise<C> {
  return new Promise((res, rej) => {
    const s = net.connect(port, "127.0.0.1");
    s.setNoDelay(true);
    const c: C = { s, buf: [] };
    s.on("data", (d: Uint8Array) => {
      c.buf.push(d);
      const w = c.waiter;
      c.waiter = undefined;
      w?.();
    });
    s.once("connect", () => res(c));
    s.once("error", rej);
  });
}
async function roundTrip(i: number, head: string, body: Uint8Array) {
  const c = pools[i].pop() ?? await open(backends[i]);
  const h = enc.encode(head);
  const out = new Uint8Array(h.length + body.length);
  out.set(h);
  out.set(body, h.length);
  c.s.write(out);
  let acc = new Uint8Array(0);
  for (;;) {
    if (c.buf.length === 0) await new Promise<void>((r) => c.waiter = r);
    for (const d of c.buf) {
      const t = new Uint8Array(acc.length + d.length);
      t.set(acc);
      t.set(d, acc.length);
      acc = t;
    }
    c.buf = [];
    const s = dec.decode(acc);
    const e = s.indexOf("\r\n\r\n");
    if (e < 0) continue;
    const m = /content-length:\s*(\d+)/i.exec(s.slice(0, e));
    const len = m ? +m[1] : 0;
    if (acc.length < e + 4 + len) continue;
    pools[i].push(c);
    const fields: [string, string][] = [];
    for (const line of s.slice(s.indexOf("\r\n") + 2, e).split("\r\n")) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).toLowerCase();
      if (!NOT_RETURNED.has(name)) fields.push([name, line.slice(colon + 1).trim()]);
    }
    return new Response(acc.slice(e + 4, e + 4 + len), {
      status: +s.slice(9, 12),
      headers: fields,
    });
  }
}
const port = Number(Deno.args[0] ?? 19094);
Deno.serve({
  port,
  hostname: "127.0.0.1",
  onListen() {
    console.log(`listening on http://127.0.0.1:${port}`);
  },
}, async (req) => {
  const i = next;
  next = (next + 1) % backends.length;
  const body = await req.bytes();
  const u = new URL(req.url);
  let head = `${req.method} ${u.pathname}${u.search} HTTP/1.1\r\nhost: 127.0.0.1\r\n`;
  req.headers.forEach((value, name) => {
    if (!NOT_FORWARDED.has(name)) head += `${name}: ${value}\r\n`;
  });
  return await roundTrip(i, `${head}content-length: ${body.length}\r\n\r\n`, body);
});
