/**
 * DNS discovery end to end: a test DNS server on loopback (`_dns_server.ts`), backends on
 * 127.0.0.2-4 sharing one port, the balancer asking that server, refreshes on a fake clock.
 */

import assert from "node:assert/strict";
import { startBalancer } from "../balancer/server.ts";
import { dnsResolver } from "../backends/discovery.ts";
import { statusDocument } from "../admin/status.ts";
import { Metrics } from "../admin/metrics.ts";
import { FakeClock } from "./_fake_clock.ts";
import { eventually } from "./_helpers.ts";
import { startDns } from "./_dns_server.ts";

/** Servers answering 200 on each of `hosts` at one shared port (the first one's). */
function backendsOnOnePort(hosts: string[], port = 0) {
  const servers: Deno.HttpServer<Deno.NetAddr>[] = [];
  for (const hostname of hosts) {
    const server = Deno.serve(
      { hostname, port: servers[0]?.addr.port ?? port, onListen() {} },
      () => new Response("ok"),
    );
    servers.push(server);
  }
  return {
    port: servers[0].addr.port,
    shutdown: () => Promise.all(servers.map((s) => s.shutdown())),
  };
}

/** Requests from `concurrency` loops until stopped, each labelled with the phase it began in. */
function traffic(url: string, phase: () => string, concurrency = 4) {
  const seen: { phase: string; status: number; backend: string }[] = [];
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      const label = phase();
      const response = await fetch(url, { method: "POST", body: "{}" });
      await response.body?.cancel();
      seen.push({
        phase: label,
        status: response.status,
        backend: response.headers.get("x-app-url")!,
      });
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    seen,
    count: (label: string) => seen.filter((s) => s.phase === label).length,
    stop: () => {
      stopped = true;
      return Promise.all(loops);
    },
  };
}

/** Requests of `phase` by backend. */
function byBackend(seen: { phase: string; backend: string }[], phase: string) {
  const counts: Record<string, number> = {};
  for (const s of seen) if (s.phase === phase) counts[s.backend] = (counts[s.backend] ?? 0) + 1;
  return counts;
}

