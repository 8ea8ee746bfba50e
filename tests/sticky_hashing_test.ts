/**
 * Sticky sessions by rendezvous hashing (`sticky: { header }` and `{ clientAddress }`): the
 * properties that make it worth having, measured over 10,000 keys (adding a backend to three
 * moves about a quarter of the keys, all to it; losing one moves only its own keys; weights
 * are honoured), then end to end with a real balancer.
 */
import assert from "node:assert/strict";
import type { Backend } from "../backends/backend.ts";
import { clientAddress, Rendezvous } from "../balancer/rendezvous.ts";
import { startBalancer } from "../balancer/server.ts";
import type { StickyRequest } from "../balancer/sticky.ts";
import { backends, serve, type TestServer } from "./_helpers.ts";

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
const NOW = 0;

/** Which backend each key goes to. */
function assign(list: readonly Backend[]): (Backend | undefined)[] {
  const hashing = new Rendezvous(list);
  return KEYS.map((key) => hashing.pick(key, NOW));
}

function disable(backend: Backend): void {
  backend.disable({ source: "admin", detail: "maintenance", atMs: NOW });
}

Deno.test("adding a 4th backend to 3 moves about a quarter of the keys, every one of them to the new backend", () => {
  const [a, b, c, d] = backends(4);
  const before = assign([a, b, c]);
  const after = assign([a, b, c, d]);
  let moved = 0;
  for (let i = 0; i < KEYS.length; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    assert.equal(after[i], d, `${KEYS[i]} moved to ${after[i]?.url}, not to the new backend`);
  }
  const share = moved / KEYS.length;
  console.log(`adding a 4th backend to 3 moved ${moved} of ${KEYS.length} keys`);
  assert.ok(share > 0.15 && share < 0.35, `moved ${share}`);
});

Deno.test("removing a backend, or losing it to ill health, moves only its own keys, spread over the others; they come back with it", () => {
  const [a, b, c, d] = backends(4);
  const before = assign([a, b, c, d]);
  const removed = assign([a, c, d]);
  disable(b);
  const unavailable = assign([a, b, c, d]);
  for (const after of [removed, unavailable]) {
    const landed = new Set<Backend>();
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === b) landed.add(after[i]!);
      else assert.equal(after[i], before[i], `${KEYS[i]} moved though its backend stayed`);
    }
    assert.deepEqual([...landed].map((x) => x.url).sort(), [a, c, d].map((x) => x.url));
  }
  b.enable({ source: "admin", detail: "back", atMs: NOW });
  assert.deepEqual(assign([a, b, c, d]), before);
});

Deno.test("weights are honoured: weights 1, 2, 1 take about a quarter, half and a quarter of the keys", () => {
  const list = backends(3, 10_000, [1, 2, 1]);
  const counts = new Map<Backend | undefined, number>();
  for (const backend of assign(list)) counts.set(backend, (counts.get(backend) ?? 0) + 1);
  const shares = list.map((backend) => (counts.get(backend) ?? 0) / KEYS.length);
  console.log(`weights 1, 2, 1 took shares ${shares.join(", ")} of ${KEYS.length} keys`);
  for (const [i, expected] of [0.25, 0.5, 0.25].entries()) {
    assert.ok(Math.abs(shares[i] - expected) < 0.03, `shares ${shares}`);
  }
});

Deno.test("with every backend out, hashing names none (the policy and the panic setting decide)", () => {
  const list = backends(2);
  list.forEach(disable);
  assert.equal(new Rendezvous(list).pick("user-1", NOW), undefined);
});

