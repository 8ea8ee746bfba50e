/**
 * Programs on this machine: whether one is installed, and which version.
 *
 * @module
 */

/** Whether `program` is on PATH. */
export async function installed(program: string): Promise<boolean> {
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", `command -v ${program}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.code === 0;
  } catch {
    return false;
  }
}

/** First line a program prints about its version, or undefined when it is missing. */
export async function versionOf(command: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", `${command} 2>&1 | head -1`],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim() || undefined;
  } catch {
    return undefined;
  }
}
