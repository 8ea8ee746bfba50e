/**
 * Debian's chromium driven by puppeteer-core, for the dashboard's browser tests.
 *
 * @module
 */

import puppeteer, { type Browser } from "puppeteer-core";

const CHROMIUM = "/usr/bin/chromium";

/**
 * The browser tests need Debian's chromium (`apt-get install chromium`; `.ci/run` installs it).
 * Without it they are reported as ignored, with this line saying why, rather than failing on a
 * machine that only has Node and npm.
 */
export const HAS_CHROMIUM = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    console.error(
      `dashboard browser tests ignored: ${CHROMIUM} is missing (apt-get install chromium)`,
    );
    return false;
  }
})();

/** Runs `test` with a headless chromium, always closed. */
export async function withBrowser(test: (browser: Browser) => Promise<void>): Promise<void> {
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--headless=new"],
  });
  try {
    await test(browser);
  } finally {
    await browser.close();
  }
}
