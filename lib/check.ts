/**
 * A small validator: checks built from combinators (string, number, object, union, …) that
 * report every problem with its path and the words given to them, and that describe
 * themselves as JSON Schema. It replaces zod, whose schema objects cost the balancer about
 * 10 MiB of resident memory at start (bench/README.md, "Memory at 1,000 idle connections")
 * for the few kinds of check the configuration needs.
 *
 * What it keeps of zod's behaviour, because the messages people see depend on it:
 * - a value of the wrong kind is a *fatal* problem: the checks after it are skipped;
 * - other problems are not: every check of a string runs, so all of them are reported;
 * - a union whose options all fail reports the problems of the one option that was of the
 *   right kind (none fatal), or else its own words.
 *
 * @module
 */

/** One problem, where it is (keys and indexes from the value checked) and what was expected. */
export interface Issue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  /** The value at `path`; for a record's bad key, the key. */
  readonly input: unknown;
  /** The value is not even of the right kind: what would follow would only mislead. */
  readonly fatal: boolean;
  /** A strict object's unknown keys, with the keys it knows (for "expected one of" hints). */
  readonly unknownKeys?: { readonly keys: readonly string[]; readonly known: readonly string[] };
}

/** A JSON Schema, or a part of one. */
export type JsonSchema = Record<string, unknown>;

/** A check after the kind's own: adds problems of a value already of the right kind. */
interface Rule {
  readonly apply: (value: unknown, issues: Issue[]) => void;
  /** Decides whether the rule runs; without it, it runs when nothing before was fatal. */
  readonly when?: (issues: readonly Issue[]) => boolean;
  /** What the rule says in JSON Schema, merged into the kind's own. */
  readonly json?: JsonSchema;
}

/** A check of values of type `T`. Every method returns a new check; checks are shared. */
export abstract class Check<T> {
  protected rules: readonly Rule[] = [];
  protected description?: string;
  protected optionalField = false;

  /** Adds the problems of `value` as a value of this kind (nested ones included). */
  protected abstract kind(value: unknown, issues: Issue[]): void;
  /** This kind's JSON Schema, before its rules' keywords. */
  protected abstract schema(): JsonSchema;

  /** Whether an object may leave this field out. */
  get isOptional(): boolean {
    return this.optionalField;
  }

  /** Every problem of `value`, nested ones with their paths; none when it is valid. */
  issues(value: unknown): Issue[] {
    const issues: Issue[] = [];
    if (value === undefined && this.optionalField) return issues;
    this.kind(value, issues);
    let fatal = issues.some((issue) => issue.fatal);
    for (const rule of this.rules) {
      if (rule.when ? !rule.when(issues) : fatal) continue;
      const before = issues.length;
      rule.apply(value, issues);
      fatal ||= issues.slice(before).some((issue) => issue.fatal);
    }
    return issues;
  }

  /** `value` as a `T` when valid, else its problems. */
  parse(value: unknown): { ok: true; value: T } | { ok: false; issues: Issue[] } {
    const issues = this.issues(value);
    return issues.length === 0 ? { ok: true, value: value as T } : { ok: false, issues };
  }

  /** This check as JSON Schema (what its refinements check is left out). */
  toJsonSchema(): JsonSchema {
    const json = this.schema();
    for (const rule of this.rules) {
      for (const [key, value] of Object.entries(rule.json ?? {})) {
        if (key === "pattern" && (json.pattern !== undefined || json.allOf !== undefined)) {
          // A schema has one pattern, and a string must match each of ours: all of them.
          const all = (json.allOf as JsonSchema[] | undefined) ?? [{ pattern: json.pattern }];
          delete json.pattern;
          json.allOf = [...all, { pattern: value }];
        } else json[key] = value;
      }
    }
    if (this.description !== undefined) json.description = this.description;
    return json;
  }

  /** The same check with a description, for JSON Schema. */
  describe(description: string): this {
    return this.copy((check) => check.description = description);
  }

  /** The same check, and an object may leave the field out. */
  optional(): Check<T | undefined> {
    return this.copy((check) => check.optionalField = true);
  }

  /**
   * Adds a check that `problemOf` makes: the words of the problem, or `undefined`. Like
   * every rule, it runs only when nothing before it was fatal, unless `when` says otherwise.
   */
  refine(
    problemOf: (value: T) => string | undefined,
    options: { when?: (issues: readonly Issue[]) => boolean } = {},
  ): this {
    return this.rule({
      apply: (value, issues) => {
        const message = problemOf(value as T);
        if (message !== undefined) issues.push(issue(message, value));
      },
      when: options.when,
    });
  }

  /** Adds JSON Schema keywords for what a refinement checks (`minProperties`, …). */
  json(keywords: JsonSchema): this {
    return this.rule({ apply: () => {}, json: keywords });
  }

