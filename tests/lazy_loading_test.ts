/**
 * What `roundabout balance` loads at start. Every module loaded costs resident memory for the
 * life of the process (bench/README.md, "Memory"), so what only some runs need is imported
 * when needed, with `import()` of a literal specifier (which `deno compile` still embeds).
 * This reads the module graph `deno info --json` reports and follows static imports only: a
 * static import that pulls one of these back into the start-up path fails here.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

interface Dependency {
  readonly specifier: string;
  readonly code?: { readonly specifier: string };
  readonly isDynamic?: boolean;
}
interface Graph {
  readonly modules: ReadonlyArray<{ specifier: string; dependencies?: Dependency[] }>;
  readonly redirects?: Readonly<Record<string, string>>;
}

async function moduleGraph(entry: string): Promise<Graph> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT.pathname,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

/** Repository paths (and npm:/node: specifiers) reached from `entries` by static imports. */
function staticallyReached(graph: Graph, entries: readonly string[]): Set<string> {
  const byName = new Map(graph.modules.map((m) => [m.specifier, m]));
  const name = (specifier: string) => specifier.replace(ROOT.href, "").replace(/@[^/]*$/, "");
  const seen = new Set<string>();
  const queue = entries.map((entry) => new URL(entry, ROOT).href);
  while (queue.length > 0) {
    const specifier = queue.pop()!;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dependency of byName.get(specifier)?.dependencies ?? []) {
      const target = dependency.code?.specifier;
      if (target === undefined || dependency.isDynamic) continue;
      queue.push(graph.redirects?.[target] ?? target);
    }
  }
  return new Set([...seen].map(name));
}

/**
 * Parts `balance` loads only on demand: the other commands, the admin API, several workers,
 * and the Node modules it can do without (node:path only for a watched config file). zod is
 * not used at all (lib/check.ts checks the settings): it cost 10.5 MiB at start.
 */
const LAZY = [
  /^admin\//,
  /^mocks\//,
  /^npm:\/hono/,
  /^npm:\/?zod\b/,
  /^cli\/(up|mock|status|workers)\.ts$/,
  /^node:(net|path|crypto)$/,
];

Deno.test("balance starts without the admin API, the mock apps, workers or Node modules", async () => {
  const graph = await moduleGraph("main.ts");
  const atStart = staticallyReached(graph, ["main.ts", "cli/balance.ts"]);
  assert.ok(atStart.has("balancer/server.ts"), "the balancer itself is loaded at start");
  const early = [...atStart].filter((path) => LAZY.some((pattern) => pattern.test(path)));
  assert.deepEqual(early, [], "loaded at start although only some runs need them");
});

Deno.test("what is loaded on demand is still in the module graph, for deno compile", async () => {
  const graph = await moduleGraph("main.ts");
  const everything = staticallyReached(graph, []);
  for (const module of graph.modules) everything.add(module.specifier.replace(ROOT.href, ""));
  const onDemand = ["admin/server.ts", "admin/metrics.ts", "cli/up.ts", "cli/workers.ts"];
  for (const path of [...onDemand, "config/watch.ts"]) {
    assert.ok(everything.has(path), `${path} is not in main.ts's module graph`);
  }
});
