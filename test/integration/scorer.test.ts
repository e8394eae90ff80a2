/**
 * The scorer end to end with real parts: nats-server, Alertmanager (Debian's binary), a model
 * trained here and run by ONNX Runtime, learning mode training in a child process. Windows are
 * published on the bus as a sensor would; alerts are read back from Alertmanager's API.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Registry } from "prom-client";
import { EmbeddedNats } from "../../src/bus/embedded-nats.js";
import { formatStatus, type StatusDocument, statusCommand } from "../../src/cli/status-command.js";
import { type Config, loadConfig } from "../../src/config/index.js";
import { encodeMessage, type WindowRecord, windowsSubject } from "../../src/contracts/index.js";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import { type RunningBus, startBus } from "../../src/main.js";
import { type RunningScorer, startScorer } from "../../src/scorer/service.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { prng } from "../../training/random.js";
import { trainModel } from "../../training/train.js";
import { AGENT, attack, benign, writeCapture } from "../helpers/agent-windows.js";
import {
  type GettableAlert,
  startAlertmanager,
  type TestAlertmanager,
} from "../helpers/alertmanager.js";

const logger = createSilentLogger();
const root = mkdtempSync(join(tmpdir(), "vigil-scorer-"));
const modelsDir = join(root, "models");
let seq = 100_000;

async function until(pred: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000) {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A window of `agentId`, with a fresh sequence number and time (now). */
function stamp(w: WindowRecord, agentId: string, agentType = AGENT): WindowRecord {
  const end = Date.now();
  return {
    ...w,
    agentType,
    agentId,
    seq: seq++,
    start: new Date(end - 5000).toISOString(),
    end: new Date(end).toISOString(),
  };
}

