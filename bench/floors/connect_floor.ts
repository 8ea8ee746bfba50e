// Reference floor: the crudest keep-alive HTTP/1.1 proxy on Deno.serve + pooled Deno.connect (content-length only,
// no hygiene, no timeouts, no retries). Not a design to copy: a yardstick.
// Copied from /work/shared/floor/ (the shared yardsticks of PLATFORM.md) for bench/subjects.ts; the only
// changes: backends and the listening line come from the command line, and deno fmt/lint.
// usage: deno run -A connect_floor.ts PORT http://127.0.0.1:B1 http://127.0.0.1:B2 …
const backends = Deno.args.slice(1).map((url) => Number(new URL(url).port));
const pools: Deno.TcpConn[][] = backends.map(() => []);
let next = 0;
const enc = new TextEncoder(), dec = new TextDecoder();
async function roundTrip(i: number, head: string, body: Uint8Array) {
  const conn = pools[i].pop() ?? await Deno.connect({ hostname: "127.0.0.1", port: backends[i] });
  const h = enc.encode(head);
  const out = new Uint8Array(h.length + body.length);
  out.set(h);
  out.set(body, h.length);
  await conn.write(out);
  const buf = new Uint8Array(65536);
  let n = 0;
  for (;;) {
    const r = await conn.read(buf.subarray(n));
    if (r === null) throw new Error("eof");
    n += r;
    const s = dec.decode(buf.subarray(0, n));
    const e = s.indexOf("\r\n\r\n");
    if (e < 0) continue;
    const m = /content-length:\s*(\d+)/i.exec(s.slice(0, e));
    const len = m ? +m[1] : 0;
    while (n < e + 4 + len) {
      const r2 = await conn.read(buf.subarray(n));
      if (r2 === null) throw new Error("eof");
      n += r2;
    }
    const status = +s.slice(9, 12);
    pools[i].push(conn);
    return new Response(buf.slice(e + 4, e + 4 + len), {
      status,
      headers: {
        "content-type": "application/json",
        "x-app-url": "http://127.0.0.1:" + backends[i],
      },
    });
  }
}
const port = Number(Deno.args[0] ?? 19092);
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
  const head =
    `${req.method} ${u.pathname}${u.search} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`;
  return await roundTrip(i, head, body);
});
