/**
 * The validator behind the configuration (lib/check.ts): each combinator, the paths of nested
 * problems, unknown keys, what a union reports, and the JSON Schema each one describes.
 */
import assert from "node:assert/strict";
import * as v from "../lib/check.ts";

/** The problems of `value` as `path: message` lines, to compare at a glance. */
function problems(check: v.Check<unknown>, value: unknown): string[] {
  return check.issues(value).map((issue) => {
    const unknown = issue.unknownKeys === undefined
      ? ""
      : ` unknown ${issue.unknownKeys.keys.join(",")} of ${issue.unknownKeys.known.join(",")}`;
    return `${issue.path.join(".")}: ${issue.message}${unknown}`;
  });
}

Deno.test("a string: its kind, minimum length, pattern and prefix; every failed rule is told", () => {
  const name = v.string("expected a name").min(2, "too short").regex(/^[a-z]*$/, "lower case");
  assert.deepEqual(problems(name, "ab"), []);
  assert.deepEqual(problems(name, 5), [": expected a name"]);
  assert.deepEqual(problems(name, "A"), [": too short", ": lower case"]);
  const path = v.string().startsWith("/", "expected /");
  assert.deepEqual(problems(path, "/x"), []);
  assert.deepEqual(problems(path, "x"), [": expected /"]);
  assert.deepEqual(problems(path, null), [": expected a string"]);
});

Deno.test("a fatal pattern skips the rules after it; a refinement runs on a valid kind only", () => {
  const seen: string[] = [];
  const digits = v.string("expected digits").regex(/^\d+$/, "expected digits", { fatal: true })
    .refine((text) => {
      seen.push(text);
      return Number(text) > 9 ? "expected one digit" : undefined;
    });
  assert.deepEqual(problems(digits, "x"), [": expected digits"]);
  assert.deepEqual(problems(digits, 7), [": expected digits"]);
  assert.deepEqual(problems(digits, "12"), [": expected one digit"]);
  assert.deepEqual(problems(digits, "3"), []);
  assert.deepEqual(seen, ["12", "3"]);
});

Deno.test("a number: finite, whole (a fraction or an unsafe integer is told once), bounds", () => {
  const port = v.number("expected a port").int("expected a port").min(1, "expected a port")
    .max(9, "too big");
  assert.deepEqual(problems(port, 5), []);
  assert.deepEqual(problems(port, "5"), [": expected a port"]);
  assert.deepEqual(problems(port, Number.NaN), [": expected a port"]);
  assert.deepEqual(problems(port, Infinity), [": expected a port"]);
  assert.deepEqual(problems(port, -1.5), [": expected a port"]);
  assert.deepEqual(problems(port, 2 ** 53), [": expected a port"]);
  assert.deepEqual(problems(port, 0), [": expected a port"]);
  assert.deepEqual(problems(port, 10), [": too big"]);
  const share = v.number().min(0, "low").max(1, "high");
  assert.deepEqual(problems(share, 0.5), []);
  assert.deepEqual(problems(share, true), [": expected a number"]);
});

Deno.test("a boolean, a literal and one of a few words", () => {
  assert.deepEqual(problems(v.boolean(), false), []);
  assert.deepEqual(problems(v.boolean("expected true or false"), "yes"), [
    ": expected true or false",
  ]);
  const on = v.literal(true, "expected true");
  assert.deepEqual(problems(on, true), []);
  assert.deepEqual(problems(on, false), [": expected true"]);
  const colour = v.oneOf(["red", "green"], "expected red or green");
  assert.deepEqual(problems(colour, "green"), []);
  assert.deepEqual(problems(colour, "blue"), [": expected red or green"]);
  assert.deepEqual(problems(colour, 1), [": expected red or green"]);
});

