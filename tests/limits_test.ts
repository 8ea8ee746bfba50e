/**
 * Request size limits and memory: a body over `maxBodyBytes` is answered 413 and a head over
 * `maxHeaderBytes` 431, both JSON, without a backend seeing them; what `Deno.serve` refuses
 * before the balancer can; and an upload to a backend that stops reading is held back by
 * backpressure instead of being buffered. Raw TCP where fetch cannot say what is needed.
 */
import assert from "node:assert/strict";
import { FakeClock } from "./_fake_clock.ts";
import { envLayer, flagLayer, resolve } from "../config/sources.ts";
import { TRANSPORTS } from "../transports/mod.ts";
import type { BalancerOptions } from "../balancer/options.ts";
import { type RunningBalancer, startBalancer } from "../balancer/server.ts";
import { type MockKind, type RunningMock, startMock } from "../mocks/mod.ts";
import { eventually } from "./_helpers.ts";

const encoder = new TextEncoder();

async function withNormal(
  options: Partial<BalancerOptions>,
  test: (balancer: RunningBalancer, app: RunningMock) => Promise<void>,
  transportName = "http1",
  kind: MockKind = "normal",
): Promise<void> {
  const app = await startMock(kind);
  const balancer = startBalancer({
    transport: TRANSPORTS[transportName](),
    port: 0,
    backends: [{ url: app.url, weight: 1 }],
    options,
    clock: new FakeClock().now,
  });
  try {
    await test(balancer, app);
  } finally {
    await balancer.shutdown();
    await app.close();
  }
}

/**
 * Sends `head` on a new connection, then `body` (in the background: the server may stop
 * reading), and returns what came back until the server closed or 3 s passed.
 */
async function rawExchange(port: number, head: string, body?: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const writing = (async () => {
    try {
      await writeAll(conn, encoder.encode(head));
      if (body) await writeAll(conn, body);
    } catch {
      // The server closed: what it answered is what counts.
    }
  })();
  const timer = setTimeout(() => conn.close(), 3_000);
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const count = await conn.read(buffer);
      if (count === null) break;
      chunks.push(buffer.slice(0, count));
      // A complete JSON answer is all these tests need.
      if (new TextDecoder().decode(chunks.at(-1)).endsWith("}")) break;
    }
  } catch {
    // Reset or closed by the timer: keep what arrived.
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Already closed by the timer.
    }
    await writing;
  }
  return new TextDecoder().decode(await new Blob(chunks as BlobPart[]).bytes());
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let rest = bytes; rest.length > 0;) rest = rest.subarray(await conn.write(rest));
}

/** `size` bytes as chunked transfer coding, in 1000-byte chunks, with the last chunk. */
function chunked(size: number): Uint8Array {
  let text = "";
  for (let left = size; left > 0; left -= 1000) {
    const n = Math.min(1000, left);
    text += `${n.toString(16)}\r\n${"x".repeat(n)}\r\n`;
  }
  return encoder.encode(`${text}0\r\n\r\n`);
}

Deno.test("a declared body over maxBodyBytes is answered 413 JSON at once, no backend contacted", async () => {
  await withNormal({ maxBodyBytes: 1_000 }, async (balancer, app) => {
    const response = await fetch(balancer.url, { method: "POST", body: "x".repeat(1_001) });
    assert.equal(response.status, 413);
    assert.deepEqual(await response.json(), {
      error: "request body larger than 1000 bytes",
      limitBytes: 1_000,
    });
    // Only the head of a 1 GB upload: the answer does not wait for the body.
    const raw = await rawExchange(
      balancer.port,
      "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000000\r\n\r\n",
    );
    assert.match(raw, /^HTTP\/1\.1 413 /);
    assert.match(raw, /"limitBytes":1000/);
    const ok = await fetch(balancer.url, { method: "POST", body: JSON.stringify({ a: 1 }) });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    assert.equal(app.arrivals, 1, "only the request within the limit reached the backend");
  });
});

Deno.test("Expect: 100-continue with a declared body over maxBodyBytes: the final 413 comes without the body being sent; the 100 before it is Deno.serve's", async () => {
  // Deno.serve (Deno 2.9.6) writes `100 Continue` as soon as the head is in, before the
  // handler runs and whether or not it reads the body: the balancer cannot hold it back. What
  // it can do, and does, is answer 413 at once, without waiting for a byte of the body.
  await withNormal({ maxBodyBytes: 1_000 }, async (balancer, app) => {
    const raw = await rawExchange(
      balancer.port,
      "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\nexpect: 100-continue\r\n\r\n",
    );
    assert.match(raw, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 413 /);
    assert.match(raw, /\r\nconnection: close\r\n/i);
    assert.match(raw, /"limitBytes":1000/);
    assert.equal(app.arrivals, 0);
  });
});

