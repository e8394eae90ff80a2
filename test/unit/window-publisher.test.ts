import assert from "node:assert/strict";
import { test } from "node:test";
import { Registry } from "prom-client";
import { type PublishTarget, WindowPublisher } from "../../src/bus/window-publisher.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { createBusMetrics, createSensorMetrics } from "../../src/telemetry/metrics.js";
import { makeWindow } from "../helpers/messages.js";
import { waitFor } from "../helpers/sensor-harness.js";

/** A target that fails while `down` and records what it accepted. */
class FlakyTarget implements PublishTarget {
  down = false;
  accepted: { subject: string; msgId: string; seq: number }[] = [];
  attempts = 0;
  async publish(_kind: "window", subject: string, data: Uint8Array, msgId: string): Promise<void> {
    this.attempts++;
    await new Promise((r) => setTimeout(r, 1));
    if (this.down) throw new Error("disconnected");
    this.accepted.push({ subject, msgId, seq: JSON.parse(new TextDecoder().decode(data)).seq });
  }
}

function setup(limits = { maxWindows: 5, maxBytes: 1024 ** 2 }) {
  const registry = new Registry();
  const target = new FlakyTarget();
  const publisher = new WindowPublisher(target, limits, {
    logger: createSilentLogger(),
    sensorMetrics: createSensorMetrics(registry),
    busMetrics: createBusMetrics(registry),
    backoff: { initialMs: 5, maxMs: 20 },
  });
  return { registry, target, publisher };
}

test("publisher - publishes in order on the window's subject with a unique message id", async () => {
  const { target, publisher } = setup();
  await publisher.write([makeWindow(0), makeWindow(1), makeWindow(2, { agentType: "other" })]);
  await waitFor(() => publisher.pending === 0, 2000);
  assert.deepEqual(
    target.accepted.map((a) => a.seq),
    [0, 1, 2],
  );
  assert.equal(target.accepted[2]?.subject, "vigil.v1.windows.other.web-1");
  assert.equal(new Set(target.accepted.map((a) => a.msgId)).size, 3);
});

test("publisher - retries the head while the target is down, then flushes in order", async () => {
  const { target, publisher, registry } = setup();
  target.down = true;
  await publisher.write([makeWindow(0), makeWindow(1), makeWindow(2)]);
  await new Promise((r) => setTimeout(r, 60));
  assert.ok(target.attempts >= 3, "retried");
  assert.equal(publisher.pending, 3);
  assert.match(await registry.getSingleMetricAsString("vigil_sensor_buffered_windows"), / 3$/m);
  target.down = false;
  await waitFor(() => publisher.pending === 0, 2000);
  assert.deepEqual(
    target.accepted.map((a) => a.seq),
    [0, 1, 2],
  );
});

test("publisher - past the bound the oldest windows are dropped and counted", async () => {
  const { target, publisher, registry } = setup({ maxWindows: 5, maxBytes: 1024 ** 2 });
  target.down = true;
  for (let i = 0; i < 12; i++) await publisher.write([makeWindow(i)]);
  assert.equal(publisher.pending, 5);
  assert.match(
    await registry.getSingleMetricAsString("vigil_sensor_dropped_total"),
    /reason="buffer_full"} 7/,
  );
  target.down = false;
  await waitFor(() => publisher.pending === 0, 2000);
  // 0 was in flight when the buffer overflowed: it is kept; 1..7 are dropped
  assert.deepEqual(
    target.accepted.map((a) => a.seq),
    [0, 8, 9, 10, 11],
  );
});

test("publisher - the byte bound counts too", async () => {
  const size = new TextEncoder().encode(JSON.stringify(makeWindow(0))).byteLength;
  const { target, publisher } = setup({ maxWindows: 1000, maxBytes: size * 3 + 10 });
  target.down = true;
  for (let i = 0; i < 6; i++) await publisher.write([makeWindow(i)]);
  assert.equal(publisher.pending, 3);
  await publisher.close(0); // the target stays down: stop retrying
});

test("publisher - close waits for the flush, then counts what never made it", async () => {
  const { target, publisher, registry } = setup();
  await publisher.write([makeWindow(0)]);
  await publisher.close(1000);
  assert.equal(target.accepted.length, 1);
  const stuck = setup();
  stuck.target.down = true;
  await stuck.publisher.write([makeWindow(0), makeWindow(1)]);
  await stuck.publisher.close(50);
  assert.match(
    await stuck.registry.getSingleMetricAsString("vigil_sensor_dropped_total"),
    /reason="shutdown"} 2/,
  );
  assert.doesNotMatch(
    await registry.getSingleMetricAsString("vigil_sensor_dropped_total"),
    /reason="shutdown"} [1-9]/,
  );
});
