/**
 * The bus against a real nats-server (started here on a free loopback port): round trips,
 * dead-lettering, subject sanitising, no loss across a server restart, shared consumers.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { Registry } from "prom-client";
import { EmbeddedNats } from "../../src/bus/embedded-nats.js";
import { NatsBus, STREAMS } from "../../src/bus/nats-bus.js";
import { WindowPublisher } from "../../src/bus/window-publisher.js";
import {
  alertsSubject,
  encodeMessage,
  eventsSubject,
  type WindowRecord,
  windowsFilter,
  windowsSubject,
} from "../../src/contracts/index.js";
import { isVigilError } from "../../src/errors.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { createBusMetrics, createSensorMetrics } from "../../src/telemetry/metrics.js";
import { makeAlert, makeEvent, makeWindow } from "../helpers/messages.js";
import { waitFor } from "../helpers/sensor-harness.js";
import { tempDir } from "../helpers/temp-dir.js";

const logger = createSilentLogger();

async function openBus(url: string, registry = new Registry()) {
  return NatsBus.open({ servers: [url] }, createBusMetrics(registry), logger);
}

/** Every message in a stream, in order, read with a fresh ordered consumer. */
async function streamContents(bus: NatsBus, stream: string, subject?: string): Promise<string[]> {
  const jsm = await jetstreamManager(bus.connection);
  const info = await jsm.streams.info(stream);
  const out: string[] = [];
  for (
    let seq = info.state.first_seq;
    seq <= info.state.last_seq && info.state.messages > 0;
    seq++
  ) {
    try {
      const m = await jsm.streams.getMessage(stream, { seq });
      if (m && (!subject || m.subject === subject)) out.push(new TextDecoder().decode(m.data));
    } catch {
      // deleted by limits
    }
  }
  return out;
}

