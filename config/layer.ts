/**
 * What a source of settings gives (a file, the environment, the flags): one
 * {@linkcode Layer}, and where each value came from. The types only, so that the sources
 * (`sources.ts`, `text_layers.ts`) share them without importing each other.
 *
 * @module
 */

import type { Where } from "./problems.ts";
import type { Setting } from "./settings.ts";

/** Where one setting's value came from (`api`: changed through the admin API). */
export type Source = "default" | "file" | "env" | "flag" | "api";

/** A setting's origin as `check-config` shows it. */
export interface Origin {
  readonly source: Source;
  /** The file, variable or flag that gave it, e.g. `--timeout`; `default` for defaults. */
  readonly name: string;
}

/** Settings given by one source, as file-shaped values not yet checked. */
export interface Layer {
  readonly source: Exclude<Source, "default" | "api">;
  /** The file's name, or `environment` / `command line`. */
  readonly name: string;
  readonly values: Record<string, unknown>;
  /** Problems found before the schema could look (a file that is not JSON, flag syntax). */
  readonly problems: readonly string[];
  /** How a path inside `values` is named in a message. */
  whereOf(path: readonly PropertyKey[]): Where;
  /** How a setting given here is named in `check-config`. */
  originOf(setting: Setting): string;
}