Deno.test("traffic follows the A records as they change twice, with no failed request", async () => {
  const dns = await startDns();
  const apps = backendsOnOnePort(["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
  const at = (host: string) => `http://${host}:${apps.port}`;
  dns.table.set("api.test", { a: ["127.0.0.2", "127.0.0.3"] });
  const clock = new FakeClock();
  const log: string[] = [];
  const running = startBalancer({
    port: 0,
    backends: [{ url: `http://api.test:${apps.port}`, weight: 1 }],
    options: { dns: { refreshMs: 10_000 } },
    resolver: dnsResolver(dns.address),
    clock: clock.now,
    scheduler: clock,
    log: (line) => log.push(line),
  });
  let phase = "1";
  // Until the first answer the name stands for nothing (503): traffic starts after it.
  await running.dns!.first;
  const load = traffic(running.url, () => phase);
  try {
    const inForce = () => running.balancer.backends.map((b) => b.url).join(" ");
    assert.equal(inForce(), `${at("127.0.0.2")} ${at("127.0.0.3")}`);
    const phases = [["127.0.0.3", "127.0.0.4"], ["127.0.0.2", "127.0.0.4"]];
    for (const [i, hosts] of phases.entries()) {
      await eventually(() => load.count(phase) >= 100, `100 requests in phase ${phase}`, 10_000);
      phase = `${i + 1}→${i + 2}`;
      dns.table.set("api.test", { a: hosts });
      clock.advance(10_000);
      await eventually(() => inForce() === hosts.map(at).join(" "), `phase ${i + 2} in force`);
      phase = String(i + 2);
    }
    await eventually(() => load.count(phase) >= 100, "100 requests in phase 3", 10_000);
    await load.stop();
    const expected: Record<string, string[]> = {
      "1": ["127.0.0.2", "127.0.0.3"],
      "2": phases[0],
      "3": phases[1],
    };
    for (const [label, hosts] of Object.entries(expected)) {
      const counts = byBackend(load.seen, label);
      console.log(`phase ${label} (${hosts.join(", ")}):`, counts);
      assert.deepEqual(Object.keys(counts).sort(), hosts.map(at));
    }
    for (const label of ["1→2", "2→3"]) {
      console.log(`during switch ${label}:`, byBackend(load.seen, label));
    }
    const failed = load.seen.filter((s) => s.status !== 200);
    console.log(`${load.seen.length} requests, ${failed.length} failed`);
    assert.equal(failed.length, 0);
    assert.ok(log.includes(
      `dns http://api.test:${apps.port}: added ${at("127.0.0.4")}; ` +
        `removed ${at("127.0.0.2")} (draining)`,
    ));
  } finally {
    await load.stop();
    await running.shutdown();
    await apps.shutdown();
    await dns.close();
  }
});

Deno.test("a silent resolver keeps the last good set and says so: log, /status, metric", async () => {
  const dns = await startDns();
  const apps = backendsOnOnePort(["127.0.0.2", "127.0.0.3"]);
  dns.table.set("api.test", { a: ["127.0.0.2", "127.0.0.3"] });
  const clock = new FakeClock();
  const log: string[] = [];
  const running = startBalancer({
    port: 0,
    backends: [{ url: `http://api.test:${apps.port}`, weight: 1 }],
    resolver: dnsResolver(dns.address, 200),
    clock: clock.now,
    scheduler: clock,
    log: (line) => log.push(line),
  });
  try {
    await running.dns!.first;
    dns.silent = true;
    clock.advance(10_000);
    await eventually(() => running.dns!.discovery.failures > 0, "a failed resolution");
    const kept = `http://127.0.0.2:${apps.port}, http://127.0.0.3:${apps.port}`;
    assert.ok(
      log.some((line) => line.includes(`keeping the last good set (${kept})`)),
      log.join("\n"),
    );
    for (let i = 0; i < 4; i++) {
      const response = await fetch(running.url);
      await response.body?.cancel();
      assert.equal(response.status, 200);
    }
    const status = statusDocument(running, clock.now());
    assert.equal(status.backends.length, 2);
    assert.equal(status.backends[0].from, `http://api.test:${apps.port}`);
    assert.equal(status.dns?.failures, 1);
    assert.match(status.dns!.names[0].error!, /resolution failed/);
    const text = new Metrics().render(
      running.balancer.backends,
      clock.now(),
      undefined,
      running.dns!.discovery.failures,
    );
    assert.match(text, /^roundabout_dns_failures_total 1$/m);
  } finally {
    await running.shutdown();
    await apps.shutdown();
    await dns.close();
  }
});

Deno.test("SRV records give two targets on their own ports, in the shares of their weights", async () => {
  const dns = await startDns();
  const a = backendsOnOnePort(["127.0.0.2"]);
  const b = backendsOnOnePort(["127.0.0.3"]);
  dns.table.set("_api._tcp.test", {
    srv: [
      { priority: 10, weight: 3, port: a.port, target: "a.test" },
      { priority: 10, weight: 1, port: b.port, target: "b.test" },
      { priority: 20, weight: 9, port: b.port, target: "c.test" },
    ],
  });
  dns.table.set("a.test", { a: ["127.0.0.2"] });
  dns.table.set("b.test", { a: ["127.0.0.3"] });
  dns.table.set("c.test", { a: ["127.0.0.4"] });
  const clock = new FakeClock();
  const running = startBalancer({
    port: 0,
    backends: [{ url: "srv+http://_api._tcp.test", weight: 1 }],
    policy: "weighted-round-robin",
    resolver: dnsResolver(dns.address),
    clock: clock.now,
    scheduler: clock,
  });
  try {
    await running.dns!.first;
    const counts: Record<string, number> = {};
    for (let i = 0; i < 40; i++) {
      const response = await fetch(running.url);
      await response.body?.cancel();
      const backend = response.headers.get("x-app-url")!;
      counts[backend] = (counts[backend] ?? 0) + 1;
    }
    console.log("SRV weights 3 and 1, 40 requests:", counts);
    assert.deepEqual(counts, {
      [`http://127.0.0.2:${a.port}`]: 30,
      [`http://127.0.0.3:${b.port}`]: 10,
    });
  } finally {
    await running.shutdown();
    await a.shutdown();
    await b.shutdown();
    await dns.close();
  }
});

Deno.test("with only IP backends, discovery never starts: no timer, no lookup", async () => {
  const apps = backendsOnOnePort(["127.0.0.2"]);
  const clock = new FakeClock();
  const running = startBalancer({
    port: 0,
    backends: [{ url: `http://127.0.0.2:${apps.port}`, weight: 1 }],
    resolver: {
      addresses: () => Promise.reject(new Error("must not be asked")),
      srv: () => Promise.reject(new Error("must not be asked")),
    },
    clock: clock.now,
    scheduler: clock,
  });
  try {
    assert.equal(running.dns, undefined);
    assert.equal(clock.pending, 0);
  } finally {
    await running.shutdown();
    await apps.shutdown();
  }
});
