/**
 * Sticky sessions by cookie, end to end: real backends on port 0 (Deno.serve and node:http
 * with keep-alive), a real balancer. The first answer sets a signed cookie that names its
 * backend without revealing it; a client that sends it back stays there under round robin;
 * a forged one counts for nothing; when its backend fails or is out, the request goes where
 * the policy says and the answer replaces the cookie. Over TLS the cookie is Secure.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import type { RequestRecord } from "../balancer/balancer.ts";
import { startBalancer } from "../balancer/server.ts";
import { cookieToken } from "../balancer/sticky_cookie.ts";
import { FakeClock } from "./_fake_clock.ts";
import { serve, type TestServer } from "./_helpers.ts";
import { startNodeBackend } from "./_node_backend.ts";
import { withPki } from "./_pki.ts";
import { connect, wsBackend } from "./_websocket.ts";

const STICKY = { sticky: { cookie: "rb" } } as const;

/** GET `url` with `cookie` (if any): the backend that answered and the Set-Cookie fields. */
async function get(url: string, cookie?: string, client?: Deno.HttpClient) {
  const response = await fetch(url, {
    headers: cookie === undefined ? {} : { cookie },
    ...(client ? { client } : {}),
  });
  await response.body?.cancel();
  return {
    status: response.status,
    appUrl: response.headers.get("x-app-url"),
    setCookies: response.headers.getSetCookie(),
  };
}

/** The `name=value` part of a Set-Cookie field. */
function pair(setCookie: string): string {
  return setCookie.split(";")[0];
}

/** Backends as the balancer takes them. */
function configs(apps: readonly { url: string }[]) {
  return apps.map((app) => ({ url: app.url, weight: 1 }));
}

async function withApps(count: number, test: (apps: TestServer[]) => Promise<void>) {
  const apps = Array.from({ length: count }, (_, i) => serve(() => Response.json({ app: i })));
  try {
    await test(apps);
  } finally {
    await Promise.all(apps.map((app) => app.shutdown()));
  }
}

Deno.test("the first answer sets a signed cookie: Path=/, HttpOnly, SameSite=Lax, not Secure on plain HTTP, and no part of the backend's URL in it", async () => {
  await withApps(3, async (apps) => {
    const balancer = startBalancer({ port: 0, backends: configs(apps), options: STICKY });
    try {
      const first = await get(balancer.url);
      assert.equal(first.status, 200);
      assert.equal(first.setCookies.length, 1, JSON.stringify(first.setCookies));
      const [cookie] = first.setCookies;
      assert.match(cookie, /^rb=[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax$/);
      const value = pair(cookie).slice("rb=".length);
      const url = new URL(first.appUrl!);
      for (const part of [url.href, url.host, url.hostname, url.port, btoa(url.host)]) {
        assert.ok(!value.includes(part), `${value} contains ${part}`);
      }
    } finally {
      await balancer.shutdown();
    }
  });
});

Deno.test("a client that sends its cookie back reaches the same node:http backend 10 times in a row under round robin, and gets no new cookie", async () => {
  const nodes = await Promise.all([0, 1, 2].map(() => startNodeBackend()));
  const balancer = startBalancer({ port: 0, backends: configs(nodes), options: STICKY });
  try {
    const first = await get(balancer.url);
    const cookie = pair(first.setCookies[0]);
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await get(balancer.url, `theme=dark; ${cookie}`));
    assert.deepEqual(answers.map((a) => a.appUrl), Array(10).fill(first.appUrl));
    assert.deepEqual(answers.flatMap((a) => a.setCookies), []);
    // Without the cookie, round robin goes on: the three backends in turn.
    const plain = [];
    for (let i = 0; i < 3; i++) plain.push((await get(balancer.url)).appUrl);
    assert.equal(new Set(plain).size, 3, plain.join(" "));
  } finally {
    await balancer.shutdown();
    await Promise.all(nodes.map((node) => node.close()));
  }
});

