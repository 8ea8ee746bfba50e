/**
 * The processes as an operator runs them: `check-config` on good and bad files, a topology
 * file for `up`, the `status` command, and a graceful stop under load (SIGTERM while
 * requests are in flight on a slow backend: they finish with 200 and the process exits 0).
 */
import assert from "node:assert/strict";
import { startMock } from "../mocks/mod.ts";
import { eventually, waitForLine } from "./_helpers.ts";
import { roundaboutCommand } from "./_cli.ts";

const decoder = new TextDecoder();

function command(args: string[], env: Record<string, string> = {}) {
  return roundaboutCommand(args, { stdout: "piped", stderr: "piped", env });
}

async function run(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await command(args, env).output();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

async function tempFile(text: string, name = "roundabout.jsonc"): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "roundabout-cli-" });
  await Deno.writeTextFile(`${dir}/${name}`, text);
  return `${dir}/${name}`;
}

Deno.test("check-config lists every problem of an invalid file, one line each, with status 2", async () => {
  const path = await tempFile(`{
    "$schema": "../roundabout.schema.json",
    "backends": ["http://127.0.0.1:8001", "htp://x", { "url": "http://127.0.0.1:8003", "weight": 0 }],
    "timeout": "soon", // typo'd unit
    "retryDowntim": "5s",
    "policy": "random",
    "admin": { "port": 70000 },
  }`);
  try {
    const { code, stdout, stderr } = await run(["check-config", path], {
      ROUNDABOUT_SLOW_START: "later",
    });
    assert.equal(code, 2);
    assert.equal(stdout, "");
    const lines = stderr.trim().split("\n");
    const expected = [
      `roundabout: ${path}: backends[1]: "htp://x" is not an http(s) URL such as http://127.0.0.1:8001`,
      `roundabout: ${path}: backends[2].weight: expected a whole number from 1 to 1000, got 0`,
      `roundabout: ${path}: timeout: expected a duration such as 250ms, 2s or 1m, or a number of milliseconds (0 to 24h), got "soon"`,
      `roundabout: ${path}: retryDowntim: is not a known setting (expected one of listen, tls, backends, timeout, retryDowntime,`,
      `roundabout: ${path}: policy: expected one of round-robin,`,
      `roundabout: ${path}: admin.port: expected a port number from 0 to 65535, got 70000`,
      `roundabout: ROUNDABOUT_SLOW_START "later": expected a duration`,
    ];
    for (const line of expected) {
      assert.ok(lines.some((l) => l.startsWith(line)), `missing: ${line}\n${stderr}`);
    }
    assert.equal(lines.length, expected.length, stderr);
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  } finally {
    await Deno.remove(path.replace(/\/[^/]+$/, ""), { recursive: true });
  }
});

Deno.test("check-config prints the configuration in force and where each value comes from", async () => {
  const path = await tempFile(`{ "backends": ["http://127.0.0.1:8001"], "timeout": "3s" }`);
  try {
    const { code, stdout } = await run(
      ["check-config", path, "--retry-downtime", "20s"],
      { ROUNDABOUT_ADMIN_PORT: "9191", ROUNDABOUT_ADMIN_TOKEN: "secret-token" },
    );
    assert.equal(code, 0);
    assert.match(stdout, /valid/);
    const row = (setting: string) => stdout.split("\n").find((l) => l.startsWith(`${setting} `));
    assert.match(row("timeout")!, new RegExp(`3s\\s+file ${path}`));
    assert.match(row("retryDowntime")!, /20s\s+flag --retry-downtime/);
    assert.match(row("admin.port")!, /9191\s+env ROUNDABOUT_ADMIN_PORT/);
    assert.match(row("admin.token")!, /\(set, not shown\)\s+env ROUNDABOUT_ADMIN_TOKEN/);
    assert.match(row("replayLimit")!, /1048576\s+default/);
    assert.doesNotMatch(stdout, /secret-token/);
  } finally {
    await Deno.remove(path.replace(/\/[^/]+$/, ""), { recursive: true });
  }
});

Deno.test("SIGTERM under load: requests in flight on a slow backend finish with 200 and the process exits 0", async () => {
  const slow = await startMock("delayed", { delayMs: 700 });
  const child = command([
    "balance",
    "--backend",
    slow.url,
    "--port",
    "0",
    "--timeout",
    "5s",
    "--grace",
    "5s",
    "--access-log",
    "json",
  ]).spawn();
  const errLines: string[] = [];
  try {
    const { line, rest } = await waitForLine(child.stderr, /listening on http/, errLines);
    const url = /listening on (http:\/\/[^,]+),/.exec(line)![1];
    const requests = Array.from(
      { length: 3 },
      (_, i) =>
        fetch(url, { method: "POST", body: JSON.stringify({ i }) }).then(async (r) => ({
          status: r.status,
          body: await r.text(),
        })),
    );
    await eventually(() => slow.arrivals >= 3, "the three requests to arrive", 10_000);
    child.kill("SIGTERM");
    const answers = await Promise.all(requests);
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200]);
    assert.deepEqual(answers.map((a) => a.body), [0, 1, 2].map((i) => JSON.stringify({ i })));
    const [status, stdout] = await Promise.all([
      child.status,
      new Response(child.stdout).text(),
      rest,
    ]);
    assert.equal(status.code, 0, errLines.join("\n"));
    assert.ok(errLines.some((l) => l.includes("SIGTERM: stopped accepting")), errLines.join("\n"));
    assert.ok(errLines.some((l) => l.includes("every request finished")), errLines.join("\n"));
    const logged = stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(logged.length, 3, "one JSON access log line per request, flushed before exit");
    assert.ok(logged.every((entry) => entry.status === 200 && entry.attempts === 1));
    await assert.rejects(fetch(url), "no longer accepting");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await slow.close();
  }
});

Deno.test("up runs a topology file, and status prints its backends as a table", async () => {
  const path = await tempFile(
    JSON.stringify({
      apps: [{ kind: "normal", port: 0 }, { kind: "alternating", port: 0, name: "flip" }],
      balancer: { listen: { port: 0 }, admin: { port: 0, token: "a-token-for-up" } },
    }),
    "topology.json",
  );
  const child = command(["up", path]).spawn();
  const lines: string[] = [];
  try {
    // up writes its prefixed event log on stderr (stdout is the access log alone).
    const admin = await waitForLine(child.stderr, /admin API on http/, lines);
    const adminUrl = /admin API on (http:\/\/\S+)/.exec(admin.line)![1];
    const up = lines.find((l) => l.includes("listening on http") && l.startsWith("[balancer]"))!;
    const url = /listening on (http:\/\/[^,]+),/.exec(up)![1];
    for (let i = 0; i < 3; i++) await (await fetch(url, { method: "POST", body: "{}" })).text();
    const status = await run(["status", "--admin", adminUrl], {
      ROUNDABOUT_ADMIN_TOKEN: "a-token-for-up",
    });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^policy round-robin/);
    assert.match(status.stdout, /ID\s+STATE\s+WEIGHT\s+IN-FLIGHT/);
    assert.match(
      status.stdout,
      /failed until \d\d:\d\d:\d\d\s+1\s+0\s+1\s+1\s+1 .*request: status 500/,
    );
    const refused = await run(["status", "--admin", adminUrl, "--token", "wrong-token"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /answered 401: wrong token/);
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    await admin.rest;
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await child.stdout.cancel();
    await Deno.remove(path.replace(/\/[^/]+$/, ""), { recursive: true });
  }
});
