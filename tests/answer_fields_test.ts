/**
 * The balancer's fields in a backend's answer, as the client reads them on the wire
 * (`x-request-id`, `x-app-url`, a rewritten `Location` / `Content-Location`, a sticky cookie),
 * with both transports and a `node:http` backend that sends fields of the same names, in its
 * own case and twice: the balancer's replace them, one field each. These pin what a change to
 * how the answer is built (bench/README.md, "Part 12, third round") must keep.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { deadPort, withRecordingBalancer } from "./_helpers.ts";

/** A node:http backend; its answers carry fields of the balancer's names, in odd case. */
async function nodeApp(): Promise<{ url: string; close(): Promise<void> }> {
  let own = "";
  const server: Server = createServer((request, response) => {
    // Two fields of one name, in the backend's case: the balancer's must replace both.
    response.setHeader("X-Request-Id", ["theirs-1", "theirs-2"]);
    switch (request.url) {
      case "/own-fields":
        response.setHeader("X-App-Url", "http://elsewhere.example");
        response.setHeader("Content-Type", "text/plain");
        response.end("ok");
        return;
      case "/redirect":
        response.statusCode = 302;
        response.setHeader("LOCATION", `${own}/next?a=1`);
        response.setHeader("Content-Location", `${own}/doc#top`);
        response.end();
        return;
      default:
        response.statusCode = 503;
        response.setHeader("Location", `${own}/later`);
        response.end("busy");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  own = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: own,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const VARIANTS = [{ name: "http1", transport: "http1" }, { name: "fetch", transport: "fetch" }];

/** The raw head the client receives, to count fields of one name (fetch would join them). */
async function rawHead(url: string, path: string, extra = ""): Promise<string> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const request =
      `GET ${path} HTTP/1.1\r\nhost: shop.example\r\n${extra}connection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buffer = new Uint8Array(16_384);
    while (!text.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text.slice(0, text.indexOf("\r\n\r\n"));
  } finally {
    conn.close();
  }
}

/** The values of every field `name` in a raw head. */
function fieldsOf(head: string, name: string): string[] {
  return head.split("\r\n").slice(1).filter((line) =>
    line.slice(0, line.indexOf(":")).toLowerCase() === name
  ).map((line) => line.slice(line.indexOf(":") + 1).trim());
}

for (const variant of VARIANTS) {
  Deno.test(`[${variant.name}] a backend's own x-request-id and x-app-url are replaced: one field each`, async () => {
    const app = await nodeApp();
    try {
      await withRecordingBalancer(variant.transport, {}, [app.url], async ({ url }, records) => {
        const head = await rawHead(url, "/own-fields", "x-request-id: client-id-7\r\n");
        assert.match(head, /^HTTP\/1\.1 200/);
        assert.deepEqual(fieldsOf(head, "x-request-id"), ["client-id-7"]);
        assert.deepEqual(fieldsOf(head, "x-app-url"), [app.url]);
        assert.deepEqual(fieldsOf(head, "content-type"), ["text/plain"]);
        // A made-up id when the client sent none: the record's, once.
        const again = await rawHead(url, "/own-fields");
        const ids = fieldsOf(again, "x-request-id");
        assert.equal(ids.length, 1);
        assert.equal(ids[0], records[1].requestId);
        assert.notEqual(ids[0], "theirs-1");
      });
    } finally {
      await app.close();
    }
  });

  Deno.test(`[${variant.name}] Location and Content-Location pointing at the backend are rewritten`, async () => {
    const app = await nodeApp();
    try {
      await withRecordingBalancer(variant.transport, {}, [app.url], async ({ url }) => {
        const head = await rawHead(url, "/redirect");
        assert.match(head, /^HTTP\/1\.1 302/);
        assert.deepEqual(fieldsOf(head, "location"), ["http://shop.example/next?a=1"]);
        assert.deepEqual(fieldsOf(head, "content-location"), ["http://shop.example/doc#top"]);
        assert.equal(fieldsOf(head, "x-request-id").length, 1);
      });
      // Off: the backend's own values pass untouched.
      await withRecordingBalancer(
        variant.transport,
        { rewriteLocation: false },
        [app.url],
        async ({ url }) => {
          const head = await rawHead(url, "/redirect");
          assert.deepEqual(fieldsOf(head, "location"), [`${app.url}/next?a=1`]);
          assert.deepEqual(fieldsOf(head, "content-location"), [`${app.url}/doc#top`]);
        },
      );
    } finally {
      await app.close();
    }
  });

  Deno.test(`[${variant.name}] a 5xx kept while the next try fails is delivered with the balancer's fields`, async () => {
    const app = await nodeApp();
    const dead = `http://127.0.0.1:${deadPort()}`;
    try {
      // Round robin starts at the first backend: the 503, then the refused connection.
      const options = { sticky: { cookie: "rb" } };
      await withRecordingBalancer(
        variant.transport,
        options,
        [app.url, dead],
        async ({ url }, records) => {
          const head = await rawHead(url, "/busy", "x-request-id: kept-1\r\n");
          assert.match(head, /^HTTP\/1\.1 503/);
          assert.deepEqual(records[0].tries.map((t) => t.outcome), ["status", "connect"]);
          assert.deepEqual(fieldsOf(head, "x-request-id"), ["kept-1"]);
          assert.deepEqual(fieldsOf(head, "x-app-url"), [app.url]);
          assert.deepEqual(fieldsOf(head, "location"), ["http://shop.example/later"]);
          const cookies = fieldsOf(head, "set-cookie");
          assert.equal(cookies.length, 1);
          assert.match(cookies[0], /^rb=/);
        },
      );
    } finally {
      await app.close();
    }
  });

  Deno.test(`[${variant.name}] exposeBackend false: no x-app-url of ours, a backend's own passes`, async () => {
    const app = await nodeApp();
    try {
      await withRecordingBalancer(
        variant.transport,
        { exposeBackend: false },
        [app.url],
        async ({ url }) => {
          const head = await rawHead(url, "/redirect");
          assert.deepEqual(fieldsOf(head, "x-app-url"), []);
          assert.equal(fieldsOf(head, "x-request-id").length, 1);
          // The switch only stops ours; it filters nothing.
          const own = await rawHead(url, "/own-fields");
          assert.deepEqual(fieldsOf(own, "x-app-url"), ["http://elsewhere.example"]);
        },
      );
    } finally {
      await app.close();
    }
  });
}

Deno.test("a made-up 502 still gets its x-request-id, and no x-app-url", async () => {
  const dead = `http://127.0.0.1:${deadPort()}`;
  await withRecordingBalancer(VARIANTS[0].transport, {}, [dead], async ({ url }) => {
    const head = await rawHead(url, "/", "x-request-id: made-up-1\r\n");
    assert.match(head, /^HTTP\/1\.1 502/);
    assert.deepEqual(fieldsOf(head, "x-request-id"), ["made-up-1"]);
    assert.deepEqual(fieldsOf(head, "x-app-url"), []);
  });
});
