/**
 * JSON Schemas for the config file and for topology files, generated from the same zod
 * model that checks them, so editors complete and check exactly what Roundabout accepts.
 * `deno task schema` writes them; a test checks that the committed files are up to date.
 *
 * @module
 */

import * as z from "zod";
import { CONFIG_FILE } from "../config/model.ts";
import { TOPOLOGY_FILE } from "../app/topology.ts";

function generate(schema: z.ZodType, title: string): Record<string, unknown> {
  const generated = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  const { $schema, ...rest } = generated as Record<string, unknown>;
  return { $schema, title, ...rest };
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

if (import.meta.main) {
  const root = new URL("../", import.meta.url);
  for (const [path, make] of Object.entries(SCHEMA_FILES)) {
    Deno.writeTextFileSync(new URL(path, root), schemaText(make()));
    console.log(`wrote ${path}`);
  }
}
