/**
 * The config file's schema, generated from {@linkcode SETTINGS}: one check for the file, the
 * environment variables and the flags (theirs are turned into file values first, see
 * `sources.ts`), and the source of the JSON Schema editors use.
 *
 * @module
 */

import * as v from "../lib/check.ts";
import { ROUTES } from "./routing.ts";
import { defaultText, POOL_SETTINGS, SECTIONS, type Setting, SETTINGS } from "./settings.ts";
import {
  ADDRESS,
  BACKENDS,
  DURATION,
  FILE_PATH,
  IP_ADDRESSES,
  listOf,
  NAME_SERVER,
  oneOf,
  PORT,
  REQUEST_PATH,
  STICKY,
  SWITCH,
  TOKEN,
  token,
  wholeNumber,
} from "./values.ts";

/** The check of one setting's value, by its type. */
export function valueSchema(setting: Setting): v.Check<unknown> {
  const { min = 0, max = Number.MAX_SAFE_INTEGER, choices = [] } = setting;
  switch (setting.type) {
    case "duration":
      return DURATION;
    case "bytes":
      return wholeNumber(min, max, "a whole number of bytes");
    case "count":
      return wholeNumber(min, max, "a whole number");
    case "port":
      return PORT;
    case "status":
      return wholeNumber(min, max, "a status");
    case "choice":
      return oneOf(choices);
    case "switch":
      return SWITCH;
    case "address":
      return ADDRESS;
    case "addresses":
      return IP_ADDRESSES;
    case "token":
      return setting.min === undefined ? TOKEN : token(setting.min);
    case "path":
      return REQUEST_PATH;
    case "file":
      return FILE_PATH;
    case "list":
      return listOf(choices);
    case "backends":
      return BACKENDS;
    case "nameserver":
      return NAME_SERVER;
    case "sticky":
      return STICKY;
  }
}

/** A setting's description with its default, as the JSON Schema shows it. */
export function describeSetting(setting: Setting): string {
  return `${setting.description} Default ${defaultText(setting)}.`;
}

/**
 * An object of `settings` (dotted paths become sections), every field optional, unknown keys
 * refused; `shape` holds the fields that come before them.
 */
function settingsShape(
  settings: readonly Setting[],
  shape: Record<string, v.Check<unknown>>,
): Record<string, v.Check<unknown>> {
  const sections: Record<string, Record<string, v.Check<unknown>>> = {};
  for (const setting of settings) {
    const field = valueSchema(setting).describe(describeSetting(setting)).optional();
    const [first, key] = setting.path.split(".");
    if (key === undefined) {
      shape[first] = field;
      continue;
    }
    // Claims the section's place among the keys at its first setting, with a stand-in
    // replaced below (the keys' order is the order of "expected one of …" hints and of the
    // JSON Schema).
    if (sections[first] === undefined) shape[first] = v.object({});
    (sections[first] ??= {})[key] = field;
  }
  for (const [name, fields] of Object.entries(sections)) {
    shape[name] = v.object(fields, "expected an object").describe(SECTIONS[name]).optional();
  }
  return shape;
}

/** One pool: the settings marked `pool` in settings.ts, generated from the same entries. */
export const POOL = v.object(
  settingsShape(POOL_SETTINGS, {}),
  "expected an object of pool settings",
).describe(
  "A pool: its own backends, and any of the pool settings; those it does not give " +
    "come from the top level.",
);

function configFile() {
  const shape = settingsShape(SETTINGS, {
    $schema: v.string("expected the URL or path of a JSON Schema")
      .describe("This file's JSON Schema, for editors. Ignored by Roundabout.").optional(),
  });
  shape.pools = v.record(v.string(), POOL, "expected an object of pools by name")
    .describe(
      "Named groups of backends with their own settings, for routes to send " +
        "requests to. The name default is the top level's.",
    ).optional();
  shape.routes = ROUTES.optional();
  return v.object(shape, "expected an object of settings");
}

/** The config file, every field optional; unknown keys are errors. */
export const CONFIG_FILE = configFile();
