/**
 * Reading the sticky cookie out of a `Cookie` field (`findCookie`, `sticky_cookie.ts`): only a
 * pair named exactly NAME counts, wherever it stands, with `;` or `,` between pairs; the first
 * one whose value is a known token wins, so a stale or foreign cookie of the same name before
 * it does no harm.
 */
import assert from "node:assert/strict";
import { findCookie } from "../balancer/sticky_cookie.ts";
import { backends } from "./_helpers.ts";

const [a, b] = backends(2);
const TOKENS = new Map([["TA", a], ["TB", b]]);

Deno.test("the sticky cookie is found wherever it stands among others", () => {
  const cases: [string, string | undefined][] = [
    ["rb=TA", a.url],
    ["theme=dark; rb=TB; lang=en", b.url],
    ["theme=dark;rb=TB", b.url],
    ["  rb=TA  ", a.url],
    ["theme=dark, rb=TB", b.url], // several Cookie fields joined with commas
    ["rb=stale; rb=TB", b.url], // a cookie of an older path or secret first
  ];
  for (const [field, expected] of cases) {
    assert.equal(findCookie(field, "rb", TOKENS)?.url, expected, field);
  }
});

Deno.test("a pair whose name only ends or contains NAME, or a value that is no token, is no sticky cookie", () => {
  const cases = [
    "",
    "xrb=TA",
    "rbx=TA",
    "x=rb=TA",
    "rb",
    "rb=",
    "rb=TA2",
    'rb="TA"',
    "rb =TA",
    "RB=TA",
    "theme=dark; other=TB",
  ];
  for (const field of cases) assert.equal(findCookie(field, "rb", TOKENS), undefined, field);
});