Deno.test("a forged, garbled or foreign cookie counts as none: the policy picks and the answer sets a real cookie", async () => {
  await withApps(3, async (apps) => {
    const balancer = startBalancer({ port: 0, backends: configs(apps), options: STICKY });
    try {
      // A token made with another secret for a real backend: well-formed, not ours.
      const foreign = cookieToken("not-the-balancer-secret", apps[0].url);
      const garbled = ["rb=", "rb=AAAAAAAAAAAAAAAAAAAAAA", `rb=${foreign}`, "rb=%00;;", "xrb=1"];
      const seen = new Set<string>();
      for (const cookie of garbled) {
        const answer = await get(balancer.url, cookie);
        assert.equal(answer.status, 200, cookie);
        assert.equal(answer.setCookies.length, 1, `${cookie}: ${answer.setCookies}`);
        seen.add(answer.appUrl!);
        // The cookie set names the backend that answered: sending it back lands there.
        const again = await get(balancer.url, pair(answer.setCookies[0]));
        assert.equal(again.appUrl, answer.appUrl, cookie);
      }
      assert.equal(seen.size, 3, "round robin went on across the forged cookies");
    } finally {
      await balancer.shutdown();
    }
  });
});

Deno.test("when its backend fails, the request is served by another, the cookie is replaced and the client stays on the new backend; after the downtime the old cookie works again", async () => {
  const clock = new FakeClock();
  let failing = false;
  const sick = serve(() => failing ? new Response("down", { status: 500 }) : Response.json({}));
  await withApps(2, async (others) => {
    const apps = [sick, ...others];
    const balancer = startBalancer({
      port: 0,
      backends: configs(apps),
      options: { ...STICKY, retryDowntimeMs: 10_000 },
      clock: clock.now,
    });
    try {
      const first = await get(balancer.url); // round robin starts at the first: `sick`
      assert.equal(first.appUrl, sick.url);
      const old = pair(first.setCookies[0]);

      failing = true;
      const fallback = await get(balancer.url, old);
      assert.equal(fallback.status, 200);
      assert.notEqual(fallback.appUrl, sick.url);
      assert.equal(fallback.setCookies.length, 1, "the answer replaces the cookie");
      const replaced = pair(fallback.setCookies[0]);
      assert.notEqual(replaced, old);
      for (let i = 0; i < 5; i++) {
        const next = await get(balancer.url, replaced);
        assert.equal(next.appUrl, fallback.appUrl);
        assert.deepEqual(next.setCookies, []);
      }
      // The old cookie while its backend is ejected: the policy again, a cookie again.
      const meanwhile = await get(balancer.url, old);
      assert.notEqual(meanwhile.appUrl, sick.url);
      assert.equal(meanwhile.setCookies.length, 1);

      failing = false;
      clock.advance(10_001);
      const back = await get(balancer.url, old);
      assert.equal(back.appUrl, sick.url);
      assert.deepEqual(back.setCookies, []);
    } finally {
      await balancer.shutdown();
      await sick.shutdown();
    }
  });
});

Deno.test("a cookie naming a backend an operator disabled goes where the policy says, with a new cookie; answers the balancer makes up set none", async () => {
  await withApps(2, async (apps) => {
    const balancer = startBalancer({ port: 0, backends: configs(apps), options: STICKY });
    try {
      const first = await get(balancer.url);
      const cookie = pair(first.setCookies[0]);
      const backend = balancer.balancer.backends.find((b) => b.url === first.appUrl)!;
      backend.disable({ source: "admin", detail: "maintenance", atMs: Date.now() });
      const moved = await get(balancer.url, cookie);
      assert.notEqual(moved.appUrl, first.appUrl);
      assert.equal(moved.setCookies.length, 1);

      for (const b of balancer.balancer.backends) {
        b.disable({ source: "admin", detail: "maintenance", atMs: Date.now() });
      }
      const none = await get(balancer.url, cookie);
      assert.equal(none.status, 503);
      assert.deepEqual(none.setCookies, []);
    } finally {
      await balancer.shutdown();
    }
  });
});

