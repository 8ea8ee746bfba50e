/**
 * Configuring sticky sessions: `sticky` from the file, a flag or a variable in the text form;
 * `stickySecret` signs the cookies and is never shown (GET /config, /status, check-config,
 * --help, problems, reload logs); without it each process makes its own, shared by its
 * workers, so every worker accepts the cookies the others set.
 */
import assert from "node:assert/strict";
import type { StatusDocument } from "../admin/status.ts";
import { statusTable } from "../cli/status.ts";
import { startBalancer } from "../balancer/server.ts";
import { cookieToken } from "../balancer/sticky_cookie.ts";
import { ConfigError } from "../config/problems.ts";
import { envLayer, flagLayer, objectLayer, resolve } from "../config/sources.ts";
import { withInstance } from "./_instance.ts";
import { serve, waitForLine } from "./_helpers.ts";
import { roundaboutCommand } from "./_cli.ts";

const SECRET = "s3cr3t-sticky-key-for-tests-0123456789";
const BACKEND = "http://127.0.0.1:8001";

Deno.test("sticky reads the same from the file, a flag and a variable; unset it is off", () => {
  const from = (layer: Parameters<typeof resolve>[0][number]) =>
    resolve([layer]).settings.options.sticky;
  assert.deepEqual(from(objectLayer("f", { backends: [BACKEND], sticky: { cookie: "rb" } })), {
    cookie: "rb",
  });
  assert.deepEqual(from(flagLayer({ backend: [BACKEND], sticky: "cookie=rb" })), { cookie: "rb" });
  assert.deepEqual(from(flagLayer({ backend: [BACKEND], sticky: "header=X-User" })), {
    header: "X-User",
  });
  assert.deepEqual(
    from(envLayer({ ROUNDABOUT_BACKENDS: BACKEND, ROUNDABOUT_STICKY: "client-address" })),
    {
      clientAddress: true,
    },
  );
  assert.equal(from(objectLayer("f", { backends: [BACKEND] })), undefined);
});

Deno.test("a bad secret is a problem that names the setting and never shows the value", () => {
  const bad = "short secret";
  for (
    const layer of [
      objectLayer("f.json", { backends: [BACKEND], stickySecret: bad }),
      envLayer({ ROUNDABOUT_BACKENDS: BACKEND, ROUNDABOUT_STICKY_SECRET: bad }),
      flagLayer({ backend: [BACKEND], "sticky-secret": bad }),
    ]
  ) {
    try {
      resolve([layer]);
      assert.fail("accepted");
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      assert.equal(error.problems.length, 1, error.problems.join("\n"));
      assert.match(error.problems[0], /sticky-secret|stickySecret|STICKY_SECRET/);
      assert.ok(!error.problems[0].includes("short"), error.problems[0]);
    }
  }
});

Deno.test("the secret signs the cookies: the same secret gives the same cookie after a restart, and two processes without one disagree", async () => {
  const app = serve(() => new Response("ok"));
  const cookieOf = async (stickySecret?: string) => {
    const balancer = startBalancer({
      port: 0,
      backends: [{ url: app.url, weight: 1 }],
      options: { sticky: { cookie: "rb" }, stickySecret },
    });
    try {
      const response = await fetch(balancer.url);
      await response.body?.cancel();
      return response.headers.get("set-cookie")!.split(";")[0];
    } finally {
      await balancer.shutdown();
    }
  };
  try {
    const expected = `rb=${cookieToken(SECRET, app.url)}`;
    assert.equal(await cookieOf(SECRET), expected);
    assert.equal(await cookieOf(SECRET), expected);
    assert.notEqual(await cookieOf(), await cookieOf());
  } finally {
    await app.shutdown();
  }
});