Deno.test("a chunked body passing maxBodyBytes while it is buffered is answered 413, never sent", async () => {
  await withNormal({ maxBodyBytes: 5_000 }, async (balancer, app) => {
    const raw = await rawExchange(
      balancer.port,
      "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n",
      chunked(8_000),
    );
    assert.match(raw, /^HTTP\/1\.1 413 /);
    assert.match(raw, /"error":"request body larger than 5000 bytes"/);
    assert.equal(app.arrivals, 0);
  });
});

for (const transportName of Object.keys(TRANSPORTS)) {
  Deno.test(`a chunked body passing maxBodyBytes while it streams is cut off and answered 413, with no blame [${transportName}]`, async () => {
    // Past the replay limit the body streams to the backend before the limit is reached.
    const options = { replayLimitBytes: 2_000, maxBodyBytes: 20_000 };
    await withNormal(
      options,
      async (balancer, app) => {
        const raw = await rawExchange(
          balancer.port,
          "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n",
          chunked(200_000),
        );
        assert.match(raw, /^HTTP\/1\.1 413 /);
        assert.match(raw, /"limitBytes":20000/);
        const [backend] = balancer.balancer.backends;
        assert.equal(backend.requests, 1, "a try had started: the body was streaming");
        // Whether its head had left yet depends on the transport's buffering.
        assert.ok(app.arrivals <= 1);
        assert.equal(backend.failures, 0);
        assert.equal(backend.inFlight, 0);
      },
      transportName,
      "blackhole",
    ); // reads and drops what comes, never answers
  });
}

Deno.test("header fields over maxHeaderBytes are answered 431 JSON, no backend contacted", async () => {
  await withNormal({}, async (balancer, app) => {
    const big = { "x-big": "a".repeat(40_000) };
    const refused = await fetch(balancer.url, { headers: big });
    assert.equal(refused.status, 431);
    assert.deepEqual(await refused.json(), {
      error: "request header fields larger than 32768 bytes",
      limitBytes: 32_768,
    });
    assert.equal(app.arrivals, 0);
  });
  await withNormal({ maxHeaderBytes: 0 }, async (balancer, app) => {
    const passed = await fetch(balancer.url, { headers: { "x-big": "a".repeat(40_000) } });
    assert.equal(passed.status, 200, "0 turns the check off");
    await passed.body?.cancel();
    assert.equal(app.arrivals, 1);
  });
});

Deno.test("Deno.serve itself answers 400 and closes for a head over 64 KiB, before the balancer", async () => {
  await withNormal({ maxHeaderBytes: 0 }, async (balancer, app) => {
    const raw = await rawExchange(
      balancer.port,
      `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(70_000)}\r\n\r\n`,
    );
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.match(raw, /connection: close/i);
    assert.equal(app.arrivals, 0);
  });
});

Deno.test("the size limits and the body idle timeout are settings with flags and variables", () => {
  const { settings } = resolve([
    envLayer({ ROUNDABOUT_BACKENDS: "http://a:1", ROUNDABOUT_MAX_BODY_SIZE: "2048" }),
    flagLayer({ "body-idle-timeout": "30s", "max-header-size": "1024", "max-target-size": "512" }),
  ]);
  assert.equal(settings.options.bodyIdleTimeoutMs, 30_000);
  assert.equal(settings.options.maxBodyBytes, 2_048);
  assert.equal(settings.options.maxHeaderBytes, 1_024);
  assert.equal(settings.options.maxTargetBytes, 512);
});

/** A backend that reads a request head and then nothing more, until the connection ends. */
function stallingBackend() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open: Deno.Conn[] = [];
  const reads: Promise<unknown>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      open.push(conn);
      // The head, and not one read more.
      reads.push(conn.read(new Uint8Array(16 * 1024)).catch(() => {}));
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    async close() {
      listener.close();
      await accepting;
      for (const conn of open) conn.close();
      await Promise.all(reads);
    },
  };
}

