/**
 * `tls.redirectPort`: a plain listener beside the HTTPS one that answers every request 308 to
 * the same host and path on the HTTPS port, asks no backend, and stops with the balancer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { serve } from "./_helpers.ts";
import { withInstance } from "./_instance.ts";
import { withPki } from "./_pki.ts";
import { redirect } from "../balancer/redirect.ts";

/** One raw HTTP/1.1 request (so that any Host can be sent); the answer's head. */
async function rawHead(port: number, head: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(head));
  const answer = await new Response(conn.readable).text();
  return answer.slice(0, answer.indexOf("\r\n\r\n"));
}

Deno.test("with tls.redirectPort a plain listener answers every request 308 to the same host and path on the HTTPS port, asks no backend, and closes with the balancer", async () => {
  await withPki(async (pki) => {
    let asked = 0;
    const app = serve(() => {
      asked++;
      return new Response("from the backend");
    });
    let redirectPort = 0;
    try {
      const tls = { cert: pki.certFile, key: pki.keyFile, redirectPort: 0 };
      await withInstance(
        { backends: [app.url], tls, accessLog: "off" },
        async ({ instance, logs }) => {
          const { running } = instance;
          assert.ok(running.redirect, "the redirect listener runs");
          redirectPort = running.redirect.port;
          assert.notEqual(redirectPort, running.port);
          const line = `redirecting http://127.0.0.1:${redirectPort} to ${running.url}`;
          assert.ok(logs.includes(line), logs.join("\n"));
          const get = await fetch(`http://127.0.0.1:${redirectPort}/a/b?c=1`, {
            redirect: "manual",
          });
          assert.equal(get.status, 308);
          assert.equal(get.headers.get("location"), `https://127.0.0.1:${running.port}/a/b?c=1`);
          await get.body?.cancel();
          const post = await fetch(`http://127.0.0.1:${redirectPort}/form`, {
            method: "POST",
            body: "x=1",
            redirect: "manual",
          });
          assert.equal(post.status, 308, "308 keeps the method");
          await post.body?.cancel();
          const named = await rawHead(
            redirectPort,
            "GET /p HTTP/1.1\r\nhost: shop.example:8080\r\nconnection: close\r\n\r\n",
          );
          assert.match(named, /^HTTP\/1\.1 308 /);
          assert.match(named, new RegExp(`\r\nlocation: https://shop\\.example:${running.port}/p`));
          // Following it with the test CA reaches the backend over HTTPS.
          const client = Deno.createHttpClient({ caCerts: [pki.ca] });
          try {
            const followed = await fetch(`http://127.0.0.1:${redirectPort}/x`, { client });
            assert.equal(await followed.text(), "from the backend");
          } finally {
            client.close();
          }
          assert.equal(asked, 1, "only the request that followed the redirect");
        },
      );
      await assert.rejects(
        Deno.connect({ hostname: "127.0.0.1", port: redirectPort }),
        Deno.errors.ConnectionRefused,
      );
    } finally {
      await app.shutdown();
    }
  });
});

Deno.test("without tls.redirectPort the HTTPS listener runs alone", async () => {
  await withPki(async (pki) => {
    const app = serve(() => new Response("ok"));
    try {
      const tls = { cert: pki.certFile, key: pki.keyFile };
      await withInstance({ backends: [app.url], tls, accessLog: "off" }, ({ instance }) => {
        assert.equal(instance.running.redirect, undefined);
        return Promise.resolve();
      });
    } finally {
      await app.shutdown();
    }
  });
});

Deno.test("a redirect to HTTPS on port 443 names no port", () => {
  const response = redirect("http://shop.example:8080/cart?id=7", 443);
  assert.equal(response.status, 308);
  assert.equal(response.headers.get("location"), "https://shop.example/cart?id=7");
});
