// Memory floor: Deno.serve answering every request with a fixed small JSON body, no upstream.
// What any Deno HTTP server costs: the runtime and Deno.serve's own state per connection
// (the idle-1000 scenario). Not a proxy: the bench runs it in the idle scenarios only.
// usage: deno run --allow-net static_floor.ts PORT
const body = JSON.stringify({ ok: true, floor: "static" });
const headers = { "content-type": "application/json" };
Deno.serve(
  {
    hostname: "127.0.0.1",
    port: Number(Deno.args[0]),
    onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`),
  },
  () => new Response(body, { headers }),
);
