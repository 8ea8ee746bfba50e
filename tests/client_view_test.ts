/**
 * What clients and backends see of each other through the balancer: the upstream `Host`
 * (`upstreamHost`), `Location`/`Content-Location` pointing behind the balancer
 * (`rewriteLocation`), the `x-app-url` header (`exposeBackend`) and the tries in error
 * bodies (`errorDetails`), with both upstream clients, and how the switches are set from
 * flags and variables.
 */
import assert from "node:assert/strict";
import { envLayer, flagLayer, resolve } from "../config/sources.ts";
import { ConfigError } from "../config/problems.ts";
import type { RunningBalancer } from "../balancer/server.ts";
import { BALANCE_FLAGS } from "../cli/balance.ts";
import { parseFlags } from "../cli/usage.ts";
import { deadPort, serve, type TestServer, withRecordingBalancer } from "./_helpers.ts";

/** The Host a client of the balancer uses: not the balancer's address, to tell them apart. */
const PUBLIC_HOST = "shop.example:8443";

/**
 * A backend that reports the Host it received (`/host`) and redirects to absolute URLs on
 * its own address (`/redirect`), as httpbin's `/absolute-redirect/1` does.
 */
function hostEchoApp(): TestServer {
  let own = "";
  const app = serve((request) => {
    const path = new URL(request.url).pathname;
    const headers = new Headers();
    switch (path) {
      case "/host":
        return Response.json({ host: request.headers.get("host") });
      case "/redirect":
        headers.set("location", `${own}/get?x=1`);
        headers.set("content-location", `${own}/doc#top`);
        return new Response(null, { status: 302, headers });
      case "/redirect-root":
        headers.set("location", own);
        return new Response(null, { status: 301, headers });
      case "/relative":
        headers.set("location", "/get");
        return new Response(null, { status: 302, headers });
      case "/elsewhere":
        headers.set("location", "http://other.example/x");
        return new Response(null, { status: 302, headers });
      case "/near-miss":
        // Same host, another port that starts with this one's digits: not this backend.
        headers.set("location", `${own}0/x`);
        return new Response(null, { status: 302, headers });
      default:
        return new Response("not found", { status: 404 });
    }
  });
  own = app.url;
  return app;
}

/** GET through the balancer with the Host a public client would send; no redirect followed. */
async function get(
  client: Deno.HttpClient,
  balancer: RunningBalancer,
  path: string,
): Promise<Response> {
  return await fetch(balancer.url + path, {
    client,
    headers: { host: PUBLIC_HOST },
    redirect: "manual",
  });
}

for (const transport of ["http1", "fetch"]) {
  for (const upstreamHost of ["client", "backend"] as const) {
    Deno.test(`upstreamHost ${upstreamHost} [${transport}]: the backend's Host, and its absolute redirects rewritten to the client's address`, async () => {
      const app = hostEchoApp();
      const client = Deno.createHttpClient({ allowHost: true });
      try {
        await withRecordingBalancer(transport, { upstreamHost }, [app.url], async (balancer) => {
          const seen = await (await get(client, balancer, "/host")).json();
          const expected = upstreamHost === "client" ? PUBLIC_HOST : new URL(app.url).host;
          assert.equal(seen.host, expected);

          const redirect = await get(client, balancer, "/redirect");
          await redirect.body?.cancel();
          assert.equal(redirect.status, 302);
          assert.equal(redirect.headers.get("location"), `http://${PUBLIC_HOST}/get?x=1`);
          assert.equal(
            redirect.headers.get("content-location"),
            `http://${PUBLIC_HOST}/doc#top`,
          );
          const root = await get(client, balancer, "/redirect-root");
          await root.body?.cancel();
          assert.equal(root.headers.get("location"), `http://${PUBLIC_HOST}/`);

          const untouched: [string, string][] = [
            ["/relative", "/get"],
            ["/elsewhere", "http://other.example/x"],
            ["/near-miss", `${app.url}0/x`],
          ];
          for (const [path, location] of untouched) {
            const response = await get(client, balancer, path);
            await response.body?.cancel();
            assert.equal(response.headers.get("location"), location, path);
          }
        });
      } finally {
        client.close();
        await app.shutdown();
      }
    });
  }

  Deno.test(`rewriteLocation false leaves a backend's absolute redirect as it was [${transport}]`, async () => {
    const app = hostEchoApp();
    const client = Deno.createHttpClient({ allowHost: true });
    try {
      await withRecordingBalancer(
        transport,
        { rewriteLocation: false },
        [app.url],
        async (balancer) => {
          const redirect = await get(client, balancer, "/redirect");
          await redirect.body?.cancel();
          assert.equal(redirect.headers.get("location"), `${app.url}/get?x=1`);
        },
      );
    } finally {
      client.close();
      await app.shutdown();
    }
  });
}

Deno.test("the address the client used is the balancer's own when the client sends its plain Host", async () => {
  const app = hostEchoApp();
  try {
    await withRecordingBalancer("http1", {}, [app.url], async (balancer) => {
      const redirect = await fetch(`${balancer.url}/redirect`, { redirect: "manual" });
      await redirect.body?.cancel();
      assert.equal(redirect.headers.get("location"), `${balancer.url}/get?x=1`);
    });
  } finally {
    await app.shutdown();
  }
});

