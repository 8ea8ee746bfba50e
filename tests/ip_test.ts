import assert from "node:assert/strict";
import { isIP } from "node:net";
import { ipVersion } from "../lib/ip.ts";

// lib/ip.ts replaces node:net's isIP on the start-up path; it must answer the same.
const SAMPLES = [
  "127.0.0.1",
  "0.0.0.0",
  "255.255.255.255",
  "256.1.1.1",
  "1.2.3",
  "1.2.3.4.5",
  "01.2.3.4",
  "1.2.3.04",
  " 1.2.3.4",
  "1.2.3.4 ",
  "::",
  "::1",
  "::ffff:10.0.0.1",
  "fe80::1%eth0",
  "fe80::1%",
  "2001:db8::8a2e:370:7334",
  "2001:0db8:0000:0000:0000:ff00:0042:8329",
  "2001:db8:0:0:0:0:2:1:7",
  "1:2:3:4:5:6:7::",
  "1::2::3",
  "12345::1",
  "[::1]",
  "::1:",
  "g::1",
  "localhost",
  "example.com",
  "",
  "1.2.3.4:80",
  "::ffff:256.0.0.1",
  "1:2:3:4:5:6:1.2.3.4",
];

Deno.test("ipVersion answers as node:net isIP does", () => {
  for (const text of SAMPLES) {
    assert.equal(ipVersion(text), isIP(text), `ipVersion(${JSON.stringify(text)})`);
  }
});

Deno.test("ipVersion tells IPv4 from IPv6 from neither", () => {
  assert.equal(ipVersion("10.0.0.1"), 4);
  assert.equal(ipVersion("::1"), 6);
  assert.equal(ipVersion("backend.internal"), 0);
});
