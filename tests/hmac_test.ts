import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { base64url, hmacSha256, sha256 } from "../lib/hmac.ts";

// lib/hmac.ts replaces node:crypto on the start-up path: it must give node:crypto's answers,
// across the padding edges of SHA-256 (55, 56, 63, 64 bytes) and of HMAC keys (64, 65 bytes).
const LENGTHS = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000];

Deno.test("sha256 gives node:crypto's digest for every padding edge", () => {
  for (const length of LENGTHS) {
    const data = new Uint8Array(randomBytes(length));
    const expected = createHash("sha256").update(data).digest("hex");
    const actual = Array.from(sha256(data), (b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(actual, expected, `${length} bytes`);
  }
});

Deno.test("hmacSha256 gives node:crypto's HMAC for short, block-sized and long keys", () => {
  const messages = ["", "http://127.0.0.1:8001", "é∑ unicode ✓", "x".repeat(200)];
  for (const keyLength of [0, 1, 32, 63, 64, 65, 100]) {
    const key = randomBytes(keyLength).toString("base64url").slice(0, keyLength);
    for (const message of messages) {
      const expected = createHmac("sha256", key).update(message).digest("base64url");
      assert.equal(base64url(hmacSha256(key, message)), expected, `key ${keyLength}: ${message}`);
    }
  }
});

Deno.test("base64url is unpadded and URL-safe, as Node's", () => {
  for (const length of [0, 1, 2, 3, 16, 32]) {
    const bytes = new Uint8Array(randomBytes(length));
    assert.equal(base64url(bytes), Buffer.from(bytes).toString("base64url"));
  }
  assert.equal(base64url(new Uint8Array([0xfb, 0xff])), "-_8");
});
