/**
 * The command line as a user meets it: bad input ends with exit status 2 and one clear line
 * naming the flag, the value and what was expected, never a stack trace.
 */
import assert from "node:assert/strict";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", "--allow-env", MAIN, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  });
  const { code, stdout, stderr } = await command.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

const BAD_INPUT: [string[], RegExp][] = [
  [["balance", "--backend", "http://127.0.0.1:8001", "--bogus"], /unknown flag --bogus/],
  [["balance", "--backend", "htp://x"], /--backend "htp:\/\/x": is not an http\(s\) URL/],
  [["balance", "--backend", "127.0.0.1:8001"], /is not an http\(s\) URL/],
  [["balance", "--backend", "http://a:1,weight=0"], /weight "0" is not a whole number/],
  [["balance"], /--backend is required/],
  [["balance", "--backend", "http://a:1", "--timeout=-1s"], /--timeout "-1s": expected a duration/],
  [["balance", "--backend", "http://a:1", "--timeout", "-1s"], /flag --timeout needs a value/],
  [["balance", "--backend", "http://a:1", "--timeout", "soon"], /--timeout "soon": expected/],
  [["balance", "--backend", "http://a:1", "--retry-downtime", "5x"], /--retry-downtime "5x"/],
  [["balance", "--backend", "http://a:1", "--port", "70000"], /--port "70000": expected a port/],
  [["balance", "--backend", "http://a:1", "--port"], /flag --port needs a value/],
  [["balance", "--help=1"], /: flag --help takes no value\n/],
  [["balance", "--unk'nown"], /: unknown flag --unk'nown \(see --help\)\n/],
  [
    ["balance", "--backend", "http://a:1", "--policy", "random"],
    /--policy "random": expected one of/,
  ],
  [["balance", "--backend", "http://a:1", "--workers", "0"], /--workers "0": expected a whole/],
  [["balance", "--backend", "http://a:1", "--workers", "two"], /--workers "two": expected a whole/],
  [["up", "--workers", "2"], /up: --workers 2 is not taken here/],
  [["mock", "nonsense"], /mock "nonsense": unknown app/],
  [["mock", "delayed", "--delay", "later"], /--delay "later": expected a duration/],
  [["balance", "--backend", "http://a:1", "--timeout", "2"], /--timeout "2": .*unit: 2s or 2ms/],
  [["mock", "delayed", "--delay", "3000"], /--delay "3000": .*unit: 3000s or 3000ms/],
  [["up", "sideways"], /up "sideways": unknown topology/],
  [["up", "--app-ports", "1,2"], /--app-ports "1,2": expected three different ports/],
  [["frobnicate"], /unknown command "frobnicate"/],
];

Deno.test("bad command-line input ends with status 2 and one line naming what is wrong", async () => {
  const results = await Promise.all(BAD_INPUT.map(([args]) => run(args)));
  for (const [i, [args, expected]] of BAD_INPUT.entries()) {
    const { code, stderr } = results[i];
    const label = args.join(" ");
    assert.equal(code, 2, `${label}: exit status`);
    assert.match(stderr, expected, label);
    assert.equal(stderr.trim().split("\n").length, 1, `${label}: one line, got ${stderr}`);
    assert.doesNotMatch(stderr, /\n\s+at /, `${label}: no stack trace`);
  }
});

Deno.test("a port already in use is reported as such, with status 2", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String((taken.addr as Deno.NetAddr).port);
    const { code, stderr } = await run(["balance", "--backend", "http://a:1", "--port", port]);
    assert.equal(code, 2);
    assert.match(stderr, new RegExp(`--port ${port}: address already in use`));
  } finally {
    taken.close();
  }
});

Deno.test("every command explains itself with --help", async () => {
  for (const args of [["--help"], ["balance", "--help"], ["mock", "--help"], ["up", "--help"]]) {
    const { code, stdout } = await run(args);
    assert.equal(code, 0, args.join(" "));
    assert.match(stdout, /Usage: roundabout/, args.join(" "));
  }
});

