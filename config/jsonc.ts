/**
 * JSON with comments (`//` and `/* *\/`) and trailing commas, as editors write config files.
 * Deno has no JSONC parser without JSR, and `JSON.parse` gives no position for most of its
 * errors, so this is a small recursive-descent parser of its own: every syntax error names
 * its line and column, and a key given twice in one object is an error (the second would
 * silently win otherwise).
 *
 * @module
 */

/** A JSONC text that is not valid, with where it went wrong. */
export class JsoncError extends SyntaxError {
  constructor(readonly reason: string, readonly line: number, readonly column: number) {
    super(`line ${line}, column ${column}: ${reason}`);
    this.name = "JsoncError";
  }
}

/**
 * Parses JSON that may contain comments and trailing commas.
 *
 * @throws {JsoncError} naming the line and column of the first syntax error.
 * @example
 * ```ts
 * import { parseJsonc } from "./jsonc.ts";
 * parseJsonc('{ "a": 1, // one\n }'); // { a: 1 }
 * ```
 */
export function parseJsonc(text: string): unknown {
  const parser = new Parser(text);
  parser.space();
  const value = parser.value();
  parser.space();
  if (parser.i < text.length) parser.fail("unexpected text after the end of the document");
  return value;
}

/** Deepest nesting accepted; a config file needs a handful, and recursion must stay bounded. */
const MAX_DEPTH = 64;

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LITERALS: readonly [string, unknown][] = [["true", true], ["false", false], ["null", null]];

class Parser {
  i = 0;
  depth = 0;
  constructor(readonly text: string) {}

  value(): unknown {
    const c = this.text[this.i];
    if (c === "{" || c === "[") {
      if (++this.depth > MAX_DEPTH) this.fail(`nested more than ${MAX_DEPTH} levels deep`);
      const nested = c === "{" ? this.object() : this.array();
      this.depth--;
      return nested;
    }
    if (c === '"') return this.string();
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    for (const [word, value] of LITERALS) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return value;
      }
    }
    if (c === undefined) this.fail("unexpected end of the document, expected a value");
    this.fail(`unexpected ${show(c)}, expected a value`);
  }

  object(): Record<string, unknown> {
    const result: Record<string, unknown> = {};
    this.i++; // {
    this.space();
    while (this.text[this.i] !== "}") {
      if (this.text[this.i] !== '"') this.expected('a "key" or }');
      const keyAt = this.i;
      const key = this.string();
      if (Object.hasOwn(result, key)) {
        this.i = keyAt;
        this.fail(`key ${JSON.stringify(key)} is given twice in this object`);
      }
      this.space();
      if (this.text[this.i] !== ":") this.expected(":");
      this.i++;
      this.space();
      // defineProperty, so that a key named __proto__ is an ordinary key.
      Object.defineProperty(result, key, {
        value: this.value(),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.space();
      if (this.text[this.i] === ",") {
        this.i++;
        this.space();
      } else if (this.text[this.i] !== "}") {
        this.expected(", or }");
      }
    }
    this.i++; // }
    return result;
  }

  array(): unknown[] {
    const result: unknown[] = [];
    this.i++; // [
    this.space();
    while (this.text[this.i] !== "]") {
      if (this.text[this.i] === ",") this.expected("a value or ]");
      result.push(this.value());
      this.space();
      if (this.text[this.i] === ",") {
        this.i++;
        this.space();
      } else if (this.text[this.i] !== "]") {
        this.expected(", or ]");
      }
    }
    this.i++; // ]
    return result;
  }

  string(): string {
    const start = this.i;
    this.i++; // "
    while (this.i < this.text.length) {
      const c = this.text[this.i];
      if (c === '"') {
        this.i++;
        try {
          return JSON.parse(this.text.slice(start, this.i));
        } catch {
          this.i = start;
          this.fail("invalid escape or control character in this string");
        }
      }
      if (c === "\n") break;
      this.i += c === "\\" ? 2 : 1;
    }
    this.i = start;
    this.fail("string not closed on its line");
  }

  number(): number {
    NUMBER.lastIndex = this.i;
    const match = NUMBER.exec(this.text);
    if (!match) this.fail("invalid number");
    this.i += match[0].length;
    return Number(match[0]);
  }

  /** Skips whitespace and comments. */
  space(): void {
    const text = this.text;
    while (this.i < text.length) {
      const c = text[this.i];
      if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\uFEFF") {
        this.i++;
      } else if (c === "/" && text[this.i + 1] === "/") {
        const end = text.indexOf("\n", this.i);
        this.i = end === -1 ? text.length : end;
      } else if (c === "/" && text[this.i + 1] === "*") {
        const end = text.indexOf("*/", this.i + 2);
        if (end === -1) this.fail("comment not closed with */");
        this.i = end + 2;
      } else {
        return;
      }
    }
  }

  expected(what: string): never {
    const c = this.text[this.i];
    this.fail(
      c === undefined ? `unexpected end, expected ${what}` : `expected ${what}, found ${show(c)}`,
    );
  }

  fail(reason: string): never {
    const before = this.text.slice(0, this.i);
    const line = before.split("\n").length;
    const column = this.i - before.lastIndexOf("\n");
    throw new JsoncError(reason, line, column);
  }
}

function show(c: string): string {
  return JSON.stringify(c);
}