Deno.test("the client's address is the peer, or behind trusted proxies the nearest untrusted x-forwarded-for hop", () => {
  const trusted = new Set(["10.0.0.1", "10.0.0.2"]);
  const request = (peer: string, forwardedFor?: string): StickyRequest => ({
    request: new Request("http://x/", {
      headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor },
    }),
    peer,
    trusted: trusted.has(peer),
  });
  const cases: [StickyRequest, string][] = [
    [request("192.0.2.7"), "192.0.2.7"],
    [request("192.0.2.7", "203.0.113.9"), "192.0.2.7"], // an untrusted peer's claim
    [request("10.0.0.1"), "10.0.0.1"],
    [request("10.0.0.1", "203.0.113.9"), "203.0.113.9"],
    [request("10.0.0.1", "198.51.100.1, 203.0.113.9, 10.0.0.2"), "203.0.113.9"],
    [request("10.0.0.1", " 10.0.0.2 ,10.0.0.1"), "10.0.0.2"],
    [request("10.0.0.1", ""), "10.0.0.1"],
  ];
  for (const [given, expected] of cases) {
    const label = `${given.peer} ${given.request.headers.get("x-forwarded-for")}`;
    assert.equal(clientAddress(given, trusted), expected, label);
  }
});

async function withApps(count: number, test: (apps: TestServer[]) => Promise<void>) {
  const apps = Array.from({ length: count }, () => serve(() => new Response("ok")));
  try {
    await test(apps);
  } finally {
    await Promise.all(apps.map((app) => app.shutdown()));
  }
}

async function appUrlOf(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  await response.body?.cancel();
  assert.equal(response.headers.get("set-cookie"), null, "hashing sets no cookie");
  return response.headers.get("x-app-url");
}

Deno.test("sticky by header: the same value reaches the same backend every time, values spread, and no header means round robin", async () => {
  await withApps(3, async (apps) => {
    const balancer = startBalancer({
      port: 0,
      backends: apps.map((app) => ({ url: app.url, weight: 1 })),
      options: { sticky: { header: "x-user" } },
    });
    try {
      const byUser = new Map<string, string | null>();
      for (let round = 0; round < 3; round++) {
        for (let user = 0; user < 20; user++) {
          const appUrl = await appUrlOf(balancer.url, { "X-User": `user-${user}` });
          if (round === 0) byUser.set(`user-${user}`, appUrl);
          else assert.equal(appUrl, byUser.get(`user-${user}`), `user-${user}, round ${round}`);
        }
      }
      assert.equal(new Set(byUser.values()).size, 3, "20 users spread over the 3 backends");
      const plain = [];
      for (let i = 0; i < 3; i++) plain.push(await appUrlOf(balancer.url));
      assert.equal(new Set(plain).size, 3, `round robin without the header: ${plain}`);
    } finally {
      await balancer.shutdown();
    }
  });
});

Deno.test("sticky by client address: one client stays on one backend; behind a trusted proxy, the forwarded clients spread", async () => {
  await withApps(3, async (apps) => {
    const balancer = startBalancer({
      port: 0,
      backends: apps.map((app) => ({ url: app.url, weight: 1 })),
      options: { sticky: { clientAddress: true } },
    });
    try {
      const seen = new Set<string | null>();
      for (let i = 0; i < 6; i++) {
        seen.add(await appUrlOf(balancer.url, { "x-forwarded-for": `198.51.100.${i}` }));
      }
      assert.equal(seen.size, 1, "x-forwarded-for from an untrusted peer is ignored");
    } finally {
      await balancer.shutdown();
    }
    const trusting = startBalancer({
      port: 0,
      backends: apps.map((app) => ({ url: app.url, weight: 1 })),
      options: { sticky: { clientAddress: true }, trustedProxies: ["127.0.0.1"] },
    });
    try {
      const byClient = new Map<string, string | null>();
      for (let i = 0; i < 20; i++) {
        const client = `198.51.100.${i}`;
        byClient.set(client, await appUrlOf(trusting.url, { "x-forwarded-for": client }));
        assert.equal(
          await appUrlOf(trusting.url, { "x-forwarded-for": client }),
          byClient.get(client),
        );
      }
      assert.equal(new Set(byClient.values()).size, 3, "20 clients spread over the 3 backends");
    } finally {
      await trusting.shutdown();
    }
  });
});
