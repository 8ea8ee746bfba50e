/**
 * A response the backend cuts after its head reached the client is never passed off as
 * complete: the client's read of the body fails (Deno.serve ends the connection without
 * finishing the body), and the cut counts against the backend in its figures, its health,
 * the status document and the metrics. On both transports.
 */
import { rawBackend } from "./_helpers.ts";
import assert from "node:assert/strict";
import { Metrics } from "../admin/metrics.ts";
import { FakeClock } from "./_fake_clock.ts";
import { TRANSPORTS } from "../transports/mod.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { statusSnapshot } from "../admin/status.ts";
import { startMock } from "../mocks/mod.ts";

interface Cut {
  readonly url: string;
  close(): Promise<void>;
}

/** A backend that answers `head` plus `body` on every connection, then closes it. */
function cuttingBackend(head: string, body: string): Cut {
  return rawBackend(async (conn) => {
    await conn.read(new Uint8Array(16 * 1024));
    await conn.write(new TextEncoder().encode(head + body));
  });
}

async function withBalancer(
  transportName: string,
  backendUrl: string,
  test: (balancer: RunningBalancer, clock: FakeClock, metrics: Metrics) => Promise<void>,
): Promise<void> {
  const clock = new FakeClock();
  const metrics = new Metrics();
  const logs: string[] = [];
  const balancer = startBalancer({
    transport: TRANSPORTS[transportName](),
    port: 0,
    backends: [{ url: backendUrl, weight: 1 }],
    clock: clock.now,
    onRequest: metrics.onRequest,
    onEject: metrics.onEject,
    log: (line) => logs.push(line),
  });
  try {
    await test(balancer, clock, metrics);
  } finally {
    await balancer.shutdown();
  }
  // The ejection is logged as such; the cut is not an internal error of the balancer.
  assert.ok(logs.some((line) => line.includes("marked failed")), logs.join("\n"));
  assert.ok(!logs.some((line) => line.startsWith("internal error")), logs.join("\n"));
}

/** Asserts that the only backend was blamed for a cut body, everywhere it shows. */
function assertBlamed(balancer: RunningBalancer, clock: FakeClock, metrics: Metrics): void {
  const [backend] = balancer.balancer.backends;
  const status = statusSnapshot(balancer.balancer, clock.now()).backends[0];
  assert.equal(status.failures, 1);
  assert.equal(status.state, "failed");
  assert.match(status.lastError?.detail ?? "", /closed before the response body ended/);
  const text = metrics.render(balancer.balancer.backends, clock.now());
  assert.match(text, new RegExp(`roundabout_ejections_total\\{backend="${backend.url}"\\} 1`));
  assert.match(
    text,
    new RegExp(`roundabout_backend_state\\{backend="${backend.url}",state="failed"\\} 1`),
  );
  assert.equal(backend.inFlight, 0);
}

for (const transportName of Object.keys(TRANSPORTS)) {
  Deno.test(`a content-length body the backend cuts fails the client's read and counts against the backend [${transportName}]`, async () => {
    const app = await startMock("reset");
    try {
      await withBalancer(transportName, app.url, async (balancer, clock, metrics) => {
        const response = await fetch(balancer.url);
        assert.equal(response.status, 200);
        assert.equal(response.headers.get("content-length"), "1024");
        // Not a clean short body: the read itself fails.
        await assert.rejects(response.text(), TypeError);
        assertBlamed(balancer, clock, metrics);
      });
    } finally {
      await app.close();
    }
  });

  Deno.test(`a chunked body the backend cuts fails the client's read and counts against the backend [${transportName}]`, async () => {
    const backend = cuttingBackend(
      "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n",
      "6\r\npartia\r\n",
    );
    try {
      await withBalancer(transportName, backend.url, async (balancer, clock, metrics) => {
        const response = await fetch(balancer.url);
        assert.equal(response.status, 200);
        await assert.rejects(response.text(), TypeError);
        assertBlamed(balancer, clock, metrics);
      });
    } finally {
      await backend.close();
    }
  });
}