Deno.test("an array: its kind, each item under its index (holes too), a minimum length", () => {
  const list = v.array(v.string("expected a word"), "expected a list").min(1, "expected one");
  assert.deepEqual(problems(list, ["a", "b"]), []);
  assert.deepEqual(problems(list, "a"), [": expected a list"]);
  assert.deepEqual(problems(list, {}), [": expected a list"]);
  assert.deepEqual(problems(list, ["a", 2, "c", null]), [
    "1: expected a word",
    "3: expected a word",
  ]);
  // deno-lint-ignore no-sparse-arrays
  assert.deepEqual(problems(list, ["a", , "c"]), ["1: expected a word"]);
  assert.deepEqual(problems(list, []), [": expected one"]);
});

Deno.test("an object: fields in order, required and optional ones, unknown keys with the known", () => {
  const point = v.object({
    x: v.number("expected x"),
    y: v.number("expected y").optional(),
  }, "expected a point");
  assert.deepEqual(problems(point, { x: 1 }), []);
  assert.deepEqual(problems(point, { x: 1, y: undefined }), []);
  assert.deepEqual(problems(point, [1, 2]), [": expected a point"]);
  assert.deepEqual(problems(point, null), [": expected a point"]);
  assert.deepEqual(problems(point, { y: "2" }), ["x: expected x", "y: expected y"]);
  assert.deepEqual(problems(point, { x: 1, z: 3, __proto__x: 0 }), [
    ": expected a point unknown z,__proto__x of x,y",
  ]);
  // A key JSON.parse makes own, as unknown as any other.
  assert.deepEqual(problems(point, JSON.parse('{ "x": 1, "__proto__": 2 }')), [
    ": expected a point unknown __proto__ of x,y",
  ]);
  assert.deepEqual(problems(v.object({}), 1), [": expected an object"]);
});

Deno.test("nested problems carry their whole path, each found wherever it is", () => {
  const config = v.object({
    servers: v.array(v.object({ port: v.number("expected a port").int("expected a port") })),
    names: v.record(v.string(), v.object({ on: v.boolean() })).optional(),
  });
  const value = {
    servers: [{ port: 1 }, { port: 1.5 }, { port: 2, extra: true }],
    names: { a: { on: "yes" }, b: { on: true } },
  };
  assert.deepEqual(problems(config, value), [
    "servers.1.port: expected a port",
    "servers.2: expected an object unknown extra of port",
    "names.a.on: expected a boolean",
  ]);
  assert.deepEqual(config.issues(value)[0].path, ["servers", 1, "port"]);
  assert.equal(config.issues(value)[0].input, 1.5);
});

Deno.test("a record: its kind, a bad key named in the record's words, `__proto__` skipped", () => {
  const headers = v.record(
    v.string().regex(/^[a-z-]+$/, "expected a header name"),
    v.string("expected a value"),
    "expected headers",
  );
  assert.deepEqual(problems(headers, { "x-a": "1" }), []);
  assert.deepEqual(problems(headers, ["x"]), [": expected headers"]);
  const issues = headers.issues({ "Bad Name": "1", "x-b": 2 });
  assert.deepEqual(issues.map((issue) => [issue.path, issue.message, issue.input]), [
    [["Bad Name"], "expected headers", "Bad Name"],
    [["x-b"], "expected a value", 2],
  ]);
  assert.deepEqual(problems(headers, JSON.parse('{ "__proto__": 5 }')), []);
});

Deno.test("a union: the first option that fits; else the problems of the one of the right kind", () => {
  const url = v.string("expected a URL").refine((text) =>
    text.startsWith("http") ? undefined : "is not a URL"
  );
  const backend = v.union(
    [url, v.object({ url, weight: v.number("expected a weight").optional() })],
    "expected a URL or an object",
  );
  assert.deepEqual(problems(backend, "http://a"), []);
  assert.deepEqual(problems(backend, { url: "http://a" }), []);
  // Of the right kind for one option only: that option's words.
  assert.deepEqual(problems(backend, "ftp://a"), [": is not a URL"]);
  assert.deepEqual(problems(backend, { url: "ftp://a" }), ["url: is not a URL"]);
  assert.deepEqual(problems(backend, { url: "http://a", colour: 1 }), [
    ": expected an object unknown colour of url,weight",
  ]);
  // Of no option's kind, or the wrong kind inside one: the union's own words.
  assert.deepEqual(problems(backend, 5), [": expected a URL or an object"]);
  assert.deepEqual(problems(backend, { url: 5 }), [": expected a URL or an object"]);
  assert.deepEqual(problems(backend, { weight: 1 }), [": expected a URL or an object"]);
});

