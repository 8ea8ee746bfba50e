/**
 * DNS discovery without DNS: the names' expansion, the last good set on failure, SRV tiers
 * and weights, with an injected resolver.
 */

import assert from "node:assert/strict";
import {
  Discovery,
  isDiscovered,
  parseNameServer,
  type Resolver,
  type SrvRecord,
} from "../backends/discovery.ts";
import { normaliseBackendUrl } from "../backends/backend.ts";

/** A resolver answering from tables the test changes; `broken` makes every lookup fail. */
function fakeResolver() {
  const state = {
    addresses: new Map<string, string[]>(),
    srv: new Map<string, SrvRecord[]>(),
    broken: false,
  };
  const resolver: Resolver = {
    addresses: (name) =>
      state.broken
        ? Promise.reject(new Error("connection refused"))
        : Promise.resolve(state.addresses.get(name) ?? []),
    srv: (name) =>
      state.broken
        ? Promise.reject(new Error("connection refused"))
        : Promise.resolve(state.srv.get(name) ?? []),
  };
  return { state, resolver };
}

Deno.test("IP literals and localhost are not resolved; DNS names and srv+ URLs are", () => {
  assert.equal(isDiscovered("http://127.0.0.1:8001"), false);
  assert.equal(isDiscovered("http://[::1]:8001"), false);
  assert.equal(isDiscovered("http://localhost:8001"), false);
  assert.equal(isDiscovered("http://api.internal:8080"), true);
  assert.equal(isDiscovered("srv+http://_api._tcp.internal"), true);
});

Deno.test("a srv+http URL is a valid backend URL without a port, and refused with one", () => {
  assert.deepEqual(normaliseBackendUrl("srv+http://_api._tcp.internal/"), {
    url: "srv+http://_api._tcp.internal",
  });
  assert.match(
    (normaliseBackendUrl("srv+http://_api._tcp.internal:80") as { problem: string }).problem,
    /must not have a port/,
  );
});

Deno.test("a resolver address is IP:PORT, port 53 when left out; anything else is refused", () => {
  assert.deepEqual(parseNameServer("10.0.0.2:5353"), { ipAddr: "10.0.0.2", port: 5353 });
  assert.deepEqual(parseNameServer("10.0.0.2"), { ipAddr: "10.0.0.2", port: 53 });
  assert.deepEqual(parseNameServer("[::1]:53"), { ipAddr: "::1", port: 53 });
  assert.equal(parseNameServer("dns.example:53"), undefined);
  assert.equal(parseNameServer("10.0.0.2:99999"), undefined);
});

Deno.test("a name stands for all its addresses, with its weight, path and where it came from", async () => {
  const { state, resolver } = fakeResolver();
  state.addresses.set("api.internal", ["127.0.0.3", "::1", "127.0.0.2"]);
  const discovery = new Discovery(resolver);
  const configs = [
    { url: "http://127.0.0.1:9000", weight: 1 },
    { url: "http://api.internal:8080/v1", weight: 2 },
  ];
  assert.deepEqual(discovery.expand(configs).map((b) => b.url), ["http://127.0.0.1:9000"]);
  const result = await discovery.refresh(configs, 1_000);
  assert.equal(result.changed, true);
  assert.deepEqual(discovery.expand(configs), [
    { url: "http://127.0.0.1:9000", weight: 1 },
    { url: "http://127.0.0.2:8080/v1", weight: 2, from: "http://api.internal:8080/v1" },
    { url: "http://127.0.0.3:8080/v1", weight: 2, from: "http://api.internal:8080/v1" },
    { url: "http://[::1]:8080/v1", weight: 2, from: "http://api.internal:8080/v1" },
  ]);
  assert.match(result.lines[0], /^dns http:\/\/api.internal:8080\/v1: added http:\/\/127.0.0.2/);
});