Deno.test("exposeBackend: x-app-url names the backend by default; off, no header, and the access record still does", async () => {
  const app = serve(() => new Response("hi"));
  try {
    await withRecordingBalancer("http1", {}, [app.url], async (balancer) => {
      const response = await fetch(balancer.url);
      await response.body?.cancel();
      assert.equal(response.headers.get("x-app-url"), app.url);
    });
    await withRecordingBalancer(
      "http1",
      { exposeBackend: false },
      [app.url],
      async (balancer, records) => {
        const response = await fetch(balancer.url);
        assert.equal(await response.text(), "hi");
        assert.equal(response.headers.get("x-app-url"), null);
        assert.equal(records.at(-1)?.backend, app.url, "the log still knows who answered");
      },
    );
  } finally {
    await app.shutdown();
  }
});

Deno.test("exposeBackend off also covers a kept 5xx answer", async () => {
  const failing = serve(() => new Response("down", { status: 503 }));
  const dead = `http://127.0.0.1:${deadPort()}`;
  try {
    await withRecordingBalancer(
      "http1",
      { exposeBackend: false },
      [failing.url, dead],
      async (balancer, records) => {
        const response = await fetch(balancer.url);
        assert.equal(response.status, 503);
        assert.equal(await response.text(), "down");
        assert.equal(response.headers.get("x-app-url"), null);
        assert.equal(records.at(-1)?.backend, failing.url);
      },
    );
  } finally {
    await failing.shutdown();
  }
});

Deno.test("errorDetails: a 502 lists the tries by default; off, it says what happened without addresses", async () => {
  const dead = [deadPort(), deadPort()].map((port) => `http://127.0.0.1:${port}`);
  await withRecordingBalancer("http1", {}, dead, async (balancer) => {
    const response = await fetch(balancer.url);
    assert.equal(response.status, 502);
    const body = await response.json();
    assert.equal(body.error, "upstream unreachable");
    assert.deepEqual(
      body.tried.map((t: { backend: string }) => t.backend).sort(),
      [...dead].sort(),
    );
  });
  await withRecordingBalancer("http1", { errorDetails: false }, dead, async (balancer, records) => {
    const response = await fetch(balancer.url);
    assert.equal(response.status, 502);
    const text = await response.text();
    assert.deepEqual(JSON.parse(text), { error: "upstream unreachable" });
    assert.doesNotMatch(text, /127\.0\.0\.1|refused/);
    assert.equal(records.at(-1)?.tries.length, 2, "the record keeps the tries");
  });
});

Deno.test("errorDetails off: a 504 says the upstream timed out, without addresses", async () => {
  // Answers only once the balancer gives up on it (so it can shut down).
  const slow = serve((request) =>
    new Promise<Response>((resolve) =>
      request.signal.addEventListener("abort", () => resolve(new Response(null)))
    )
  );
  try {
    await withRecordingBalancer(
      "fetch",
      { errorDetails: false, timeoutMs: 100 },
      [slow.url],
      async (balancer) => {
        const response = await fetch(balancer.url);
        assert.equal(response.status, 504);
        assert.deepEqual(await response.json(), { error: "upstream timed out" });
      },
    );
  } finally {
    await slow.shutdown();
  }
});

Deno.test("the switches from flags (--no-NAME, --NAME) and variables (true or false)", () => {
  const backend = ["--backend", "http://127.0.0.1:8001"];
  const settingsOf = (args: string[], env: Record<string, string> = {}) => {
    const { flags } = parseFlags("balance", [...backend, ...args], BALANCE_FLAGS);
    return resolve([envLayer(env), flagLayer(flags)]).settings.options;
  };
  const defaults = settingsOf([]);
  assert.equal(defaults.exposeBackend, true);
  assert.equal(defaults.errorDetails, true);
  assert.equal(defaults.rewriteLocation, true);
  assert.equal(defaults.upstreamHost, "client");
  const off = settingsOf([
    "--no-expose-backend",
    "--no-error-details",
    "--no-rewrite-location",
    "--upstream-host",
    "backend",
  ]);
  assert.equal(off.exposeBackend, false);
  assert.equal(off.errorDetails, false);
  assert.equal(off.rewriteLocation, false);
  assert.equal(off.upstreamHost, "backend");
  const env = { ROUNDABOUT_EXPOSE_BACKEND: "false", ROUNDABOUT_ERROR_DETAILS: "false" };
  assert.equal(settingsOf([], env).exposeBackend, false);
  assert.equal(settingsOf([], env).errorDetails, false);
  assert.equal(settingsOf(["--expose-backend"], env).exposeBackend, true, "flags win");
  assert.equal(settingsOf(["--expose-backend", "--no-expose-backend"]).exposeBackend, false);
  assert.throws(
    () => settingsOf([], { ROUNDABOUT_EXPOSE_BACKEND: "no" }),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.problems.some((p) => p.includes('ROUNDABOUT_EXPOSE_BACKEND "no"')) &&
      error.problems.some((p) => p.includes("expected true or false")),
  );
});
