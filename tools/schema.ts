/**
 * The files generated from the settings' declarations (`config/settings.ts`): the JSON
 * Schemas for the config file and for topology files, so editors complete and check exactly
 * what Roundabout accepts, and the README's table of settings. `deno task schema` writes
 * them; tests/config_test.ts checks that the committed files are up to date.
 *
 * @module
 */

import type { Check } from "../lib/check.ts";
import { CONFIG_FILE } from "../config/schema.ts";
import {
  CONFIG_DESCRIPTION,
  CONFIG_ENV,
  defaultText,
  envName,
  flagUsage,
  SETTINGS,
} from "../config/settings.ts";
import { TOPOLOGY_FILE } from "../app/topology.ts";

function generate(schema: Check<unknown>, title: string): Record<string, unknown> {
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title,
    ...schema.toJsonSchema(),
  };
}

/** The generated schema files, by path from the repository root. */
export const SCHEMA_FILES: Readonly<Record<string, () => Record<string, unknown>>> = {
  "roundabout.schema.json": () => generate(CONFIG_FILE, "Roundabout configuration"),
  "topologies/topology.schema.json": () =>
    generate(TOPOLOGY_FILE, "Roundabout topology (roundabout up)"),
};

/** A schema as the file holds it. */
export function schemaText(schema: Record<string, unknown>): string {
  return JSON.stringify(schema, null, 2) + "\n";
}

/** The lines around the README's generated table. */
export const README_MARKERS = ["<!-- settings:begin -->", "<!-- settings:end -->"] as const;

/** The README's table of settings, as `deno fmt` lays it out. */
export function settingsTable(): string {
  const code = (text: string) => `\`${text.replaceAll("|", "\\|")}\``;
  const rows = [
    ["flag", "environment variable", "file", "meaning", "default"],
    [code("--config FILE"), code(CONFIG_ENV), "", CONFIG_DESCRIPTION, "none"],
    ...SETTINGS.map((setting) => [
      code(flagUsage(setting)),
      code(envName(setting.path)),
      code(setting.path) + (setting.pool ? " (pools too)" : ""),
      setting.description.replaceAll("|", "\\|"),
      defaultText(setting),
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  const rule = line(widths.map((width) => "-".repeat(width)));
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join("\n");
}

/** `readme` with the text between the markers replaced by the generated table. */
export function withSettingsTable(readme: string): string {
  const [begin, end] = README_MARKERS;
  const start = readme.indexOf(begin);
  const stop = readme.indexOf(end);
  if (start < 0 || stop < start) throw new Error(`README.md: ${begin} … ${end} not found`);
  return `${readme.slice(0, start + begin.length)}\n\n${settingsTable()}\n\n${readme.slice(stop)}`;
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url);
  for (const [path, make] of Object.entries(SCHEMA_FILES)) {
    Deno.writeTextFileSync(new URL(path, root), schemaText(make()));
    console.log(`wrote ${path}`);
  }
  const readme = new URL("README.md", root);
  Deno.writeTextFileSync(readme, withSettingsTable(Deno.readTextFileSync(readme)));
  console.log("wrote the settings table in README.md");
}
