/**
 * DNS discovery as things change: SRV failover between priorities, names added and removed
 * by reloads, addresses that appear while active health is on, operator actions on a
 * discovered address, and the command line. A DNS server on loopback (`_dns_server.ts`),
 * backends on 127.0.0.2-4.
 */

import assert from "node:assert/strict";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { dnsResolver } from "../backends/discovery.ts";
import { FakeClock } from "./_fake_clock.ts";
import { eventually, waitForLine } from "./_helpers.ts";
import { startDns } from "./_dns_server.ts";
import { withInstance } from "./_instance.ts";
import { roundaboutCommand } from "./_cli.ts";

/** Servers answering 200 on each of `hosts` at one shared port. */
function appsOnOnePort(hosts: string[]) {
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  for (const hostname of hosts) {
    const port = servers[0]?.addr.port ?? 0;
    servers.push(Deno.serve({ hostname, port, onListen() {} }, () => new Response("ok")));
  }
  const port = servers[0].addr.port;
  return {
    port,
    at: (host: string) => `http://${host}:${port}`,
    shutdown: () => Promise.all(servers.map((s) => s.shutdown())),
  };
}

/** The backends that answered `count` requests to `url`, with how many each. */
async function spread(url: string, count: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const response = await fetch(url);
    await response.body?.cancel();
    assert.equal(response.status, 200);
    const backend = response.headers.get("x-app-url")!;
    counts[backend] = (counts[backend] ?? 0) + 1;
  }
  return counts;
}

function backendOf(running: RunningBalancer, url: string) {
  const found = running.balancer.backends.find((b) => b.url === url);
  assert.ok(found, `${url} in force`);
  return found;
}