Deno.test("a duration without a unit in a variable is an error that suggests one", async () => {
  const { code, stderr } = await run(["balance", "--backend", "http://a:1"], {
    ROUNDABOUT_TIMEOUT: "2",
  });
  assert.equal(code, 2);
  assert.equal(
    stderr.trim(),
    'roundabout: ROUNDABOUT_TIMEOUT "2": a duration needs a unit: 2s or 2ms?',
  );
});

Deno.test("a too-short admin token is refused without echoing it, naming the minimum", async () => {
  const secret = "hunter2";
  const { code, stderr } = await run(["balance", "--backend", "http://a:1"], {
    ROUNDABOUT_ADMIN_TOKEN: secret,
  });
  assert.equal(code, 2);
  assert.match(stderr, /ROUNDABOUT_ADMIN_TOKEN: expected a token of at least 8 characters/);
  assert.ok(!stderr.includes(secret), stderr);
  const help = await run(["balance", "--help"]);
  assert.match(help.stdout, /--admin-token TOKEN[\s\S]*at least 8 characters/);
});

Deno.test("check-config on an unreadable or non-JSON file reports only that problem", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/broken.json`, `{ "timeout": 2s }`);
    await Deno.writeTextFile(`${dir}/config.yaml`, "backends:\n  - http://127.0.0.1:8001\n");
    const cases: [string, RegExp][] = [
      [`${dir}/broken.json`, /broken\.json: not valid JSON/],
      [`${dir}/missing.json`, /missing\.json.*cannot read it \(no such file\)/],
      [`${dir}/config.yaml`, /config\.yaml: not valid JSON/],
    ];
    for (const [file, expected] of cases) {
      const { code, stderr } = await run(["check-config", file]);
      assert.equal(code, 2, file);
      assert.match(stderr, expected, file);
      assert.equal(stderr.trim().split("\n").length, 1, `${file}: one line, got ${stderr}`);
      assert.doesNotMatch(stderr, /--backend is required/, file);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("status pointed at something that is not the admin API says so, with status 2", async () => {
  // What the balancer's port forwards /status to: any backend's own answer.
  const answers = [Response.json({ ok: true }), new Response("<html>hello</html>")];
  let i = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => answers[i++ % answers.length].clone(),
  );
  try {
    for (let round = 0; round < answers.length; round++) {
      const { code, stderr } = await run([
        "status",
        "--admin",
        `http://127.0.0.1:${server.addr.port}`,
      ]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /did not answer like Roundabout's admin API: .*(backends|not JSON)/);
      assert.equal(stderr.trim().split("\n").length, 1, stderr);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("a taken admin port ends with status 2 before the balancer says it listens", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = String((taken.addr as Deno.NetAddr).port);
    const { code, stdout, stderr } = await run([
      "balance",
      "--backend",
      "http://127.0.0.1:1",
      "--port",
      "0",
      "--admin-port",
      port,
    ]);
    assert.equal(code, 2);
    assert.match(stderr, new RegExp(`--admin-port ${port}: address already in use`));
    assert.doesNotMatch(stdout + stderr, /listening on/);
  } finally {
    taken.close();
  }
});

Deno.test("help COMMAND shows that command's help, and --version the version", async () => {
  const help = await run(["help", "balance"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^roundabout balance: /);
  const { VERSION } = await import("../lib/version.ts");
  for (const args of [["--version"], ["version"]]) {
    const { code, stdout } = await run(args);
    assert.equal(code, 0, args.join(" "));
    assert.equal(stdout.trim(), `roundabout ${VERSION}`);
  }
});

Deno.test("mock --help names the command's flags, not option names topology files reject, in lines of at most 100 columns", async () => {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "mock", "--help"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0);
  // The kinds' paragraphs name flags; the run-time mode switch's JSON body below them is
  // another interface, where `delayMs` is the field's name.
  const kinds = text.slice(text.indexOf("Kinds:"), text.indexOf("While it runs"));
  assert.doesNotMatch(kinds, /delayMs|failureRate|trickleIntervalMs/);
  assert.match(text, /delayed +Waits --delay/);
  const long = text.split("\n").filter((line) => line.length > 100);
  assert.deepEqual(long, []);
});