describe("scorer (nats-server + Alertmanager + ONNX Runtime)", () => {
  let nats: EmbeddedNats;
  let am: TestAlertmanager;
  let config: Config;
  let bus: RunningBus;
  let scorer: RunningScorer;
  const random = prng(2024);

  const publish = async (w: WindowRecord) =>
    bus.as("scorer").publish("window", windowsSubject(w.agentType, w.host), encodeMessage(w));
  const scoredCount = (type = AGENT) => scorer.scorer.activityByType().get(type)?.scored ?? 0;
  const receivedCount = (type = AGENT) => scorer.scorer.activityByType().get(type)?.received ?? 0;
  const amAlert = async (agentId: string): Promise<GettableAlert | undefined> =>
    (await am.alerts()).find((a) => a.labels.agent_id === agentId);
  const http = async (path: string) => {
    const res = await fetch(`http://${scorer.address}${path}`);
    return { status: res.status, text: await res.text() };
  };

  before(async () => {
    nats = await EmbeddedNats.start({ storeDir: join(root, "nats") });
    am = await startAlertmanager();
    writeCapture(
      join(root, "baseline"),
      Array.from({ length: 1500 }, (_, i) => benign(i, random)),
    );
    await trainModel(
      {
        agentType: AGENT,
        dataDirs: [join(root, "baseline")],
        out: join(modelsDir, AGENT, "2026-11-26T0000Z"),
        seed: 1,
        epochs: 12,
        hidden: [32, 8, 32],
        family: "autoencoder",
      },
      () => {},
    );
    config = loadConfig({
      defaultFile: join(root, "no-config.json"),
      flags: {
        host: "scorer-1",
        dataDir: join(root, "data"),
        nats: { url: nats.url },
        scorer: {
          modelsDir,
          alertmanager: { urls: am.url, maxBackoffMs: 500 },
          http: { listen: "127.0.0.1:0" },
          batch: { maxWindows: 16, maxDelayMs: 5 },
          alerts: { resolveAfterWindows: 2 },
          learning: { minWindows: 200, minDurationSeconds: 0 },
          reloadIntervalMs: 200,
        },
      },
    });
    bus = await startBus(config, logger, new Registry(), ["scorer"]);
    scorer = await startScorer(config, logger, new Registry(), bus.as("scorer"));
  });

  after(async () => {
    await scorer?.stop();
    await bus?.stop();
    await am?.stop();
    await nats?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("normal windows are scored and raise no alert", async () => {
    const before = scoredCount();
    for (let i = 0; i < 40; i++) await publish(stamp(benign(5000 + i, random), "calm-1"));
    await until(() => scoredCount() >= before + 40, "40 windows scored");
    const ready = await http("/readyz");
    assert.equal(ready.status, 200, ready.text);
    assert.equal(await amAlert("calm-1"), undefined);
    const metrics = await http("/metrics");
    assert.match(
      metrics.text,
      /vigil_scorer_windows_scored_total\{agent_type="coding-agent",why="sampled"\} \d+/,
    );
  });

  test("an anomalous window gives exactly one explained alert; repeats are suppressed; normal windows resolve it", async () => {
    for (let i = 0; i < 3; i++) await publish(stamp(attack(i), "evil-1"));
    await until(async () => (await amAlert("evil-1")) !== undefined, "the alert in Alertmanager");
    const alerts = (await am.alerts()).filter((a) => a.labels.agent_id === "evil-1");
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    const a = alerts[0] as GettableAlert;
    assert.equal(a.labels.alertname, "AgentBehaviorAnomaly");
    assert.equal(a.labels.agent_type, AGENT);
    assert.equal(a.labels.severity, "critical");
    assert.match(a.annotations.summary ?? "", /^coding-agent evil-1 on web-1 .*ran \/bin\/sh/);
    assert.match(a.annotations.summary ?? "", /203\.0\.113\.7:4444/);
    assert.ok((a.annotations.explanation ?? "").length > 20, a.annotations.explanation);
    assert.equal(a.annotations.model_version, "2026-11-26T0000Z");
    assert.ok(Number(a.annotations.score) > Number(a.annotations.threshold));
    const suppressed = await scorer.metrics.suppressed.get();
    assert.ok((suppressed.values.find((v) => v.labels.agent_type === AGENT)?.value ?? 0) >= 2);

    for (let i = 0; i < 2; i++) await publish(stamp(benign(6000 + i, random), "evil-1"));
    await until(async () => (await amAlert("evil-1")) === undefined, "the alert resolved");
    const status = JSON.parse((await http("/status")).text);
    assert.match(status.agentTypes[AGENT].lastAlert.summary, /evil-1/);
  });

  test("a script fetched in one window and run in the next alert together; either alone does not", async () => {
    const fetched = (w: WindowRecord): WindowRecord => ({
      ...w,
      net: [
        ...w.net,
        {
          direction: "out",
          protocol: "tcp",
          family: "inet",
          address: "127.0.0.1",
          port: 8443,
          connections: 1,
          bytesOut: 90,
          bytesIn: 2000,
          sends: 1,
          recvs: 2,
        },
      ],
    });
    const ran = (w: WindowRecord): WindowRecord => ({
      ...w,
      execs: [
        ...w.execs,
        { path: "/usr/bin/sysupdate", argv: ["sysupdate"], pid: 77, ppid: 1, uid: 0, count: 1 },
      ],
    });
    const before = scoredCount();
    // Alone: a new destination (split-a), a new program (split-b), each in its own instance.
    await publish(stamp(fetched(benign(7000, random)), "split-a"));
    await publish(stamp(ran(benign(7001, random)), "split-b"));
    // Together, in consecutive windows of one instance.
    await publish(stamp(fetched(benign(7002, random)), "split-c"));
    await publish(stamp(ran(benign(7003, random)), "split-c"));
    await until(() => scoredCount() >= before + 4, "4 windows scored");
    await until(async () => (await amAlert("split-c")) !== undefined, "split-c's alert");
    const a = (await amAlert("split-c")) as GettableAlert;
    assert.equal(a.labels.severity, "critical");
    assert.match(a.annotations.summary ?? "", /ran \/usr\/bin\/sysupdate/);
    assert.match(a.annotations.summary ?? "", /127\.0\.0\.1:8443/);
    assert.equal(await amAlert("split-a"), undefined);
    assert.equal(await amAlert("split-b"), undefined);
  });

  test("Alertmanager down, then up: the alert raised meanwhile arrives", async () => {
    await am.stop();
    await publish(stamp(attack(10), "evil-2"));
    const errors = async () =>
      (await scorer.metrics.deliveries.get()).values.find((v) => v.labels.result === "error")
        ?.value ?? 0;
    await until(async () => (await errors()) > 0, "a failed delivery");
    await am.start();
    await until(
      async () => (await amAlert("evil-2")) !== undefined,
      "the alert after the outage",
      20_000,
    );
  });

  test("a corrupt model makes only its own agent type unhealthy", async () => {
    const bad = join(modelsDir, "browser-agent", "2026-11-26T0000Z");
    cpSync(join(modelsDir, AGENT, "2026-11-26T0000Z"), bad, { recursive: true });
    writeFileSync(join(bad, "model.onnx"), "not a model");
    await until(async () => (await http("/readyz")).status === 503, "/readyz 503");
    const ready = await http("/readyz");
    assert.match(ready.text, /browser-agent/);
    assert.doesNotMatch(ready.text, /coding-agent/);
    // coding-agent still detects.
    await publish(stamp(attack(11), "evil-3"));
    await until(async () => (await amAlert("evil-3")) !== undefined, "coding-agent still alerting");
    rmSync(join(modelsDir, "browser-agent"), { recursive: true });
    await until(async () => (await http("/readyz")).status === 200, "/readyz 200 again");
  });

  test("learning mode: a type with no model is learned, promoted, then detected", async () => {
    const type = "research-agent";
    for (let i = 0; i < 260; i++)
      await publish(stamp(benign(7000 + i, random), `r-${i % 4}`, type));
    await until(
      () => scorer.registry.state(type).state === "active",
      "the learned model active",
      90_000,
    );
    const status = JSON.parse((await http("/status")).text);
    assert.equal(status.agentTypes[type].model.state, "active");
    await publish(stamp(attack(12), "r-evil", type));
    await until(
      async () => (await amAlert("r-evil")) !== undefined,
      "an alert from the learned model",
    );
  });

  test("vigil status: each type's state in a table; no scorer gives a clear error", async () => {
    const doc = JSON.parse((await http("/status")).text) as StatusDocument;
    const text = formatStatus(doc);
    assert.match(text, /^host scorer-1: ready/);
    assert.match(text, /coding-agent\s+detecting\s+2026-11-26T0000Z \(autoencoder\)/);
    assert.match(text, /critical: coding-agent evil-\d/);
    await assert.rejects(
      statusCommand(["--scorer", "127.0.0.1:1"]),
      (e) =>
        isVigilError(e, ErrorCodes.USAGE) && /no scorer answers on 127\.0\.0\.1:1/.test(e.message),
    );
  });

  test("a restarted scorer resumes where it stopped: no window lost", async () => {
    await scorer.stop();
    for (let i = 0; i < 30; i++) await publish(stamp(benign(8000 + i, random), "calm-2"));
    scorer = await startScorer(config, logger, new Registry(), bus.as("scorer"));
    await until(() => receivedCount() >= 30, "the 30 windows published while it was down");
    const info = await bus
      .as("scorer")
      .manager.consumers.info("VIGIL_WINDOWS", config.scorer.durable);
    await until(async () => {
      const i = await bus
        .as("scorer")
        .manager.consumers.info("VIGIL_WINDOWS", config.scorer.durable);
      return i.num_pending === 0 && i.num_ack_pending === 0;
    }, "every window acknowledged");
    assert.ok(info.delivered.stream_seq > 0);
    assert.equal(receivedCount(), 30);
  });
});
