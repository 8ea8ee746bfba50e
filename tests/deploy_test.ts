/**
 * The deployment files (`deploy/`) agree with the program: these machines cannot pull images
 * or run a cluster, so what can be checked is checked here. Every YAML file parses; the
 * configuration files pass `check-config`; every command and flag the files use exists in
 * the CLI; the probes, ports and stop timeouts match the configuration they run with.
 */
import assert from "node:assert/strict";
import { parse, parseAllDocuments } from "yaml";
import { parseJsonc } from "../config/jsonc.ts";
import { parseDuration } from "../lib/duration.ts";
import { roundaboutCommand } from "./_cli.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DEPLOY = `${ROOT}deploy/`;
const K8S_FILES = ["configmap.yaml", "deployment.yaml", "service.yaml", "backends.yaml"];

// deno-lint-ignore no-explicit-any
type Doc = any;

/** Runs `main.ts` with `args` as `deno run` would, and what it printed. */
async function roundabout(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await roundaboutCommand(args, {
    env,
    clearEnv: false,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, out: decoder.decode(stdout) + decoder.decode(stderr) };
}

function read(path: string): string {
  return Deno.readTextFileSync(`${DEPLOY}${path}`);
}

/** Every document of the Kubernetes manifests, by kind and name. */
function manifests(): Doc[] {
  return K8S_FILES.flatMap((file) =>
    parseAllDocuments(read(`k8s/${file}`)).map((doc) => {
      assert.equal(doc.errors.length, 0, `${file}: ${doc.errors.join("; ")}`);
      return doc.toJS();
    })
  );
}

function manifest(kind: string, name: string): Doc {
  const found = manifests().find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(found, `no ${kind} ${name} in deploy/k8s`);
  return found;
}

/** The configuration file the ConfigMap holds. */
function configMapConfig(): { text: string; config: Doc } {
  const text = manifest("ConfigMap", "roundabout").data["roundabout.jsonc"];
  return { text, config: parseJsonc(text) };
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function dockerfile(): string[] {
  return read("Dockerfile").replace(/\\\n\s*/g, " ").split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"));
}

/** The JSON array of the Dockerfile instruction `name` (after HEALTHCHECK's options). */
function dockerArray(name: "CMD" | "HEALTHCHECK"): string[] {
  const line = dockerfile().find((l) => l.startsWith(`${name} `));
  assert.ok(line, `no ${name} in the Dockerfile`);
  return JSON.parse(line.slice(line.indexOf("[")));
}

function systemdValue(key: string): string {
  const line = read("systemd/roundabout.service").split("\n").find((l) => l.startsWith(`${key}=`));
  assert.ok(line, `no ${key}= in the unit`);
  return line.slice(key.length + 1);
}

function durationMs(text: string): number {
  const ms = parseDuration(text);
  assert.ok(ms !== undefined, `not a duration: ${text}`);
  return ms;
}

/** Every Roundabout command line in deploy/: the words after the binary. */
function commandLines(): { where: string; argv: string[] }[] {
  const lines = [
    { where: "Dockerfile CMD", argv: dockerArray("CMD") },
    { where: "Dockerfile HEALTHCHECK", argv: dockerArray("HEALTHCHECK").slice(1) },
    { where: "systemd ExecStart", argv: systemdValue("ExecStart").split(/\s+/).slice(1) },
  ];
  const compose = parse(read("compose.yaml"));
  for (const [name, service] of Object.entries<Doc>(compose.services)) {
    lines.push({ where: `compose ${name} command`, argv: service.command });
    const test = service.healthcheck?.test;
    if (test) lines.push({ where: `compose ${name} healthcheck`, argv: test.slice(2) });
  }
  for (const m of manifests()) {
    for (const c of m.spec?.template?.spec?.containers ?? []) {
      lines.push({ where: `k8s ${m.kind} ${m.metadata.name}`, argv: c.args });
    }
  }
  return lines;
}

Deno.test("every YAML file under deploy/ parses, and the manifests hold what the README says", () => {
  const compose = parse(read("compose.yaml"));
  assert.deepEqual(Object.keys(compose.services).sort(), ["app", "roundabout"]);
  const kinds = manifests().map((m) => `${m.kind}/${m.metadata.name}`).sort();
  assert.deepEqual(kinds, [
    "ConfigMap/roundabout",
    "Deployment/roundabout",
    "Service/app-headless",
    "Service/roundabout",
    "StatefulSet/app",
  ]);
});

Deno.test("the configuration inside the ConfigMap passes check-config", async () => {
  const dir = await Deno.makeTempDir({ prefix: "roundabout-deploy-" });
  try {
    await Deno.writeTextFile(`${dir}/roundabout.jsonc`, configMapConfig().text);
    // The Deployment gives the token from its Secret; the admin API on 0.0.0.0 needs one.
    const env = { ROUNDABOUT_ADMIN_TOKEN: "a-token-from-the-secret" };
    const { code, out } = await roundabout(["check-config", `${dir}/roundabout.jsonc`], env);
    assert.equal(code, 0, out);
    assert.match(out, /srv\+http:\/\/_http\._tcp\.app-headless\.default\.svc\.cluster\.local/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the image's default configuration passes check-config once ROUNDABOUT_BACKENDS names the backends", async () => {
  const path = `${DEPLOY}roundabout.jsonc`;
  const backends = parse(read("compose.yaml")).services.roundabout.environment.ROUNDABOUT_BACKENDS;
  const ok = await roundabout(["check-config", path], { ROUNDABOUT_BACKENDS: backends });
  assert.equal(ok.code, 0, ok.out);
  const without = await roundabout(["check-config", path]);
  assert.equal(without.code, 2, "no backend from any source is an error");
  assert.match(without.out, /backend/);
});

Deno.test("every command and flag the Dockerfile, compose file, manifests and systemd unit use exists in the CLI", async () => {
  const lines = commandLines();
  const commands = new Set(lines.map((l) => l.argv[0]));
  const main = await roundabout(["--help"]);
  const flagsOf = new Map<string, Set<string>>();
  for (const command of commands) {
    assert.match(main.out, new RegExp(`^  ${command} `, "m"), `unknown command ${command}`);
    const help = await roundabout([command, "--help"]);
    assert.equal(help.code, 0, help.out);
    const flags = [...help.out.matchAll(/--(\[no-\])?([a-z][a-z-]*)/g)]
      .flatMap(([, no, name]) => no ? [name, `no-${name}`] : [name]);
    flagsOf.set(command, new Set(flags));
  }
  assert.ok(lines.length >= 8, "every file was read");
  for (const { where, argv } of lines) {
    for (const word of argv.filter((w) => w.startsWith("--"))) {
      const flag = word.slice(2).split("=")[0];
      assert.ok(flagsOf.get(argv[0])!.has(flag), `${where}: ${argv[0]} has no --${flag}`);
    }
  }
});

Deno.test("the Kubernetes probes ask /readyz and /healthz on the admin port the ConfigMap sets", () => {
  const { config } = configMapConfig();
  const pod = manifest("Deployment", "roundabout").spec.template.spec;
  const container = pod.containers[0];
  const port = (name: string) => container.ports.find((p: Doc) => p.name === name).containerPort;
  assert.equal(container.readinessProbe.httpGet.path, "/readyz");
  assert.equal(container.livenessProbe.httpGet.path, "/healthz");
  assert.equal(port(container.readinessProbe.httpGet.port), config.admin.port);
  assert.equal(port(container.livenessProbe.httpGet.port), config.admin.port);
  // The kubelet calls the pod's address: the admin API must listen beyond loopback, which
  // needs a token (the probes themselves need none).
  assert.equal(config.admin.hostname, "0.0.0.0");
  assert.equal(container.env[0].name, "ROUNDABOUT_ADMIN_TOKEN");
  assert.equal(port("http"), config.listen.port);
  const service = manifest("Service", "roundabout");
  assert.equal(service.spec.ports[0].targetPort, "http");
  // The kubelet's SIGKILL comes only after preStop and the whole drain.
  const stopMs = container.lifecycle.preStop.sleep.seconds * 1000 +
    durationMs(config.shutdownGrace);
  assert.ok(pod.terminationGracePeriodSeconds * 1000 > stopMs);
  assert.equal(container.volumeMounts[0].mountPath, "/etc/roundabout");
  assert.ok(container.args.includes("/etc/roundabout/roundabout.jsonc"));
});

Deno.test("the ConfigMap discovers the StatefulSet's pods through the headless Service's SRV records", () => {
  const { config } = configMapConfig();
  const headless = manifest("Service", "app-headless");
  const app = manifest("StatefulSet", "app");
  assert.equal(headless.spec.clusterIP, "None");
  assert.equal(app.spec.serviceName, "app-headless");
  const port = headless.spec.ports[0];
  assert.equal(port.port, app.spec.template.spec.containers[0].ports[0].containerPort);
  // Kubernetes publishes _<port name>._<protocol>.<service>.<namespace>.svc.cluster.local.
  const namespace = headless.metadata.namespace ?? "default";
  assert.deepEqual(config.backends, [
    `srv+http://_${port.name}._tcp.${headless.metadata.name}.${namespace}.svc.cluster.local`,
  ]);
  assert.equal(config.active.path, "/health", "the mock app's health path");
});

Deno.test("the image's HEALTHCHECK and the compose file use the ports their configuration sets", () => {
  const config = parseJsonc(read("roundabout.jsonc")) as Doc;
  const check = dockerArray("HEALTHCHECK");
  const url = new URL(check[check.indexOf("--url") + 1]);
  assert.equal(url.pathname, "/healthz");
  assert.equal(Number(url.port), config.admin.port);
  assert.equal(config.admin.hostname, "127.0.0.1", "loopback: no token needed inside");
  const expose = dockerfile().find((l) => l.startsWith("EXPOSE"))!.split(/\s+/).slice(1);
  assert.deepEqual(expose.map(Number), [config.listen.port, config.admin.port]);
  const user = dockerfile().find((l) => l.startsWith("USER"))!;
  assert.equal(user, "USER nonroot:nonroot");

  const compose = parse(read("compose.yaml"));
  const app = compose.services.app;
  assert.equal(app.deploy.replicas, 3);
  const appPort = app.command[app.command.indexOf("--port") + 1];
  // Compose's DNS answers the service name with every replica's address: discovery.
  const backends = compose.services.roundabout.environment.ROUNDABOUT_BACKENDS.split(",");
  assert.deepEqual(backends, [`http://app:${appPort}`]);
  assert.deepEqual(compose.services.roundabout.ports, [`8080:${config.listen.port}`]);
  const stopMs = durationMs(compose.services.roundabout.stop_grace_period);
  assert.ok(stopMs > durationMs(config.shutdownGrace));
});

Deno.test("the Dockerfile compiles with the flags of deno task compile", () => {
  const tasks = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks;
  const flags = (line: string) => line.match(/--[a-z-]+(?: cli\/worker\.ts)?/g)!.sort();
  const compile = dockerfile().find((l) => l.includes("deno compile"))!;
  assert.deepEqual(flags(compile), flags(tasks.compile));
  assert.equal(dockerfile().filter((l) => l.startsWith("FROM")).length, 2, "two stages");
});

Deno.test("the systemd unit stops with SIGTERM, waits longer than the grace period, and runs no npx", () => {
  assert.equal(systemdValue("KillSignal"), "SIGTERM");
  const exec = systemdValue("ExecStart");
  assert.match(exec, /^\/usr\/local\/bin\/roundabout balance /);
  assert.doesNotMatch(exec, /npx|deno task/);
  const grace = exec.split(/\s+/)[exec.split(/\s+/).indexOf("--grace") + 1];
  assert.ok(durationMs(systemdValue("TimeoutStopSec")) > durationMs(grace));
});