for (const transportName of Object.keys(TRANSPORTS)) {
  Deno.test(`an upload to a backend that stops reading is held back, then cut after the idle timeout [${transportName}]`, async () => {
    const backend = stallingBackend();
    const balancer = startBalancer({
      transport: TRANSPORTS[transportName](),
      port: 0,
      backends: [{ url: backend.url, weight: 1 }],
      options: { bodyIdleTimeoutMs: 600 },
      clock: new FakeClock().now,
    });
    const total = 64 * 1024 * 1024;
    const chunk = new Uint8Array(64 * 1024);
    let pulled = 0;
    const upload = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= total) return controller.close();
        pulled += chunk.byteLength;
        controller.enqueue(chunk.slice());
      },
    }, { highWaterMark: 0 });
    try {
      // The client may see the 504 or, its upload being cut short, an error.
      const answer = fetch(balancer.url, { method: "POST", body: upload })
        .then(async (response) => {
          await response.body?.cancel();
          return response.status;
        }, (error) => error);
      // Wait until the upload stops moving: the socket buffers on the way are full.
      let seen = -1;
      for (let i = 0; i < 100 && seen !== pulled; i++) {
        seen = pulled;
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      assert.equal(seen, pulled, "the upload stopped while the backend is not reading");
      // What was taken from the client is what the kernel's socket buffers on the two
      // connections hold (7 to 14 MiB measured on loopback, which autotunes them), not the
      // 64 MiB of the upload: the balancer reads from the client only as the backend takes.
      assert.ok(pulled < 24 * 1024 * 1024, `pulled ${pulled} bytes`);
      const outcome = await answer;
      if (typeof outcome === "number") assert.equal(outcome, 504);
      const [blamed] = balancer.balancer.backends;
      await eventually(() => blamed.inFlight === 0, "the try to end");
      assert.equal(blamed.failures, 1);
      assert.equal(blamed.lastError?.detail, "request body not taken for 600ms");
    } finally {
      await balancer.shutdown();
      await backend.close();
    }
  });

  Deno.test(`a slow streamed upload is not cut by the per-try timeout [${transportName}]`, async () => {
    // 12 pieces, one every 40 ms: about 0.5 s of upload against a 150 ms per-try timeout.
    const options = { timeoutMs: 150, replayLimitBytes: 50 };
    await withNormal(options, async (balancer) => {
      let sent = 0;
      const upload = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent === 0) controller.enqueue(encoder.encode('{"text":"'));
          if (sent++ === 12) {
            controller.enqueue(encoder.encode('"}'));
            return controller.close();
          }
          await new Promise((resolve) => setTimeout(resolve, 40));
          controller.enqueue(encoder.encode("x".repeat(100)));
        },
      });
      const response = await fetch(balancer.url, {
        method: "POST",
        body: upload,
        headers: { "content-type": "application/json" },
      });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { text: "x".repeat(1_200) });
      assert.equal(balancer.balancer.backends[0].failures, 0);
    }, transportName);
  });

  Deno.test(`a client that stops sending its streamed body is answered 408, with no blame [${transportName}]`, async () => {
    const options = { replayLimitBytes: 1_000, bodyIdleTimeoutMs: 200 };
    await withNormal(
      options,
      async (balancer, app) => {
        const raw = await rawExchange(
          balancer.port,
          "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n" +
            `7d0\r\n${"x".repeat(2_000)}\r\n`, // and then nothing more
        );
        assert.match(raw, /^HTTP\/1\.1 408 /);
        assert.match(raw, /"error":"request body idle for 200ms"/);
        assert.equal(app.arrivals, 1, "the upload had started towards the backend");
        const [backend] = balancer.balancer.backends;
        assert.equal(backend.failures, 0);
        assert.equal(backend.inFlight, 0);
      },
      transportName,
      "blackhole",
    );
  });
}

/**
 * A backend that reads a request head, answers 401 at once and then holds the connection
 * open without reading another byte of the upload.
 */
function earlyRefusingBackend() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open: Deno.Conn[] = [];
  const answers: Promise<unknown>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      open.push(conn);
      const refusal = "HTTP/1.1 401 Unauthorized\r\ncontent-length: 12\r\n\r\nunauthorized";
      answers.push(
        conn.read(new Uint8Array(16 * 1024)).then(() => conn.write(encoder.encode(refusal)))
          .catch(() => {}),
      );
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    async close() {
      listener.close();
      await accepting;
      await Promise.all(answers);
      for (const conn of open) conn.close();
    },
  };
}

for (const transportName of ["http1", "fetch"]) {
  Deno.test(`an answer that comes before a streamed upload is sent reaches the client at once [${transportName}]`, async () => {
    const backend = earlyRefusingBackend();
    const balancer = startBalancer({
      transport: TRANSPORTS[transportName](),
      port: 0,
      backends: [{ url: backend.url, weight: 1 }],
      // Over the replay limit (1 MiB by default), so the upload streams.
      options: { bodyIdleTimeoutMs: 5_000 },
      clock: new FakeClock().now,
    });
    const total = 24 * 1024 * 1024;
    let pulled = 0;
    const upload = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled >= total) return controller.close();
        pulled += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024));
      },
    }, { highWaterMark: 0 });
    try {
      const started = performance.now();
      const response = await fetch(balancer.url, { method: "POST", body: upload });
      assert.equal(response.status, 401);
      assert.equal(await response.text(), "unauthorized");
      const elapsedMs = performance.now() - started;
      assert.ok(elapsedMs < 1_000, `answered after ${elapsedMs} ms (body idle timeout 5 s)`);
      assert.ok(pulled < total, "the rest of the upload was not waited for");
      const [backend] = balancer.balancer.backends;
      await eventually(() => backend.inFlight === 0, "the try to end");
      assert.equal(backend.failures, 0);
    } finally {
      await balancer.shutdown();
      await backend.close();
    }
  });
}