Deno.test("SRV failover: the next priority serves only while every target of the lower one is out", async () => {
  const dns = await startDns();
  const apps = appsOnOnePort(["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
  dns.table.set("_api._tcp.test", {
    srv: [
      { priority: 10, weight: 1, port: apps.port, target: "127.0.0.2" },
      { priority: 20, weight: 1, port: apps.port, target: "127.0.0.3" },
      { priority: 30, weight: 1, port: apps.port, target: "127.0.0.4" },
    ],
  });
  const clock = new FakeClock();
  const running = startBalancer({
    port: 0,
    backends: [{ url: "srv+http://_api._tcp.test", weight: 1 }],
    resolver: dnsResolver(dns.address),
    clock: clock.now,
    scheduler: clock,
  });
  try {
    await running.dns!.first;
    assert.deepEqual(await spread(running.url, 6), { [apps.at("127.0.0.2")]: 6 });
    const first = backendOf(running, apps.at("127.0.0.2"));
    first.disable({ source: "admin", detail: "maintenance", atMs: clock.now() });
    assert.deepEqual(await spread(running.url, 6), { [apps.at("127.0.0.3")]: 6 });
    first.enable({ source: "admin", detail: "back", atMs: clock.now() });
    assert.deepEqual(await spread(running.url, 6), { [apps.at("127.0.0.2")]: 6 });
  } finally {
    await running.shutdown();
    await apps.shutdown();
    await dns.close();
  }
});

Deno.test("a reload that adds a DNS name resolves it at once and traffic reaches its addresses", async () => {
  const dns = await startDns();
  const apps = appsOnOnePort(["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
  dns.table.set("api.test", { a: ["127.0.0.3", "127.0.0.4"] });
  const clock = new FakeClock();
  const running = startBalancer({
    port: 0,
    backends: [{ url: apps.at("127.0.0.2"), weight: 1 }],
    resolver: dnsResolver(dns.address),
    clock: clock.now,
    scheduler: clock,
  });
  try {
    assert.equal(running.dns, undefined);
    await running.reconfigure({
      backends: [{ url: `http://api.test:${apps.port}`, weight: 1 }],
      options: running.balancer.options,
    });
    // No clock advance: the new name is resolved by the reload itself.
    await running.dns!.first;
    await eventually(() => running.balancer.backends.length === 2, "the name's two addresses");
    const counts = await spread(running.url, 8);
    assert.deepEqual(counts, { [apps.at("127.0.0.3")]: 4, [apps.at("127.0.0.4")]: 4 });
  } finally {
    await running.shutdown();
    await apps.shutdown();
    await dns.close();
  }
});

Deno.test("a reload that removes every name stops the refresh timer; no more lookups", async () => {
  const dns = await startDns();
  const apps = appsOnOnePort(["127.0.0.2"]);
  dns.table.set("api.test", { a: ["127.0.0.2"] });
  const clock = new FakeClock();
  const running = startBalancer({
    port: 0,
    backends: [{ url: `http://api.test:${apps.port}`, weight: 1 }],
    resolver: dnsResolver(dns.address),
    clock: clock.now,
    scheduler: clock,
  });
  try {
    await running.dns!.first;
    assert.equal(clock.pending, 1, "the refresh timer");
    await running.reconfigure({
      backends: [{ url: apps.at("127.0.0.2"), weight: 1 }],
      options: running.balancer.options,
    });
    assert.equal(clock.pending, 0);
    const queries = dns.queries();
    clock.advance(60_000);
    assert.equal(dns.queries(), queries);
    assert.deepEqual(running.dns!.discovery.status(), [], "the removed name is forgotten");
    assert.deepEqual(await spread(running.url, 2), { [apps.at("127.0.0.2")]: 2 });
  } finally {
    await running.shutdown();
    await apps.shutdown();
    await dns.close();
  }
});

Deno.test("with active health on, an address that appears later is out until rise probes pass; the first ones serve at once", async () => {
  const dns = await startDns();
  const apps = appsOnOnePort(["127.0.0.2", "127.0.0.3"]);
  dns.table.set("api.test", { a: ["127.0.0.2"] });
  const clock = new FakeClock();
  const running = startBalancer({
    port: 0,
    backends: [{ url: `http://api.test:${apps.port}`, weight: 1 }],
    options: {
      active: {
        path: "/health",
        intervalMs: 60_000,
        timeoutMs: 1_000,
        expectStatusMin: 200,
        expectStatusMax: 399,
        rise: 2,
        fall: 3,
      },
    },
    probe: () => Promise.resolve(200),
    resolver: dnsResolver(dns.address),
    clock: clock.now,
    scheduler: clock,
  });
  try {
    await running.dns!.first;
    await eventually(() => running.balancer.backends.length === 1, "the first address");
    const [first] = running.balancer.backends;
    assert.equal(first.available(clock.now()), true, "the first answer serves before any probe");
    dns.table.set("api.test", { a: ["127.0.0.2", "127.0.0.3"] });
    clock.advance(10_000);
    await eventually(() => running.balancer.backends.length === 2, "the new address");
    const joined = backendOf(running, apps.at("127.0.0.3"));
    assert.equal(joined.health.state(clock.now()), "failed");
    assert.deepEqual(await spread(running.url, 4), { [apps.at("127.0.0.2")]: 4 });
    await running.prober!.runOnce();
    assert.equal(joined.available(clock.now()), false, "one passing probe of two");
    await running.prober!.runOnce();
    assert.equal(joined.available(clock.now()), true);
    assert.equal(Object.keys(await spread(running.url, 4)).length, 2);
  } finally {
    await running.shutdown();
    await apps.shutdown();
    await dns.close();
  }
});

Deno.test("the admin API's disable, enable and drain work on a discovered address and survive a refresh that keeps it", async () => {
  const dns = await startDns();
  const apps = appsOnOnePort(["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
  dns.table.set("api.test", { a: ["127.0.0.2", "127.0.0.3"] });
  const config = {
    backends: [`http://api.test:${apps.port}`],
    dns: { refresh: "100ms", resolver: dns.address },
    admin: { port: 0 },
    accessLog: "off",
  };
  try {
    await withInstance(config, async ({ instance, admin }) => {
      const running = instance.running;
      await eventually(() => running.balancer.backends.length === 2, "both addresses");
      const id = `127.0.0.2:${apps.port}`;
      const post = async (action: string) => {
        const response = await fetch(`${admin}/backends/${id}/${action}`, { method: "POST" });
        await response.body?.cancel();
        assert.equal(response.status, 200, action);
      };
      const state = () => backendOf(running, apps.at("127.0.0.2")).health.state(Date.now());
      await post("disable");
      // A refresh that changes the set (adds .4) and keeps .2: its operator state stays.
      dns.table.set("api.test", { a: ["127.0.0.2", "127.0.0.3", "127.0.0.4"] });
      await eventually(() => running.balancer.backends.length === 3, "the added address");
      assert.equal(state(), "disabled");
      const counts = await spread(running.url, 6);
      assert.equal(counts[apps.at("127.0.0.2")], undefined, JSON.stringify(counts));
      await post("enable");
      assert.notEqual(state(), "disabled");
      await post("drain");
      dns.table.set("api.test", { a: ["127.0.0.2", "127.0.0.3"] });
      await eventually(() => running.balancer.backends.length === 2, "the removed address");
      assert.equal(state(), "draining");
    });
  } finally {
    await apps.shutdown();
    await dns.close();
  }
});

Deno.test("balance --backend http://NAME:PORT --resolver IP:PORT, run as a process, serves traffic", async () => {
  const dns = await startDns();
  const apps = appsOnOnePort(["127.0.0.2"]);
  dns.table.set("api.test", { a: ["127.0.0.2"] });
  const child = roundaboutCommand([
    "balance",
    "--backend",
    `http://api.test:${apps.port}`,
    "--resolver",
    dns.address,
    "--port",
    "0",
  ], { stdout: "null", stderr: "piped" }).spawn();
  const lines: string[] = [];
  try {
    const { line, rest } = await waitForLine(child.stderr, /listening on http/, lines);
    const url = /listening on (http:\/\/[^,]+),/.exec(line)![1];
    // Until the first answer the name stands for no backend (503): ask until it has one.
    let answer = { status: 0, backend: "" };
    const deadline = performance.now() + 10_000;
    while (answer.status !== 200 && performance.now() < deadline) {
      const response = await fetch(url);
      await response.body?.cancel();
      answer = { status: response.status, backend: response.headers.get("x-app-url") ?? "" };
      if (answer.status !== 200) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(answer, { status: 200, backend: apps.at("127.0.0.2") });
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0, lines.join("\n"));
    await rest;
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await apps.shutdown();
    await dns.close();
  }
});