Deno.test("the secret is not in GET /config, /status, reload logs or check-config; /status names the sticky mode", async () => {
  const app = serve(() => new Response("ok"));
  try {
    const config = {
      backends: [app.url],
      sticky: { cookie: "rb" },
      stickySecret: SECRET,
      admin: { port: 0 },
      accessLog: "off",
    };
    await withInstance(config, async ({ admin, path, logs, instance }) => {
      const configText = await (await fetch(`${admin}/config`)).text();
      assert.ok(!configText.includes(SECRET), configText);
      assert.deepEqual(JSON.parse(configText).config.sticky, { cookie: "rb" });
      const status = await (await fetch(`${admin}/status`)).json();
      assert.deepEqual(status.sticky, { cookie: "rb" });
      assert.ok(!JSON.stringify(status).includes(SECRET));

      await Deno.writeTextFile(path, JSON.stringify({ ...config, stickySecret: `${SECRET}-2` }));
      const outcome = await instance.live.reload("test");
      assert.ok(outcome.ok);
      assert.deepEqual(outcome.changes, ["stickySecret: changed"]);
      assert.ok(!logs.some((line) => line.includes(SECRET)), logs.join("\n"));
      const response = await fetch(instance.running.url);
      await response.body?.cancel();
      assert.equal(
        response.headers.get("set-cookie")?.split(";")[0],
        `rb=${cookieToken(`${SECRET}-2`, app.url)}`,
      );
    });
  } finally {
    await app.shutdown();
  }
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/c.json`;
    await Deno.writeTextFile(file, JSON.stringify({ backends: [BACKEND], stickySecret: SECRET }));
    for (
      const args of [["check-config", file], ["check-config", "--json", file], [
        "balance",
        "--help",
      ]]
    ) {
      const { code, stdout, stderr } = await run(args);
      const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, text);
      assert.ok(!text.includes(SECRET), `${args.join(" ")} shows the secret`);
      if (args.length === 2 && args[0] === "check-config") {
        assert.match(text, /stickySecret\s+\(set, not shown\)/);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function run(args: string[], env: Record<string, string> = {}) {
  return roundaboutCommand(args, { env }).output();
}

Deno.test("with --workers 2 and no secret, every worker accepts the cookies the others set", async () => {
  const apps = [0, 1, 2].map(() => serve(() => new Response("ok")));
  const child = roundaboutCommand([
    "balance",
    "--workers",
    "2",
    "--port",
    "0",
    "--access-log",
    "off",
    "--sticky",
    "cookie=rb",
    ...apps.flatMap((app) => ["--backend", app.url]),
  ], { stdout: "null", stderr: "piped" }).spawn();
  let rest: Promise<void> | undefined;
  try {
    const ready = await waitForLine(child.stderr, /listening on http:\/\/\S+ with 2 workers/, []);
    rest = ready.rest;
    const url = /listening on (http:\/\/\S+) with/.exec(ready.line)![1];
    // Fresh connections, so that the kernel spreads them over both workers: a worker with
    // a secret of its own would refuse the cookie and answer by its own round robin.
    const onNewConnection = async (cookie?: string) => {
      const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
      try {
        const response = await fetch(url, { client, headers: cookie ? { cookie } : {} });
        await response.body?.cancel();
        return {
          appUrl: response.headers.get("x-app-url"),
          setCookie: response.headers.get("set-cookie"),
        };
      } finally {
        client.close();
      }
    };
    const first = await onNewConnection();
    const cookie = first.setCookie!.split(";")[0];
    const answers = [];
    for (let i = 0; i < 30; i++) answers.push(await onNewConnection(cookie));
    assert.deepEqual(answers.map((a) => a.appUrl), Array(30).fill(first.appUrl));
    assert.deepEqual(answers.filter((a) => a.setCookie !== null), []);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await rest;
    await Promise.all(apps.map((app) => app.shutdown()));
  }
});

Deno.test("roundabout status names the sticky mode in its heading", () => {
  const document = {
    policy: "round-robin",
    sticky: { header: "x-user" },
    at: "2026-01-02T10:20:00.000Z",
    backends: [],
    draining: [],
  } as unknown as StatusDocument;
  assert.match(statusTable(document), /^policy round-robin, sticky by header x-user, at /);
  assert.match(statusTable({ ...document, sticky: undefined }), /^policy round-robin, at /);
});