Deno.test("over TLS the cookie is also Secure, and an HTTP/2 client (node:http2) with several cookies stays on its backend", async () => {
  await withPki(async (pki) => {
    await withApps(3, async (apps) => {
      const tls = { cert: pki.cert, key: pki.key };
      const balancer = startBalancer({ port: 0, backends: configs(apps), options: STICKY, tls });
      const client = Deno.createHttpClient({ caCerts: [pki.ca] });
      try {
        const first = await get(balancer.url, undefined, client);
        assert.match(
          first.setCookies[0],
          /^rb=[\w-]{22}; Path=\/; HttpOnly; SameSite=Lax; Secure$/,
        );
        const cookie = pair(first.setCookies[0]);
        for (let i = 0; i < 3; i++) {
          assert.equal((await get(balancer.url, cookie, client)).appUrl, first.appUrl);
        }
        for (let i = 0; i < 3; i++) {
          const h2 = await h2Get(balancer.url, pki.ca, ["theme=dark", cookie, "lang=en"]);
          assert.equal(h2.alpn, "h2");
          assert.equal(h2.headers["x-app-url"], first.appUrl);
          assert.equal(h2.headers["set-cookie"], undefined);
        }
      } finally {
        client.close();
        await balancer.shutdown();
      }
    });
  });
});

/** One GET over HTTP/2 (node:http2) with these cookies. */
async function h2Get(origin: string, ca: string, cookies: string[]) {
  const session = http2.connect(origin, { ca });
  try {
    return await new Promise<{ headers: http2.IncomingHttpHeaders; alpn: unknown }>(
      (resolve, reject) => {
        session.on("error", reject);
        const request = session.request({ ":path": "/", cookie: cookies });
        let headers: http2.IncomingHttpHeaders = {};
        request.on("response", (h) => headers = h);
        request.on("data", () => {});
        request.on("end", () => resolve({ headers, alpn: session.alpnProtocol }));
        request.on("error", reject);
        request.end();
      },
    );
  } finally {
    await new Promise<void>((resolve) => session.close(() => resolve()));
  }
}

Deno.test("with picks explained (admin API on), a sticky first try says so; a fallback says what the policy did", async () => {
  await withApps(2, async (apps) => {
    const records: RequestRecord[] = [];
    const balancer = startBalancer({
      port: 0,
      backends: configs(apps),
      options: STICKY,
      explainPicks: true,
      onRequest: (record) => records.push(record),
    });
    try {
      const first = await get(balancer.url);
      await get(balancer.url, pair(first.setCookies[0]));
      const backend = balancer.balancer.backends.find((b) => b.url === first.appUrl)!;
      backend.disable({ source: "admin", detail: "maintenance", atMs: Date.now() });
      await get(balancer.url, pair(first.setCookies[0]));
      assert.deepEqual(records.map((r) => r.tries[0].why?.reason), [
        "next in turn",
        "sticky (cookie rb)",
        "next in turn",
      ]);
    } finally {
      await balancer.shutdown();
    }
  });
});

Deno.test("a WebSocket upgrade with the cookie goes to the backend it names", async () => {
  const apps = [0, 1, 2].map(() => wsBackend());
  const secret = "a-known-secret-for-this-test";
  const balancer = startBalancer({
    port: 0,
    backends: configs(apps),
    options: { ...STICKY, stickySecret: secret },
  });
  try {
    const cookie = `rb=${cookieToken(secret, apps[2].url)}`;
    for (let i = 0; i < 3; i++) {
      const ws = await connect(balancer.url.replace("http", "ws"), [], { cookie });
      ws.socket.close();
      await ws.closed;
    }
    assert.deepEqual(apps.map((app) => app.seen.length), [0, 0, 3]);
  } finally {
    await balancer.shutdown();
    await Promise.all(apps.map((app) => app.shutdown()));
  }
});
