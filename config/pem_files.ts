/**
 * Checks of the settings that name PEM files (`tls.cert`, `tls.key`, `backendCa`): both TLS
 * files or neither, each readable and holding what its setting needs. The files are read here
 * so that `check-config` and start-up fail with one clear line each (exit 2) instead of a
 * TLS library's error at listen time. A file's content is never shown: a key is a secret.
 *
 * @module
 */

import { problemLine, type Where } from "./problems.ts";

/** What each PEM setting must hold, and how to say so. */
const EXPECTED: Readonly<Record<string, { pattern: RegExp; words: string }>> = {
  "tls.cert": { pattern: /-----BEGIN CERTIFICATE-----/, words: "a PEM certificate" },
  "tls.key": {
    pattern: /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/,
    words: "an unencrypted PEM private key",
  },
  backendCa: { pattern: /-----BEGIN CERTIFICATE-----/, words: "PEM CA certificates" },
};

/** Problems with the PEM settings, one line each; `valid` says a value passed its schema. */
export function pemProblems(
  value: (path: string) => unknown,
  valid: (path: string) => boolean,
  whereOf: (path: string) => Where,
): string[] {
  const problems: string[] = [];
  const cert = value("tls.cert") as string | undefined;
  const key = value("tls.key") as string | undefined;
  if (valid("tls.cert") && valid("tls.key") && (cert === undefined) !== (key === undefined)) {
    const [given, missing] = cert === undefined ? ["tls.key", "tls.cert"] : ["tls.cert", "tls.key"];
    problems.push(
      problemLine(
        whereOf(given),
        `needs ${missing} too (--${flagOf(missing)}): HTTPS takes a certificate and its key`,
        { value: value(given) },
      ),
    );
  }
  const redirectPort = value("tls.redirectPort");
  if (valid("tls.redirectPort") && redirectPort !== undefined && cert === undefined) {
    problems.push(
      problemLine(
        whereOf("tls.redirectPort"),
        "needs tls.cert and tls.key (--tls-cert, --tls-key): it redirects to HTTPS",
        { value: redirectPort },
      ),
    );
  }
  for (const path of Object.keys(EXPECTED)) {
    const file = value(path);
    if (typeof file !== "string" || !valid(path)) continue;
    const problem = fileProblem(file, EXPECTED[path]);
    if (problem !== undefined) problems.push(problemLine(whereOf(path), problem, { value: file }));
  }
  return problems;
}

function fileProblem(file: string, expected: { pattern: RegExp; words: string }) {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Error
      ? error.name
      : String(error);
    return `cannot be read (${reason})`;
  }
  if (expected.pattern.test(text)) return undefined;
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(text)) {
    return `is an encrypted private key; expected ${expected.words}`;
  }
  return `does not hold ${expected.words}`;
}

function flagOf(path: string): string {
  return path === "tls.cert" ? "tls-cert" : "tls-key";
}
