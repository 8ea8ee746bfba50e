// Reference floor: the crudest keep-alive HTTP/1.1 proxy on Deno.serve + pooled node:net sockets
// (content-length only, no hygiene, no timeouts, no retries). Not a design to copy: a yardstick.
// Copied from /work/shared/floor/ (the shared yardsticks of PLATFORM.md) for bench/subjects.ts; the only
// changes: backends and the listening line come from the command line, and deno fmt/lint.
// usage: deno run -A net_floor.ts PORT http://127.0.0.1:B1 http://127.0.0.1:B2 …
import net from "node:net";
const backends = Deno.args.slice(1).map((url) => Number(new URL(url).port));
type C = { s: net.Socket; buf: Uint8Array[]; waiter?: () => void };
const pools: C[][] = backends.map(() => []);
let next = 0;
const enc = new TextEncoder(), dec = new TextDecoder();
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
    return new Response(acc.slice(e + 4, e + 4 + len), {
      status: +s.slice(9, 12),
      headers: { "content-type": "application/json" },
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
  return await roundTrip(
    i,
    `${req.method} ${u.pathname}${u.search} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
    body,
  );
});