  /** The same check with one more rule. */
  protected rule(rule: Rule): this {
    return this.copy((check) => check.rules = [...check.rules, rule]);
  }

  private copy(change: (check: this) => void): this {
    const check = Object.assign(Object.create(Object.getPrototypeOf(this)), this);
    change(check);
    return check;
  }
}

/** The type of the values a check accepts. */
export type Infer<C> = C extends Check<infer T> ? T : never;

function issue(message: string, input: unknown, fatal = false): Issue {
  return { path: [], message, input, fatal };
}

/** `issues` with `key` put in front of their paths. */
function under(key: PropertyKey, issues: readonly Issue[]): Issue[] {
  return issues.map((item) => ({ ...item, path: [key, ...item.path] }));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A check of the kind `is` tells, with `message` for a value of another kind. */
class KindCheck<T> extends Check<T> {
  constructor(
    private readonly is: (value: unknown) => boolean,
    private readonly message: string,
    private readonly kindSchema: () => JsonSchema,
  ) {
    super();
  }
  protected kind(value: unknown, issues: Issue[]): void {
    if (!this.is(value)) issues.push(issue(this.message, value, true));
  }
  protected schema(): JsonSchema {
    return this.kindSchema();
  }
}

/** A string; its rules all run, so a value breaking two of them is told both. */
export class StringCheck<T extends string = string> extends KindCheck<T> {
  /** At least `min` characters. */
  min(min: number, message: string): this {
    return this.test((text) => text.length >= min, message, { minLength: min });
  }
  /** Matches `pattern`; `fatal` skips the rules after it when it does not. */
  regex(pattern: RegExp, message: string, options: { fatal?: boolean } = {}): this {
    return this.test((text) => pattern.test(text), message, { pattern: pattern.source }, options);
  }
  /** Starts with `prefix`. */
  startsWith(prefix: string, message: string): this {
    const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}.*`);
    return this.test((text) => text.startsWith(prefix), message, { pattern: pattern.source });
  }
  private test(
    ok: (text: string) => boolean,
    message: string,
    json: JsonSchema,
    options: { fatal?: boolean } = {},
  ): this {
    return this.rule({
      apply: (value, issues) => {
        if (!ok(value as string)) issues.push(issue(message, value, options.fatal));
      },
      json,
    });
  }
}

/** A string. */
export function string(message = "expected a string"): StringCheck {
  return new StringCheck((value) => typeof value === "string", message, () => ({
    type: "string",
  }));
}

/** A finite number. */
export class NumberCheck extends KindCheck<number> {
  /** A whole number; a fraction (or one past 2^53) is fatal, the bounds would only repeat it. */
  int(message: string): this {
    return this.rule({
      apply: (value, issues) => {
        if (!Number.isSafeInteger(value)) issues.push(issue(message, value, true));
      },
      json: { type: "integer" },
    });
  }
  /** At least `min`. */
  min(min: number, message: string): this {
    return this.test((n) => n >= min, message, { minimum: min });
  }
  /** At most `max`. */
  max(max: number, message: string): this {
    return this.test((n) => n <= max, message, { maximum: max });
  }
  private test(ok: (n: number) => boolean, message: string, json: JsonSchema): this {
    return this.rule({
      apply: (value, issues) => {
        if (!ok(value as number)) issues.push(issue(message, value));
      },
      json,
    });
  }
}

/** A finite number. */
export function number(message = "expected a number"): NumberCheck {
  return new NumberCheck(Number.isFinite, message, () => ({ type: "number" }));
}

/** True or false. */
export function boolean(message = "expected a boolean"): Check<boolean> {
  return new KindCheck((value) => typeof value === "boolean", message, () => ({
    type: "boolean",
  }));
}

/** Exactly `expected`. */
export function literal<const T extends string | number | boolean>(
  expected: T,
  message: string,
): Check<T> {
  return new KindCheck((value) => value === expected, message, () => ({
    type: typeof expected,
    const: expected,
  }));
}

/** One of a few words. */
export function oneOf<const T extends string>(values: readonly T[], message: string): Check<T> {
  return new KindCheck((value) => values.includes(value as T), message, () => ({
    type: "string",
    enum: [...values],
  }));
}

/** A list whose items `item` checks, each problem under its index. */
export class ArrayCheck<T> extends Check<T[]> {
  constructor(private readonly item: Check<T>, private readonly message: string) {
    super();
  }
  /** At least `min` items. */
  min(min: number, message: string): this {
    return this.rule({
      apply: (value, issues) => {
        if ((value as unknown[]).length < min) issues.push(issue(message, value));
      },
      json: { minItems: min },
    });
  }
  protected kind(value: unknown, issues: Issue[]): void {
    if (!Array.isArray(value)) {
      issues.push(issue(this.message, value, true));
      return;
    }
    for (let i = 0; i < value.length; i++) issues.push(...under(i, this.item.issues(value[i])));
  }
  protected schema(): JsonSchema {
    return { type: "array", items: this.item.toJsonSchema() };
  }
}

/** A list of `item`s. */
export function array<T>(item: Check<T>, message = "expected an array"): ArrayCheck<T> {
  return new ArrayCheck(item, message);
}

type Shape = Record<string, Check<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: undefined extends Infer<S[K]> ? K : never;
}[keyof S];
/** The type of the objects `object(shape)` accepts. */
export type ObjectOf<S extends Shape> =
  & { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> }
  & { [K in OptionalKeys<S>]?: Infer<S[K]> };

/**
 * An object with the fields of `shape`, in its order, and no others: unknown keys are one
 * problem listing them and the known keys. Not fatal, as in zod: a union still takes this
 * option's problems as the ones to report.
 */
class ObjectCheck<S extends Shape> extends Check<ObjectOf<S>> {
  constructor(readonly shape: S, private readonly message: string) {
    super();
  }
  protected kind(value: unknown, issues: Issue[]): void {
    if (!isObject(value)) {
      issues.push(issue(this.message, value, true));
      return;
    }
    for (const [key, field] of Object.entries(this.shape)) {
      const given = Object.hasOwn(value, key) ? value[key] : undefined;
      issues.push(...under(key, field.issues(given)));
    }
    const keys = Object.keys(value).filter((key) => !Object.hasOwn(this.shape, key));
    if (keys.length > 0) {
      issues.push({
        ...issue(this.message, value),
        unknownKeys: { keys, known: Object.keys(this.shape) },
      });
    }
  }
  protected schema(): JsonSchema {
    const entries = Object.entries(this.shape);
    const required = entries.filter(([, field]) => !field.isOptional).map(([key]) => key);
    return {
      type: "object",
      properties: Object.fromEntries(entries.map(([key, field]) => [key, field.toJsonSchema()])),
      ...(required.length > 0 ? { required } : {}),
      additionalProperties: false,
    };
  }
}

/** An object with exactly the fields of `shape` (optional ones may be left out). */
export function object<S extends Shape>(
  shape: S,
  message = "expected an object",
): Check<ObjectOf<S>> {
  return new ObjectCheck(shape, message);
}

/**
 * An object of any keys that `key` accepts, each value checked by `value`. A bad key is
 * a problem of its own, in `message`'s words, naming the key.
 */
class RecordCheck<V> extends Check<Record<string, V>> {
  constructor(
    private readonly key: Check<string>,
    private readonly value: Check<V>,
    private readonly message: string,
  ) {
    super();
  }
  protected kind(value: unknown, issues: Issue[]): void {
    if (!isObject(value)) {
      issues.push(issue(this.message, value, true));
      return;
    }
    for (const [key, entry] of Object.entries(value)) {
      // As zod: `__proto__` is skipped (it would replace the prototype of a copy).
      if (key === "__proto__") continue;
      if (this.key.issues(key).length > 0) {
        issues.push({ path: [key], message: this.message, input: key, fatal: true });
        continue;
      }
      issues.push(...under(key, this.value.issues(entry)));
    }
  }
  protected schema(): JsonSchema {
    return {
      type: "object",
      propertyNames: this.key.toJsonSchema(),
      additionalProperties: this.value.toJsonSchema(),
    };
  }
}

/** An object of `value`s by keys `key` accepts. */
export function record<V>(
  key: Check<string>,
  value: Check<V>,
  message = "expected an object",
): Check<Record<string, V>> {
  return new RecordCheck(key, value, message);
}

/**
 * One of `options`. When all fail: the problems of the one option whose problems are not
 * fatal (the value was of its kind, so its words say what is wrong), or else `message`.
 */
class UnionCheck<T> extends Check<T> {
  constructor(private readonly options: readonly Check<T>[], private readonly message: string) {
    super();
  }
  protected kind(value: unknown, issues: Issue[]): void {
    const results = this.options.map((option) => option.issues(value));
    if (results.some((result) => result.length === 0)) return;
    const kindRight = results.filter((result) => !result.some((item) => item.fatal));
    if (kindRight.length === 1) issues.push(...kindRight[0]);
    else issues.push(issue(this.message, value, true));
  }
  protected schema(): JsonSchema {
    return { anyOf: this.options.map((option) => option.toJsonSchema()) };
  }
}

/** Any one of `options`. */
export function union<const C extends readonly Check<unknown>[]>(
  options: C,
  message: string,
): Check<Infer<C[number]>> {
  return new UnionCheck(options as unknown as Check<Infer<C[number]>>[], message);
}
