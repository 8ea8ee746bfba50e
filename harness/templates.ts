/**
 * Config templates (nginx, HAProxy): `{{NAME}}` placeholders filled in and written into a
 * run's temporary folder.
 *
 * @module
 */

/** Fills `{{NAME}}` placeholders; throws on any left unfilled. */
export function render(template: string, values: Record<string, string | number>): string {
  const out = template.replace(/\{\{([A-Z_]+)\}\}/g, (whole, key: string) => {
    const value = values[key];
    return value === undefined ? whole : String(value);
  });
  const left = out.match(/\{\{[A-Z_]+\}\}/);
  if (left) throw new Error(`template placeholder ${left[0]} has no value`);
  return out;
}

/**
 * Reads the template at `templatePath` and writes it filled into `dir` under the same file
 * name; returns the written path. `{{DIR}}` is `dir`.
 */
export async function renderFile(
  templatePath: string,
  dir: string,
  values: Record<string, string | number>,
): Promise<string> {
  const text = render(await Deno.readTextFile(templatePath), { DIR: dir, ...values });
  const path = `${dir}/${templatePath.slice(templatePath.lastIndexOf("/") + 1)}`;
  await Deno.writeTextFile(path, text);
  return path;
}
