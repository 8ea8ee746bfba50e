/**
 * The configuration model: JSON with comments, one schema for three sources with flags over
 * environment variables over the file over the defaults, every problem reported at once
 * with its path, the value and what was expected, and the JSON Schema kept in step.
 */
import assert from "node:assert/strict";
import { envName, SECTIONS, SETTINGS } from "../config/settings.ts";
import { JsoncError, parseJsonc } from "../config/jsonc.ts";
import { DEFAULT_SETTINGS } from "../config/model.ts";
import { ConfigError } from "../config/problems.ts";
import { SCHEMA_FILES, schemaText, withSettingsTable } from "../tools/schema.ts";
import { durationFlag, portFlag, UsageError } from "../cli/usage.ts";
import { envLayer, fileLayer, flagLayer, resolve } from "../config/sources.ts";
import { BUILT_IN_TOPOLOGIES, readTopology, withAppUrls } from "../app/topology.ts";
import { DEFAULT_OPTIONS } from "../balancer/options.ts";

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("JSON with comments and trailing commas parses; syntax errors name line and column", () => {
  assert.deepEqual(
    parseJsonc(`{
      // a comment
      "a": [1, 2,], /* another */ "b": "// not a comment",
    }`),
    { a: [1, 2], b: "// not a comment" },
  );
  assert.throws(() => parseJsonc('{\n  "a": 1\n  "b": 2\n}'), (error: JsoncError) => {
    assert.equal(error.line, 3);
    assert.equal(error.column, 3);
    assert.match(error.message, /expected , or \}/);
    return true;
  });
  assert.throws(() => parseJsonc('{ "a": 1, "a": 2 }'), /"a" is given twice/);
  assert.throws(() => parseJsonc("{ /* open"), /comment not closed/);
});

Deno.test("flags beat environment variables, which beat the file, which beats the defaults", () => {
  const file = fileLayer(
    "r.json",
    `{ "backends": ["http://a:1"], "timeout": 500, "retryDowntime": "20s", "policy": "least-request" }`,
  );
  const env = envLayer({
    ROUNDABOUT_RETRY_DOWNTIME: "3s",
    ROUNDABOUT_BACKENDS: "http://b:2,weight=3,http://c:3",
    ROUNDABOUT_TIMEOUT: "",
    PATH: "/bin",
  });
  const flags = flagLayer({ "retry-downtime": "4s", "admin-port": "9091" });
  const { settings, origins } = resolve([file, env, flags]);
  assert.deepEqual(settings.backends, [
    { url: "http://b:2", weight: 3 },
    { url: "http://c:3", weight: 1 },
  ]);
  assert.equal(settings.options.timeoutMs, 500, "an empty variable counts as unset");
  assert.equal(settings.options.retryDowntimeMs, 4_000);
  assert.equal(settings.options.policy, "least-request");
  assert.equal(settings.admin.port, 9091);
  assert.equal(settings.options.replayLimitBytes, DEFAULT_OPTIONS.replayLimitBytes);
  assert.equal(settings.listen.port, DEFAULT_SETTINGS.listen.port);
  assert.deepEqual(origins.get("backends"), { source: "env", name: "ROUNDABOUT_BACKENDS" });
  assert.deepEqual(origins.get("timeout"), { source: "file", name: "r.json" });
  assert.deepEqual(origins.get("retryDowntime"), { source: "flag", name: "--retry-downtime" });
  assert.deepEqual(origins.get("replayLimit"), { source: "default", name: "default" });
});

Deno.test("every problem in every source is reported at once, with path, value and expectation", () => {
  const problems = problemsOf(() =>
    resolve([
      fileLayer(
        "bad.json",
        `{
          "listen": { "prot": 80 },
          "backends": ["http://a:1", { "url": "htp://x" }, { "url": "http://b:2", "wieght": 2 }, 5, "http://a:1/"],
          "timeout": "soon",
          "policy": "random",
          "passive": { "countedFailures": ["connect", "boom"] },
          "active": { "expectStatusMin": 500, "expectStatusMax": 400 },
          "admin": { "hostname": "0.0.0.0", "port": 9090 },
        }`,
      ),
      envLayer({ ROUNDABOUT_REPLAY_LIMIT: "lots", ROUNDABOUT_TIMOUT: "1s" }),
      flagLayer({ port: "70000", backend: ["http://q:1,weight=0"] }),
    ])
  );
  const expected = [
    "bad.json: listen.prot: is not a known setting (expected one of hostname, port)",
    'bad.json: backends[1].url: "htp://x" is not an http(s) URL such as http://127.0.0.1:8001',
    "bad.json: backends[2].wieght: is not a known setting (expected one of url, weight)",
    'bad.json: backends[3]: expected a URL string or an object such as { "url": "http://127.0.0.1:8001" }, got 5',
    'bad.json: backends[4]: "http://a:1/" is given twice',
    'bad.json: timeout: expected a duration such as 250ms, 2s or 1m, or a number of milliseconds (0 to 24h), got "soon"',
    `bad.json: policy: expected one of round-robin, weighted-round-robin, least-request, peak-ewma, got "random"`,
    'bad.json: passive.countedFailures[1]: expected one of connect, timeout, reset, 5xx, got "boom"',
    'ROUNDABOUT_REPLAY_LIMIT "lots": expected a whole number of bytes from 0 to 1073741824',
    '--backend "http://q:1,weight=0": weight "0" is not a whole number from 1 to 1000',
    '--port "70000": expected a port number from 0 to 65535',
    "bad.json: active.expectStatusMin: 500 must not exceed active.expectStatusMax (400)",
    'bad.json: admin.hostname: "0.0.0.0" is not a loopback address, so the admin API needs a token',
  ];
  for (const line of expected) {
    assert.ok(
      problems.some((p) => p.startsWith(line)),
      `missing: ${line}\ngot:\n${problems.join("\n")}`,
    );
  }
  assert.ok(problems.some((p) => p.startsWith("ROUNDABOUT_TIMOUT: is not a known setting")));
  assert.equal(problems.length, expected.length + 1, problems.join("\n"));
});

