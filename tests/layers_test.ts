/**
 * The layer rule: each folder is one layer, and imports go one way, down. A module may
 * import from its own folder or from a folder below it, never from one above. The order is
 * the README's "Layout" drawing; a change that needs an upward import needs a new design
 * (an interface in the lower layer, or the code moved), not an exception here.
 */
import assert from "node:assert/strict";

/** Top to bottom. `main.ts` is the entry point; each other entry is a top-level folder. */
const LAYERS: readonly string[] = [
  "main.ts",
  "cli",
  "app",
  "admin",
  "config",
  "balancer",
  "policies",
  "backends",
  "transports",
  "lib",
];

/**
 * Rooms beside the layers: the mock apps stand alone (they use `lib/` only) and may be
 * started by the commands and the wiring; topologies are data the wiring reads.
 */
const SIDE_ROOMS: Readonly<
  Record<string, { imports: readonly string[]; importedBy: readonly string[] }>
> = {
  mocks: { imports: ["lib"], importedBy: ["cli", "app"] },
  topologies: { imports: [], importedBy: ["app"] },
};

const ROOT = new URL("../", import.meta.url);

/** The layer or side room a repository path belongs to, or undefined (tests, bench, tools). */
function roomOf(path: string): string | undefined {
  const first = path.split("/")[0];
  if (LAYERS.includes(first) || first in SIDE_ROOMS) return first;
  return undefined;
}

/** Why `from` may not import `to` (repository paths), or undefined when it may. */
export function violation(from: string, to: string): string | undefined {
  const source = roomOf(from);
  if (source === undefined) return undefined; // tests, bench and tools may use anything
  const target = roomOf(to);
  if (target === undefined) return `${from} imports ${to}, which is not product code`;
  if (source === target) return undefined;
  const side = SIDE_ROOMS[source];
  if (side !== undefined) {
    return side.imports.includes(target) ? undefined : `${from} (${source}) imports ${to}`;
  }
  const targetSide = SIDE_ROOMS[target];
  if (targetSide !== undefined) {
    return targetSide.importedBy.includes(source) ? undefined : `${from} imports ${to}`;
  }
  return LAYERS.indexOf(target) > LAYERS.indexOf(source)
    ? undefined
    : `${from} (layer ${source}) imports ${to} (layer ${target}, above it)`;
}

/** Relative specifiers in import declarations, dynamic imports and `new URL(…, import.meta.url)`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*|new URL\(\s*)["'](\.{1,2}\/[^"']*)["']/g;

async function* sourceFiles(dir: URL, prefix = ""): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = prefix + entry.name;
    if (entry.isDirectory) {
      if (roomOf(path) !== undefined || prefix !== "") {
        yield* sourceFiles(new URL(`${entry.name}/`, dir), `${path}/`);
      }
    } else if (path.endsWith(".ts") && roomOf(path) !== undefined) {
      yield path;
    }
  }
}

function resolvePath(from: string, specifier: string): string {
  const url = new URL(specifier, new URL(from, "file:///repo/"));
  return url.pathname.replace(/^\/repo\//, "");
}

Deno.test("the layer rule refuses an upward import and allows a downward one", () => {
  assert.match(violation("lib/time.ts", "balancer/balancer.ts") ?? "", /above it/);
  assert.match(violation("backends/health.ts", "balancer/options.ts") ?? "", /above it/);
  assert.match(violation("mocks/flaky.ts", "policies/policy.ts") ?? "", /mocks/);
  assert.match(violation("balancer/server.ts", "bench/processes.ts") ?? "", /not product code/);
  assert.equal(violation("balancer/balancer.ts", "lib/time.ts"), undefined);
  assert.equal(violation("cli/up.ts", "mocks/mod.ts"), undefined);
  assert.equal(violation("tests/x_test.ts", "cli/main.ts"), undefined);
});

Deno.test("every import in the product goes down the layers", async () => {
  const problems: string[] = [];
  let imports = 0;
  for await (const path of sourceFiles(ROOT)) {
    const text = await Deno.readTextFile(new URL(path, ROOT));
    for (const match of text.matchAll(SPECIFIER)) {
      imports++;
      const problem = violation(path, resolvePath(path, match[1]));
      if (problem !== undefined) problems.push(problem);
    }
  }
  assert.ok(imports > 100, `only ${imports} imports found: the scan is broken`);
  assert.deepEqual(problems, []);
});
