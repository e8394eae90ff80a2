/**
 * Alert delivery against a real nats-server and real Alertmanagers (all on loopback): alerts
 * published on the bus reach Alertmanager, survive an Alertmanager outage in the stream,
 * resolve, and reach every Alertmanager of a cluster; plus the bus's consume options the
 * outbox and the scorer rely on.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { Registry } from "prom-client";
import { EmbeddedNats } from "../../src/bus/embedded-nats.js";
import { NatsBus, STREAMS } from "../../src/bus/nats-bus.js";
import { alertsSubject, encodeMessage, type VigilAlert } from "../../src/contracts/index.js";
import { isVigilError } from "../../src/errors.js";
import { AlertmanagerClient, toAlertmanagerAlert } from "../../src/scorer/alertmanager.js";
import { AlertOutbox } from "../../src/scorer/outbox.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { createBusMetrics, createScorerMetrics } from "../../src/telemetry/metrics.js";
import {
  type GettableAlert,
  startAlertmanager,
  type TestAlertmanager,
} from "../helpers/alertmanager.js";
import { makeAlert } from "../helpers/messages.js";
import { tempDir } from "../helpers/temp-dir.js";

const logger = createSilentLogger();

/** Polls an async condition; fails with `what` after `timeoutMs`. */
async function until(
  pred: () => Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function alertOf(agentId: string, over: Partial<VigilAlert> = {}): VigilAlert {
  return { ...makeAlert(1), agentId, fingerprint: `web-1/coding-agent/${agentId}/1`, ...over };
}

async function find(am: TestAlertmanager, agentId: string): Promise<GettableAlert | undefined> {
  return (await am.alerts()).find((a) => a.labels.agent_id === agentId);
}

async function counter(
  metrics: ReturnType<typeof createScorerMetrics>,
  result: "ok" | "error",
): Promise<number> {
  const m = await metrics.deliveries.get();
  return m.values.find((v) => v.labels.result === result)?.value ?? 0;
}

async function depth(metrics: ReturnType<typeof createScorerMetrics>): Promise<number> {
  return (await metrics.outboxDepth.get()).values[0]?.value ?? -1;
}

describe("alert delivery (nats-server + Alertmanager)", () => {
  let nats: EmbeddedNats;
  let bus: NatsBus;
  let am: TestAlertmanager;
  const extra: TestAlertmanager[] = [];

  before(async () => {
    nats = await EmbeddedNats.start({ storeDir: tempDir("vigil-am-nats-") });
    bus = await NatsBus.open({ servers: [nats.url] }, createBusMetrics(new Registry()), logger);
    am = await startAlertmanager();
  });
  after(async () => {
    await bus.close();
    await Promise.all([am.stop(), ...extra.map((x) => x.stop()), nats.stop()]);
  });
  // Each test's outbox is a new durable that reads the stream from the start: only its own alerts.
  beforeEach(async () => {
    await bus.manager.streams.purge(STREAMS.alerts);
  });

  async function outbox(durable: string, urls: string[]) {
    const metrics = createScorerMetrics(new Registry());
    const client = new AlertmanagerClient({ urls, timeoutMs: 2000 });
    const box = await AlertOutbox.start(bus, client, metrics, logger, {
      durable,
      maxBackoffMs: 200,
      depthIntervalMs: 100,
    });
    return { box, metrics };
  }

  async function publish(a: VigilAlert): Promise<void> {
    await bus.publish("alert", alertsSubject(a.agentType), encodeMessage(a));
  }

  test("outbox - an alert published on the bus appears in Alertmanager with its labels and annotations", async () => {
    const { box, metrics } = await outbox("am-a", [am.url]);
    try {
      const a = alertOf("inst-a");
      await publish(a);
      await until(
        async () => (await find(am, "inst-a")) !== undefined,
        "the alert in Alertmanager",
      );
      const got = await find(am, "inst-a");
      const want = toAlertmanagerAlert(a);
      assert.deepEqual(got?.labels, want.labels);
      assert.deepEqual(got?.annotations, want.annotations);
      assert.equal(got?.status.state, "active");
      assert.equal(new Date(got?.startsAt ?? 0).toISOString(), a.startsAt);
      assert.match(
        got?.annotations.explanation ?? "",
        /net\.new_destinations: observed 1 vs baseline 0/,
      );
      assert.equal(await counter(metrics, "ok"), 1);
      assert.equal(await counter(metrics, "error"), 0);
      await until(async () => (await depth(metrics)) === 0, "an empty outbox");
    } finally {
      await box.stop();
    }
  });

  test("outbox - an alert raised while Alertmanager is down arrives once it is back", async () => {
    const down = await startAlertmanager();
    extra.push(down);
    await down.stop();
    const { box, metrics } = await outbox("am-b", [down.url]);
    try {
      await publish(alertOf("inst-b"));
      await until(async () => (await counter(metrics, "error")) > 0, "a failed delivery");
      await until(async () => (await depth(metrics)) === 1, "the alert waiting in the outbox");
      await down.start();
      await until(
        async () => (await find(down, "inst-b")) !== undefined,
        "the alert after the restart",
      );
      await until(async () => (await depth(metrics)) === 0, "an empty outbox");
      assert.equal(await counter(metrics, "ok"), 1);
    } finally {
      await box.stop();
    }
  });

  test("outbox - a resolved alert stops being active in Alertmanager", async () => {
    const { box } = await outbox("am-c", [am.url]);
    try {
      const firing = alertOf("inst-c");
      await publish(firing);
      await until(async () => (await find(am, "inst-c")) !== undefined, "the firing alert");
      await publish({ ...firing, endsAt: new Date(Date.now() - 1000).toISOString() });
      await until(async () => (await find(am, "inst-c")) === undefined, "the alert to resolve");
    } finally {
      await box.stop();
    }
  });

  test("outbox - a firing alert retried after its episode resolved does not fire it again", async () => {
    const { box, metrics } = await outbox("am-late", [am.url]);
    try {
      const firing = alertOf("inst-late");
      await publish({ ...firing, endsAt: new Date(Date.now() - 1000).toISOString() });
      await until(async () => (await counter(metrics, "ok")) === 1, "the resolution");
      await publish(firing);
      const last = (await bus.manager.streams.info(STREAMS.alerts)).state.last_seq;
      await until(async () => {
        const c = await bus.manager.consumers.info(STREAMS.alerts, "am-late");
        return c.ack_floor.stream_seq >= last;
      }, "the late firing alert to be handled");
      assert.equal(await find(am, "inst-late"), undefined);
      assert.equal(await counter(metrics, "ok"), 1, "the late firing alert was not sent");
    } finally {
      await box.stop();
    }
  });

  test("outbox - with two Alertmanagers, both receive every alert", async () => {
    const second = await startAlertmanager();
    extra.push(second);
    const { box } = await outbox("am-d", [am.url, second.url]);
    try {
      await publish(alertOf("inst-d"));
      await until(
        async () =>
          (await find(am, "inst-d")) !== undefined && (await find(second, "inst-d")) !== undefined,
        "the alert in both Alertmanagers",
      );
    } finally {
      await box.stop();
    }
  });

  test("alertmanager - a refused alert is an error naming the URL and Alertmanager's reason", async () => {
    const client = new AlertmanagerClient({ urls: [am.url], timeoutMs: 2000 });
    const bad = {
      ...toAlertmanagerAlert(alertOf("inst-bad")),
      endsAt: "2026-11-25T11:00:00.000Z", // before startsAt
    };
    await assert.rejects(
      client.post([bad]),
      (e: unknown) =>
        isVigilError(e, "VIGIL_ERR_ALERTMANAGER") &&
        e.message.includes(am.url) &&
        /HTTP 400 .*start time must be before end time/.test(e.message),
    );
  });
});

describe("bus consume options (nats-server)", () => {
  let nats: EmbeddedNats;
  let bus: NatsBus;
  before(async () => {
    nats = await EmbeddedNats.start({ storeDir: tempDir("vigil-opts-nats-") });
    bus = await NatsBus.open({ servers: [nats.url] }, createBusMetrics(new Registry()), logger);
  });
  after(async () => {
    await bus.close();
    await nats.stop();
  });

  async function publishN(agentType: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      await bus.publish(
        "alert",
        alertsSubject(agentType),
        encodeMessage({ ...makeAlert(i), agentType }),
      );
    }
  }

  test("bus - concurrency N runs up to N handlers at once, never more", async () => {
    await publishN("conc-agent", 8);
    let active = 0;
    let most = 0;
    let handled = 0;
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const c = await bus.consume(
      "alert",
      { durable: "conc", filter: alertsSubject("conc-agent"), concurrency: 4 },
      async () => {
        active++;
        most = Math.max(most, active);
        // Held until four run at once: with sequential handling this would never open.
        if (active === 4) open();
        await gate;
        active--;
        handled++;
      },
    );
    try {
      await until(async () => handled === 8, "eight handled with four at once", 5000);
      assert.equal(most, 4);
    } finally {
      await c.stop();
    }
  });

  test("bus - concurrency 1 (the default) handles one message at a time, in order", async () => {
    await publishN("seq-agent", 6);
    let active = 0;
    let most = 0;
    const seqs: number[] = [];
    const c = await bus.consume(
      "alert",
      { durable: "seq", filter: alertsSubject("seq-agent") },
      async (_a, info) => {
        active++;
        most = Math.max(most, active);
        await new Promise((r) => setImmediate(r));
        seqs.push(info.streamSequence);
        active--;
      },
    );
    try {
      await until(async () => seqs.length === 6, "six handled");
      assert.equal(most, 1);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
      );
    } finally {
      await c.stop();
    }
  });

  test("bus - maxDeliver -1 keeps redelivering past 20, with the given nak delay", async () => {
    await publishN("forever-agent", 1);
    const counts: number[] = [];
    const c = await bus.consume(
      "alert",
      {
        durable: "forever",
        filter: alertsSubject("forever-agent"),
        maxDeliver: -1,
        nakDelayMs: () => 1,
      },
      async (_a, info) => {
        counts.push(info.deliveryCount);
        if (info.deliveryCount < 25) throw new Error("not yet");
      },
    );
    try {
      await until(async () => counts.length === 25, "25 deliveries", 10_000);
      assert.deepEqual(
        counts,
        Array.from({ length: 25 }, (_, i) => i + 1),
      );
    } finally {
      await c.stop();
    }
  });

  test("bus - a durable keeps 20 deliveries by default and is updated to a new maxDeliver", async () => {
    const opts = { durable: "upd", filter: alertsSubject("upd-agent") };
    const noop = async () => {};
    const first = await bus.consume("alert", opts, noop);
    await first.stop();
    assert.equal((await bus.manager.consumers.info(STREAMS.alerts, "upd")).config.max_deliver, 20);
    const second = await bus.consume("alert", { ...opts, maxDeliver: -1 }, noop);
    await second.stop();
    assert.equal((await bus.manager.consumers.info(STREAMS.alerts, "upd")).config.max_deliver, -1);
    await assert.rejects(bus.consume("alert", { ...opts, concurrency: 0 }, noop), (e: unknown) =>
      isVigilError(e, "VIGIL_ERR_CONFIG_INVALID"),
    );
  });
});