Deno.test("a configuration without backends says how to give them", () => {
  assert.deepEqual(problemsOf(() => resolve([envLayer({}), flagLayer({})])), [
    '--backend is required (or "backends" in the config file, or ROUNDABOUT_BACKENDS), e.g. ' +
    "--backend http://127.0.0.1:8001",
  ]);
  assert.deepEqual(problemsOf(() => resolve([fileLayer("x.json", `{ "backends": [] }`)])), [
    "x.json: backends: expected at least one backend, got []",
  ]);
  assert.match(
    problemsOf(() => resolve([fileLayer("x.json", `{ "backends": [`)]))[0],
    /^x\.json: not valid JSON: line 1, column 16: unexpected end/,
  );
});

Deno.test("every file setting has a flag and an environment variable, and the other way round", () => {
  const schema = SCHEMA_FILES["roundabout.schema.json"]() as {
    properties: Record<string, { properties?: Record<string, unknown> }>;
  };
  const leaves: string[] = [];
  for (const [key, value] of Object.entries(schema.properties)) {
    // pools and routes are structures of the file, not settings: no flag, no variable.
    if (key === "$schema" || key === "pools" || key === "routes") continue;
    // A section's keys are settings; a setting whose value is an object (sticky) is one.
    if (value.properties && Object.hasOwn(SECTIONS, key)) {
      leaves.push(...Object.keys(value.properties).map((k) => `${key}.${k}`));
    } else leaves.push(key);
  }
  assert.deepEqual(leaves.sort(), SETTINGS.map((setting) => setting.path).sort());
  assert.equal(new Set(SETTINGS.map((s) => s.flag)).size, SETTINGS.length, "flags are distinct");
  assert.equal(envName("passive.failuresToEject"), "ROUNDABOUT_PASSIVE_FAILURES_TO_EJECT");
  assert.equal(envName("admin.token"), "ROUNDABOUT_ADMIN_TOKEN");
});

Deno.test("the committed JSON Schemas are what `deno task schema` generates", async () => {
  for (const [path, make] of Object.entries(SCHEMA_FILES)) {
    const committed = await Deno.readTextFile(new URL(`../${path}`, import.meta.url));
    assert.equal(committed, schemaText(make()), `${path} is stale: run deno task schema`);
  }
});

Deno.test("the README's table of settings is what `deno task schema` generates", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  assert.equal(readme, withSettingsTable(readme), "README.md is stale: run deno task schema");
});

Deno.test("DEFAULT_OPTIONS, which code below config/ uses, are the defaults declared in settings.ts", () => {
  assert.deepEqual(DEFAULT_SETTINGS.options, DEFAULT_OPTIONS);
  assert.deepEqual(Object.keys(DEFAULT_SETTINGS).sort(), [
    "accessLog",
    "admin",
    "backendCa",
    "backends",
    "listen",
    "memoryTrim",
    "options",
    "pools",
    "routes",
    "shutdownGraceMs",
    "tls",
    "transport",
    "workers",
  ]);
  const fields = SETTINGS.map((setting) => setting.field).filter((f) => !f.startsWith("options."));
  const leaves = Object.entries(DEFAULT_SETTINGS).flatMap(([key, value]) =>
    key === "options" || key === "pools" || key === "routes"
      ? []
      : key === "listen" || key === "admin" || key === "tls"
      ? Object.keys(value).map((inner) => `${key}.${inner}`)
      : [key]
  );
  assert.deepEqual(leaves.sort(), fields.sort(), "every setting lands in Settings, once");
});

Deno.test("a flag that is not a setting is checked with the settings' words", () => {
  const wordsFor = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      if (error instanceof UsageError || error instanceof ConfigError) {
        return error.message.replace(/^--\w+ /, "");
      }
      throw error;
    }
    assert.fail("expected a refusal");
  };
  const backends = { backend: "http://a:1" };
  assert.equal(
    wordsFor(() => durationFlag({ delay: "soon" }, "delay", 0)),
    wordsFor(() => resolve([flagLayer({ ...backends, timeout: "soon" })])),
  );
  assert.equal(
    wordsFor(() => portFlag({ port: "80a" }, "port", 0)),
    wordsFor(() => resolve([flagLayer({ ...backends, port: "80a" })])),
  );
  assert.equal(durationFlag({ delay: "1.5s" }, "delay", 0), 1_500);
  assert.equal(portFlag({}, "port", 8001), 8001);
});

Deno.test("the built-in topologies and the example config are valid", async () => {
  for (const [name, document] of Object.entries(BUILT_IN_TOPOLOGIES)) {
    const topology = readTopology(name, document);
    assert.ok(topology.apps.length >= 3, name);
    const urls = topology.apps.map((_, i) => `http://a:${i + 1}`);
    resolve([fileLayer(name, JSON.stringify(withAppUrls(topology, urls)))]);
  }
  const example = await Deno.readTextFile(new URL("../examples/roundabout.jsonc", import.meta.url));
  const { settings } = resolve([fileLayer("examples/roundabout.jsonc", example)]);
  assert.equal(settings.backends[1].weight, 2);
  assert.equal(settings.options.active.path, "/health");
});