Deno.test("a refinement with `when` runs despite problems it does not mind", () => {
  const one = v.object({ a: v.string().optional(), b: v.string().optional() }, "expected one")
    .refine(
      (value) => Object.keys(value).length === 1 ? undefined : "expected exactly one",
      { when: (issues) => issues.every((issue) => issue.path.length > 0) },
    );
  assert.deepEqual(problems(one, { a: "x" }), []);
  assert.deepEqual(problems(one, {}), [": expected exactly one"]);
  assert.deepEqual(problems(one, { a: 1, b: "y" }), [
    "a: expected a string",
    ": expected exactly one",
  ]);
  assert.deepEqual(problems(one, { c: 1 }), [": expected one unknown c of a,b"]);
  assert.deepEqual(problems(one, 1), [": expected one"]);
});

Deno.test("parse gives the value when valid, else the problems; checks are not changed by use", () => {
  const word = v.string("expected a word");
  assert.deepEqual(word.parse("x"), { ok: true, value: "x" });
  const parsed = word.parse(1);
  assert.equal(parsed.ok, false);
  assert.equal(!parsed.ok && parsed.issues[0].message, "expected a word");
  const described = word.describe("A word.");
  const optional = word.optional();
  assert.equal(word.isOptional, false);
  assert.equal(optional.isOptional, true);
  assert.deepEqual(problems(optional, undefined), []);
  assert.deepEqual(problems(word, undefined), [": expected a word"]);
  assert.deepEqual(word.toJsonSchema(), { type: "string" });
  assert.deepEqual(described.toJsonSchema(), { type: "string", description: "A word." });
});

Deno.test("each check describes itself as JSON Schema", () => {
  assert.deepEqual(v.string().min(1, "").toJsonSchema(), { type: "string", minLength: 1 });
  assert.deepEqual(v.string().startsWith("/", "").toJsonSchema(), {
    type: "string",
    pattern: "^\\/.*",
  });
  assert.deepEqual(v.string().startsWith("/", "").regex(/^\S*$/, "").toJsonSchema(), {
    type: "string",
    allOf: [{ pattern: "^\\/.*" }, { pattern: "^\\S*$" }],
  });
  assert.deepEqual(v.number().int("").min(0, "").max(9, "").toJsonSchema(), {
    type: "integer",
    minimum: 0,
    maximum: 9,
  });
  assert.deepEqual(v.number().max(1, "").toJsonSchema(), { type: "number", maximum: 1 });
  assert.deepEqual(v.boolean().toJsonSchema(), { type: "boolean" });
  assert.deepEqual(v.literal(true, "").toJsonSchema(), { type: "boolean", const: true });
  assert.deepEqual(v.oneOf(["a", "b"], "").toJsonSchema(), { type: "string", enum: ["a", "b"] });
  assert.deepEqual(v.array(v.boolean()).min(1, "").toJsonSchema(), {
    type: "array",
    items: { type: "boolean" },
    minItems: 1,
  });
  assert.deepEqual(
    v.object({ a: v.boolean(), b: v.boolean().optional().describe("B.") })
      .refine(() => undefined).json({ minProperties: 1 }).describe("Both.").toJsonSchema(),
    {
      type: "object",
      properties: { a: { type: "boolean" }, b: { type: "boolean", description: "B." } },
      required: ["a"],
      additionalProperties: false,
      minProperties: 1,
      description: "Both.",
    },
  );
  assert.deepEqual(v.record(v.string(), v.boolean()).toJsonSchema(), {
    type: "object",
    propertyNames: { type: "string" },
    additionalProperties: { type: "boolean" },
  });
  assert.deepEqual(v.union([v.boolean(), v.string()], "").toJsonSchema(), {
    anyOf: [{ type: "boolean" }, { type: "string" }],
  });
});
