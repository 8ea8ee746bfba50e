/**
 * What loading a module costs in resident memory: for each module named, a fresh `deno run` of
 * a file that only imports it, reading its own RSS once loading has settled (300 ms), split
 * into pages of the Deno binary (code of the runtime that loading touched), anonymous memory
 * (the V8 heap, compiled code) and malloc's heap; the first row imports nothing (the runtime's
 * own floor). Each module is measured `--runs` times (default 3) and the median shown, after one
 * unmeasured run that fills Deno's transpile cache (a first run also pays for transpiling).
 *
 * ```sh
 * deno run -A bench/module_memory.ts                      # the default list below
 * deno run -A bench/module_memory.ts hono config/sources.ts --runs 5
 * ```
 *
 * Repository modules are named by their path from the root; anything else (`hono`, `node:net`)
 * as an import specifier, resolved through deno.json's import map.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { REPO_DIR } from "../harness/deno_run.ts";

/** What `balance` may load, and the parts it is made of. */
const DEFAULT_MODULES = [
  "hono",
  "node:net",
  "node:path",
  "config/sources.ts",
  "balancer/server.ts",
  "admin/server.ts",
  "cli/balance.ts",
  "app/instance.ts",
];

/** Runs in the child: reports its RSS by mapping kind, in KiB, as one JSON line. */
const REPORT = `
await new Promise((resolve) => setTimeout(resolve, 300));
const kib = { binary: 0, anon: 0, malloc: 0, other: 0 };
let kind = "other";
for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\\n")) {
  const head = /^[0-9a-f]+-[0-9a-f]+ \\S+ \\S+ \\S+ \\S+\\s*(.*)$/.exec(line);
  if (head) {
    const name = head[1];
    kind = name === Deno.execPath() ? "binary" : name === "" ? "anon" : name === "[heap]"
      ? "malloc"
      : "other";
    continue;
  }
  const rss = /^Rss:\\s+(\\d+) kB/.exec(line);
  if (rss) kib[kind] += Number(rss[1]);
}
console.log(JSON.stringify(kib));
`;

type Kib = Record<"binary" | "anon" | "malloc" | "other", number>;

async function measureOnce(dir: string, specifier: string | undefined): Promise<Kib> {
  const file = `${dir}/probe.ts`;
  const target = specifier === undefined
    ? ""
    : /^[\w./-]+\.ts$/.test(specifier)
    ? `import "${new URL(specifier, `file://${REPO_DIR}/`).href}";`
    : `import "${specifier}";`;
  await Deno.writeTextFile(file, target + REPORT);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", `${REPO_DIR}/deno.json`, file],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    throw new Error(`${specifier}: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return JSON.parse(text.split("\n").at(-1)!);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const mib = (kib: number) => (kib / 1024).toFixed(1).padStart(6);

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { runs: { type: "string", default: "3" } },
    allowPositionals: true,
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) {
    console.error(`--runs must be a whole number from 1 to 20: got "${values.runs}"`);
    Deno.exit(2);
  }
  const modules = [undefined, ...(positionals.length > 0 ? positionals : DEFAULT_MODULES)];
  const dir = await Deno.makeTempDir({ prefix: "module-memory-" });
  try {
    console.log(`RSS MiB after loading (median of ${runs}); Δ is against importing nothing`);
    console.log(`${"module".padEnd(22)}   total  binary    anon  malloc       Δ`);
    let floor: number | undefined;
    for (const specifier of modules) {
      await measureOnce(dir, specifier); // fills the transpile cache
      const samples: Kib[] = [];
      for (let i = 0; i < runs; i++) samples.push(await measureOnce(dir, specifier));
      const pick = (key: keyof Kib) => median(samples.map((s) => s[key]));
      const total = median(samples.map((s) => s.binary + s.anon + s.malloc + s.other));
      floor ??= total;
      console.log(
        `${(specifier ?? "(nothing)").padEnd(22)} ${mib(total)}  ${mib(pick("binary"))}  ` +
          `${mib(pick("anon"))}  ${mib(pick("malloc"))}  ${mib(total - floor)}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
