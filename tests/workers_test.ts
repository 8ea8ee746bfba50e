/**
 * `balance --workers 2` as an operator runs it: two workers share one port and both serve,
 * each with its own admin API and counts; a change to one worker's backends is refused; a
 * SIGTERM lets requests in flight on every worker finish before the process exits 0.
 */
import assert from "node:assert/strict";
import { startMock } from "../mocks/mod.ts";
import { eventually, serve, waitForLine } from "./_helpers.ts";
import { roundaboutCommand } from "./_cli.ts";

function balance(args: string[]): Deno.ChildProcess {
  return roundaboutCommand(["balance", ...args], { stdout: "null", stderr: "piped" }).spawn();
}

/** A port P such that P and P + 1 are both free now (the admin ports of two workers). */
function freePortPair(): number {
  while (true) {
    const first = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (first.addr as Deno.NetAddr).port;
    try {
      if (port < 65_535) {
        Deno.listen({ hostname: "127.0.0.1", port: port + 1 }).close();
        return port;
      }
    } catch {
      // P + 1 is taken: try another P.
    } finally {
      first.close();
    }
  }
}

/** POSTs `body` on a connection of its own (no idle connection is kept for reuse). */
async function postOnNewConnection(
  url: string,
  body: string,
): Promise<{ status: number; body: string; appUrl: string | null }> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    const response = await fetch(url, { method: "POST", body, client });
    return {
      status: response.status,
      body: await response.text(),
      appUrl: response.headers.get("x-app-url"),
    };
  } finally {
    client.close();
  }
}

async function stopChild(child: Deno.ChildProcess, rest?: Promise<void>): Promise<void> {
  try {
    child.kill("SIGKILL");
  } catch { /* already gone */ }
  await child.status;
  await rest;
}

Deno.test("two workers share the port: both answer, and their per-worker counts add up to the requests sent", async () => {
  const apps = [0, 1].map((i) => serve(() => Response.json({ app: i })));
  const adminPort = freePortPair();
  const child = balance([
    "--workers",
    "2",
    "--port",
    "0",
    "--admin-port",
    String(adminPort),
    "--access-log",
    "off",
    ...apps.flatMap((app) => ["--backend", app.url]),
  ]);
  const seen: string[] = [];
  let rest: Promise<void> | undefined;
  try {
    const ready = await waitForLine(child.stderr, /listening on http:\/\/\S+ with 2 workers/, seen);
    rest = ready.rest;
    const url = /listening on (http:\/\/\S+) with/.exec(ready.line)![1];
    // Fresh connections, so that the kernel spreads them; 40 all on one worker by chance
    // has a probability of 2 × 2⁻⁴⁰.
    const sent = 40;
    const answers = [];
    for (let i = 0; i < sent; i++) answers.push(await postOnNewConnection(url, `{"i":${i}}`));
    assert.ok(answers.every((a) => a.status === 200), JSON.stringify(answers));
    const appUrls = new Set(apps.map((app) => app.url));
    assert.ok(answers.every((a) => appUrls.has(a.appUrl!)), "x-app-url names a backend");

    const statuses = await Promise.all([0, 1].map(async (i) => {
      const response = await fetch(`http://127.0.0.1:${adminPort + i}/status`);
      return await response.json();
    }));
    const counts = statuses.map((status, i) => {
      assert.deepEqual(status.worker, { index: i, count: 2 });
      return (status.backends as { requests: number }[]).reduce((n, b) => n + b.requests, 0);
    });
    assert.equal(counts[0] + counts[1], sent, `per-worker counts ${counts}`);
    assert.ok(counts[0] > 0 && counts[1] > 0, `both workers served: ${counts}`);
    assert.ok(seen.some((l) => l.startsWith("[balancer w1] ")), "log lines name the worker");
  } finally {
    await stopChild(child, rest);
    await Promise.all(apps.map((app) => app.shutdown()));
  }
});

Deno.test("with workers, a change to one worker's backends or config is refused with 409", async () => {
  const app = serve(() => new Response("ok"));
  const adminPort = freePortPair();
  const child = balance([
    "--workers",
    "2",
    "--port",
    "0",
    "--admin-port",
    String(adminPort),
    "--backend",
    app.url,
  ]);
  const seen: string[] = [];
  let rest: Promise<void> | undefined;
  try {
    rest = (await waitForLine(child.stderr, /with 2 workers/, seen)).rest;
    const admin = `http://127.0.0.1:${adminPort + 1}`;
    const id = encodeURIComponent(new URL(app.url).host);
    const calls: [string, string, string?][] = [
      ["POST", "/backends", '{"url":"http://127.0.0.1:1"}'],
      ["DELETE", `/backends/${id}`],
      ["POST", `/backends/${id}/disable`],
      ["POST", "/config", `{"backends":["${app.url}"]}`],
    ];
    for (const [method, path, body] of calls) {
      const response = await fetch(admin + path, { method, body });
      assert.equal(response.status, 409, `${method} ${path}`);
      const answer = await response.json();
      assert.match(answer.error, /change the config file and reload/, `${method} ${path}`);
      assert.deepEqual(answer.worker, { index: 1, count: 2 });
    }
    const reload = await fetch(`${admin}/reload`, { method: "POST" });
    assert.equal(reload.status, 200);
    assert.equal((await reload.json()).applied, true);
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    await rest;
    // POST /reload on worker 1 reloaded worker 0 too, through the main thread.
    assert.ok(
      seen.some((l) => l.startsWith("[balancer w0] configuration from the admin API")),
      seen.join("\n"),
    );
  } finally {
    await stopChild(child, rest);
    await app.shutdown();
  }
});

Deno.test("SIGTERM with workers: requests in flight finish with 200 and the process exits 0", async () => {
  const slow = await startMock("delayed", { delayMs: 700 });
  const child = balance([
    "--workers",
    "2",
    "--port",
    "0",
    "--backend",
    slow.url,
    "--timeout",
    "5s",
    "--grace",
    "5s",
  ]);
  const seen: string[] = [];
  let rest: Promise<void> | undefined;
  try {
    const ready = await waitForLine(child.stderr, /with 2 workers/, seen);
    rest = ready.rest;
    const url = /listening on (http:\/\/\S+) with/.exec(ready.line)![1];
    const requests = Array.from({ length: 6 }, (_, i) => postOnNewConnection(url, `{"i":${i}}`));
    await eventually(() => slow.arrivals >= 6, "the six requests to arrive", 10_000);
    child.kill("SIGTERM");
    const answers = await Promise.all(requests);
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200]);
    assert.deepEqual(answers.map((a) => a.body), [0, 1, 2, 3, 4, 5].map((i) => `{"i":${i}}`));
    assert.equal((await child.status).code, 0, seen.join("\n"));
    await rest;
    assert.ok(seen.some((l) => l.includes("every worker stopped")), seen.join("\n"));
  } finally {
    await stopChild(child, rest);
    await slow.close();
  }
});

Deno.test("with workers, a port in use ends with one line and status 2, not a worker's stack trace", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String((taken.addr as Deno.NetAddr).port);
    const child = roundaboutCommand(
      ["balance", "--workers", "2", "--port", port, "--backend", "http://127.0.0.1:1"],
      { stdout: "null", stderr: "piped" },
    );
    const { code, stderr } = await child.output();
    const text = new TextDecoder().decode(stderr);
    assert.equal(code, 2);
    assert.equal(text.trim().split("\n").length, 1, text);
    assert.match(text, new RegExp(`--port ${port}: address already in use`));
  } finally {
    taken.close();
  }
});