describe("bus (nats-server)", () => {
  let server: EmbeddedNats;
  before(async () => {
    server = await EmbeddedNats.start({ storeDir: tempDir("vigil-bus-") });
  });
  after(async () => {
    await server.stop();
  });

  test("bus - every message kind round-trips through its stream and consumer", async () => {
    const bus = await openBus(server.url);
    try {
      const window = makeWindow(1, { agentType: "rt-agent" });
      const event = { ...makeEvent(1), agentType: "rt-agent" };
      const alert = { ...makeAlert(1), agentType: "rt-agent" };
      await bus.publish("window", windowsSubject("rt-agent", "web-1"), encodeMessage(window), "w1");
      await bus.publish("event", eventsSubject("net", "rt-agent", "web-1"), encodeMessage(event));
      await bus.publish("alert", alertsSubject("rt-agent"), encodeMessage(alert));
      const got: unknown[] = [];
      const cw = await bus.consume(
        "window",
        { durable: "rt-w", filter: windowsFilter("rt-agent") },
        async (v) => {
          got.push(v);
        },
      );
      const ce = await bus.consume("event", { durable: "rt-e" }, async (v) => {
        if (v.agentType === "rt-agent") got.push(v);
      });
      const ca = await bus.consume("alert", { durable: "rt-a" }, async (v) => {
        if (v.agentType === "rt-agent") got.push(v);
      });
      await waitFor(() => got.length === 3, 5000, "three messages");
      await Promise.all([cw.stop(), ce.stop(), ca.stop()]);
      assert.deepEqual(
        new Set(got.map((m) => JSON.stringify(m))),
        new Set([window, event, alert].map((m) => JSON.stringify(m))),
      );
    } finally {
      await bus.close();
    }
  });

  test("bus - invalid and oversized messages go to the DLQ with the reason and are counted", async () => {
    const registry = new Registry();
    const bus = await openBus(server.url, registry);
    try {
      const subject = windowsSubject("dlq-agent", "web-1");
      const js = bus.jetstream;
      const good = makeWindow(2, { agentType: "dlq-agent" });
      await js.publish(subject, "{not json");
      await js.publish(
        subject,
        JSON.stringify({ ...good, syscalls: { n: 9, total: -1, ngrams: [] } }),
      );
      await js.publish(
        subject,
        JSON.stringify({ ...good, pad: "x".repeat(bus.maxMessageBytes) }).slice(0, 1),
      ); // tiny, not JSON
      await js.publish(subject, encodeMessage(good));
      const handled: WindowRecord[] = [];
      const c = await bus.consume(
        "window",
        { durable: "dlq-test", filter: windowsFilter("dlq-agent") },
        async (w) => {
          handled.push(w);
        },
      );
      await waitFor(() => handled.length === 1, 5000, "the valid window");
      await c.stop();
      assert.deepEqual(handled, [good], "only the valid window reaches the handler");
      const jsm = bus.manager;
      const dlq = await jsm.streams.info(STREAMS.dlq);
      assert.equal(dlq.state.messages, 3);
      const first = await jsm.streams.getMessage(STREAMS.dlq, { seq: dlq.state.first_seq });
      assert.ok(first);
      assert.equal(first.header.get("Vigil-Reason"), "not_json");
      assert.equal(first.header.get("Vigil-Subject"), subject);
      const second = await jsm.streams.getMessage(STREAMS.dlq, { seq: dlq.state.first_seq + 1 });
      assert.ok(second);
      assert.equal(second.header.get("Vigil-Reason"), "schema");
      assert.match(second.header.get("Vigil-Detail"), /syscalls\.n/);
      const metric = await registry.getSingleMetricAsString("vigil_bus_invalid_total");
      assert.match(metric, /kind="window",reason="not_json"} 2/);
      assert.match(metric, /kind="window",reason="schema"} 1/);
    } finally {
      await bus.close();
    }
  });

  test("bus - a consumer dead-letters a message over its size limit", async () => {
    const producer = await openBus(server.url);
    const registry = new Registry();
    try {
      const big = makeWindow(5, { agentType: "big-agent", agentId: "x".repeat(4000) });
      await producer.publish("window", windowsSubject("big-agent", "web-1"), encodeMessage(big));
      const consumer = await NatsBus.open(
        { servers: [server.url], maxMessageBytes: 2048 },
        createBusMetrics(registry),
        logger,
      );
      let handled = 0;
      const c = await consumer.consume(
        "window",
        { durable: "small", filter: windowsFilter("big-agent") },
        async () => {
          handled++;
        },
      );
      const metric = async () => registry.getSingleMetricAsString("vigil_bus_invalid_total");
      for (let i = 0; i < 100 && !/reason="oversized"} 1/.test(await metric()); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await c.stop();
      await consumer.close();
      assert.equal(handled, 0);
      assert.match(await metric(), /kind="window",reason="oversized"} 1/);
      const dlq = await producer.manager.streams.info(STREAMS.dlq);
      const last = await producer.manager.streams.getMessage(STREAMS.dlq, {
        seq: dlq.state.last_seq,
      });
      assert.equal(last?.header.get("Vigil-Reason"), "oversized");
      assert.equal(last?.header.get("Vigil-Truncated"), String(encodeMessage(big).byteLength));
    } finally {
      await producer.close();
    }
  });

  test("bus - a message over the size limit is refused before it is sent", async () => {
    const bus = await openBus(server.url);
    try {
      const big = new Uint8Array(bus.maxMessageBytes + 1);
      await assert.rejects(bus.publish("window", windowsSubject("a", "b"), big), (e: unknown) =>
        isVigilError(e, "VIGIL_ERR_BUS_MESSAGE_TOO_LARGE"),
      );
    } finally {
      await bus.close();
    }
  });

  test("bus - outside tokens cannot add subject levels or wildcards; such a name is dead-lettered", async () => {
    const bus = await openBus(server.url);
    try {
      const evil = "x.y*>";
      const subject = windowsSubject(evil, "host.example.com");
      assert.equal(subject, "vigil.v1.windows.x_y__.host_example_com");
      const w = makeWindow(3, { agentType: evil, host: "host.example.com" });
      await bus.publish("window", subject, encodeMessage(w));
      const got: WindowRecord[] = [];
      const before = (await bus.manager.streams.info(STREAMS.dlq)).state.messages;
      const c = await bus.consume(
        "window",
        { durable: "evil", filter: windowsFilter(evil) },
        async (v) => {
          got.push(v);
        },
      );
      let dead = before;
      const end = Date.now() + 5000;
      while (dead === before && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 50));
        dead = (await bus.manager.streams.info(STREAMS.dlq)).state.messages;
      }
      await c.stop();
      assert.equal(dead, before + 1, "the window went to the dead-letter queue");
      assert.equal(got.length, 0, "a name that is not an agent type never reaches a handler");
    } finally {
      await bus.close();
    }
  });

  test("bus - two consumers on one durable share the stream: no window goes to both", async () => {
    const a = await openBus(server.url);
    const b = await openBus(server.url);
    try {
      const n = 200;
      const seenA: number[] = [];
      const seenB: number[] = [];
      const slow = () => new Promise((r) => setTimeout(r, 2));
      const opts = { durable: "scorers", filter: windowsFilter("shared-agent"), batch: 16 };
      const ca = await a.consume("window", opts, async (w) => {
        seenA.push(w.seq);
        await slow();
      });
      const cb = await b.consume("window", opts, async (w) => {
        seenB.push(w.seq);
        await slow();
      });
      for (let i = 0; i < n; i++) {
        const w = makeWindow(i, { agentType: "shared-agent" });
        await a.publish(
          "window",
          windowsSubject("shared-agent", "web-1"),
          encodeMessage(w),
          `s${i}`,
        );
      }
      await waitFor(() => seenA.length + seenB.length >= n, 15_000, "all windows");
      await Promise.all([ca.stop(), cb.stop()]);
      const both = seenA.filter((s) => seenB.includes(s));
      assert.deepEqual(both, [], "no window delivered to both");
      assert.equal(new Set([...seenA, ...seenB]).size, n, "every window delivered");
      assert.ok(seenA.length > 0 && seenB.length > 0, `split ${seenA.length}/${seenB.length}`);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("bus - remote servers need credentials unless anonymous access is allowed", async () => {
    await assert.rejects(
      NatsBus.open({ servers: ["nats://10.0.0.1:4222"] }, createBusMetrics(new Registry()), logger),
      (e: unknown) =>
        isVigilError(e, "VIGIL_ERR_NATS_INSECURE") && /--nats-creds/.test(e.hint ?? ""),
    );
  });
});

describe("bus - no loss across a NATS outage", () => {
  test("publisher - windows written while NATS is down arrive once, in order; beyond the bound, drops are counted", async () => {
    const server = await EmbeddedNats.start({
      storeDir: tempDir("vigil-outage-"),
    });
    const registry = new Registry();
    const sensorMetrics = createSensorMetrics(registry);
    const bus = await openBus(server.url, registry);
    const publisher = new WindowPublisher(
      bus,
      { maxWindows: 50, maxBytes: 64 * 1024 ** 2 },
      {
        logger,
        sensorMetrics,
        busMetrics: createBusMetrics(new Registry()),
        backoff: { initialMs: 50, maxMs: 200 },
      },
    );
    const w = (i: number) => makeWindow(i, { agentType: "outage-agent" });
    try {
      for (let i = 0; i < 10; i++) await publisher.write([w(i)]);
      await waitFor(() => publisher.pending === 0, 5000, "the first windows");

      await server.kill();
      for (let i = 10; i < 40; i++) await publisher.write([w(i)]); // within the bound of 50
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(publisher.pending >= 29, `buffered while down: ${publisher.pending}`);
      await server.restart();
      await waitFor(() => publisher.pending === 0, 20_000, "the buffer to flush after the restart");

      const seqs = (await streamContents(bus, STREAMS.windows)).map(
        (t) => (JSON.parse(t) as WindowRecord).seq,
      );
      assert.deepEqual(
        seqs,
        Array.from({ length: 40 }, (_, i) => i),
        "each window once, in order",
      );

      // Past the bound: the oldest are dropped, and counted.
      await server.kill();
      for (let i = 40; i < 120; i++) await publisher.write([w(i)]);
      assert.equal(publisher.pending, 50);
      const dropped = await registry.getSingleMetricAsString("vigil_sensor_dropped_total");
      assert.match(dropped, /reason="buffer_full"} 30\b/, "80 written into a bound of 50");
      await server.restart();
      await waitFor(() => publisher.pending === 0, 20_000, "the second flush");
      const after = (await streamContents(bus, STREAMS.windows)).map(
        (t) => (JSON.parse(t) as WindowRecord).seq,
      );
      assert.equal(new Set(after).size, after.length, "no duplicates");
      assert.deepEqual(
        after,
        [...after].sort((x, y) => x - y),
        "in order",
      );
      // 40 was in flight when the server died and is kept; 41..70 are the 30 dropped.
      const kept = [
        ...Array.from({ length: 41 }, (_, i) => i),
        ...Array.from({ length: 49 }, (_, i) => 71 + i),
      ];
      assert.deepEqual(after, kept, "everything but the counted drops, once, in order");
    } finally {
      await publisher.close(1000);
      await bus.close();
      await server.stop();
    }
  });
});