Deno.test("an unchanged answer changes nothing and says nothing; a changed one says what changed", async () => {
  const { state, resolver } = fakeResolver();
  const configs = [{ url: "http://api.internal:8080", weight: 1 }];
  state.addresses.set("api.internal", ["127.0.0.2", "127.0.0.3"]);
  const discovery = new Discovery(resolver);
  await discovery.refresh(configs, 0);
  assert.deepEqual(await discovery.refresh(configs, 1), { lines: [], changed: false });
  state.addresses.set("api.internal", ["127.0.0.3", "127.0.0.4"]);
  const result = await discovery.refresh(configs, 2);
  assert.deepEqual(result.lines, [
    "dns http://api.internal:8080: added http://127.0.0.4:8080; " +
    "removed http://127.0.0.2:8080 (draining)",
  ]);
});

Deno.test("a failing or empty answer keeps the last good set, counts a failure and says so", async () => {
  const { state, resolver } = fakeResolver();
  const configs = [{ url: "http://api.internal:8080", weight: 1 }];
  state.addresses.set("api.internal", ["127.0.0.2"]);
  const discovery = new Discovery(resolver);
  await discovery.refresh(configs, 0);
  state.broken = true;
  const failed = await discovery.refresh(configs, 10);
  assert.equal(failed.changed, false);
  assert.match(failed.lines[0], /connection refused; keeping the last good set \(http:\/\/127/);
  state.broken = false;
  state.addresses.set("api.internal", []);
  const empty = await discovery.refresh(configs, 20);
  assert.match(empty.lines[0], /no addresses in the answer; keeping the last good set/);
  assert.deepEqual(discovery.expand(configs).map((b) => b.url), ["http://127.0.0.2:8080"]);
  assert.equal(discovery.failures, 2);
  const [name] = discovery.status();
  assert.equal(name.error, "no addresses in the answer");
  assert.equal(name.resolvedAtMs, 0);
});

Deno.test("SRV: every target with its port, weight and priority, lowest priority first", async () => {
  const { state, resolver } = fakeResolver();
  state.srv.set("_api._tcp.internal", [
    { priority: 10, weight: 3, port: 8001, target: "a.internal." },
    { priority: 10, weight: 1, port: 8002, target: "b.internal." },
    { priority: 20, weight: 5, port: 8003, target: "c.internal." },
  ]);
  state.addresses.set("a.internal", ["127.0.0.2"]);
  state.addresses.set("b.internal", ["127.0.0.3"]);
  state.addresses.set("c.internal", ["127.0.0.4"]);
  const discovery = new Discovery(resolver);
  const configs = [{ url: "srv+http://_api._tcp.internal", weight: 1 }];
  await discovery.refresh(configs, 0);
  const from = "srv+http://_api._tcp.internal";
  assert.deepEqual(discovery.expand(configs), [
    { url: "http://127.0.0.2:8001", weight: 3, from, priority: 10 },
    { url: "http://127.0.0.3:8002", weight: 1, from, priority: 10 },
    { url: "http://127.0.0.4:8003", weight: 5, from, priority: 20 },
  ]);
});

Deno.test("two names with a shared address give one backend; a name no longer configured is forgotten", async () => {
  const { state, resolver } = fakeResolver();
  state.addresses.set("a.internal", ["127.0.0.2"]);
  state.addresses.set("b.internal", ["127.0.0.2", "127.0.0.3"]);
  const discovery = new Discovery(resolver);
  const both = [
    { url: "http://a.internal:8080", weight: 1 },
    { url: "http://b.internal:8080", weight: 1 },
  ];
  await discovery.refresh(both, 0);
  assert.deepEqual(discovery.expand(both).map((b) => b.url), [
    "http://127.0.0.2:8080",
    "http://127.0.0.3:8080",
  ]);
  await discovery.refresh(both.slice(1), 1);
  assert.deepEqual(discovery.status().map((n) => n.url), ["http://b.internal:8080"]);
});
