/**
 * Mock apps for tests that need a few ordinary backends: started on free ports, always closed.
 *
 * @module
 */

import { type RunningMock, startMock } from "../mocks/mod.ts";

/** Runs `test` with `count` normal mock apps, closed afterwards whatever happens. */
export async function withMocks(
  count: number,
  test: (apps: RunningMock[]) => Promise<void>,
): Promise<void> {
  const apps: RunningMock[] = [];
  try {
    for (let i = 0; i < count; i++) apps.push(await startMock("normal"));
    await test(apps);
  } finally {
    await Promise.all(apps.map((app) => app.close()));
  }
}
