/**
 * LearningMode with real training and real ONNX Runtime: enough benign windows of a type are
 * trained into a model that is pinned and that a ModelRegistry loads; accepted windows survive
 * a restart (even a torn last append); a failing training is reported and retried only after
 * the data doubled; and the default trainer runs `vigil train` in a child process.
 */
import assert from "node:assert/strict";
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Registry } from "prom-client";
import { readCapture } from "../../src/bus/capture.js";
import type { WindowRecord } from "../../src/contracts/index.js";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import {
  LearningMode,
  type LearningModeOptions,
  type TrainFunction,
  type TrainJob,
} from "../../src/scorer/learning.js";
import { ModelRegistry } from "../../src/scorer/registry.js";
import { trainInChildProcess } from "../../src/scorer/train-child.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { createScorerMetrics, type ScorerMetrics } from "../../src/telemetry/metrics.js";
import { prng } from "../../training/random.js";
import { trainModel } from "../../training/train.js";
import { AGENT, benign } from "../helpers/agent-windows.js";
import { makeWindow } from "../helpers/messages.js";

const root = mkdtempSync(join(tmpdir(), "vigil-learning-"));
const logger = createSilentLogger();

function windowsOf(type: string, from: number, n: number, seed: number): WindowRecord[] {
  const random = prng(seed);
  return Array.from({ length: n }, (_, i) => ({ ...benign(from + i, random), agentType: type }));
}

/** trainModel in this process, small and fast; records each job and what its capture held. */
function inProcess(jobs: { job: TrainJob; windows: number }[]): TrainFunction {
  return async (job) => {
    jobs.push({ job, windows: (await readCapture(job.dataDir)).records.length });
    await trainModel(
      {
        agentType: job.agentType,
        dataDirs: [job.dataDir],
        out: job.out,
        seed: job.seed,
        epochs: 3,
        hidden: [16, 4, 16],
        family: "autoencoder",
      },
      () => {},
    );
  };
}

function setup(name: string, over: Partial<LearningModeOptions> = {}) {
  const prom = new Registry();
  const metrics = createScorerMetrics(prom);
  const dir = join(root, name);
  const o: LearningModeOptions = {
    dataDir: join(dir, "data"),
    modelsDir: join(dir, "models"),
    minWindows: 250,
    minDurationSeconds: 0,
    logger,
    metrics,
    ...over,
  };
  return { o, metrics, learning: new LearningMode(o) };
}

async function learned(metrics: ScorerMetrics, type: string, result: string): Promise<number> {
  const m = await metrics.learned.get();
  return (
    m.values.find((v) => v.labels.agent_type === type && v.labels.result === result)?.value ?? 0
  );
}

async function offerAll(learning: LearningMode, windows: WindowRecord[]): Promise<void> {
  for (const w of windows) await learning.offer(w);
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("LearningMode", () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  test("learning - enough windows are trained, promoted, and loaded by the registry", async () => {
    const jobs: { job: TrainJob; windows: number }[] = [];
    const { o, metrics, learning } = setup("promote", { train: inProcess(jobs) });
    const registry = new ModelRegistry({
      modelsDir: o.modelsDir,
      reloadIntervalMs: 200,
      debounceMs: 50,
      logger,
      metrics,
    });
    await registry.start();
    await learning.start();
    try {
      const windows = windowsOf(AGENT, 0, 260, 1);
      await offerAll(learning, windows.slice(0, 249));
      const s = learning.status()[AGENT];
      assert.equal(s?.state, "learning");
      assert.ok(s?.state === "learning");
      assert.equal(s.windows, 249);
      assert.equal(s.neededWindows, 250);
      assert.equal(s.seconds, 249 * 5);
      assert.equal(s.progress, 249 / 250);
      assert.equal(registry.state(AGENT).state, "missing");

      await learning.offer(windows[249] as WindowRecord);
      assert.equal(learning.status()[AGENT]?.state, "training");
      // Windows keep arriving while it trains; they are not in the sealed capture it reads.
      await offerAll(learning, windows.slice(250));
      await learning.idle();

      const done = learning.status()[AGENT];
      assert.ok(done?.state === "promoted", JSON.stringify(done));
      assert.equal(jobs.length, 1);
      assert.ok((jobs[0]?.windows ?? 0) >= 250, `${jobs[0]?.windows}`);
      assert.equal(jobs[0]?.job.out, join(o.modelsDir, AGENT, done.version));
      assert.equal(readFileSync(join(o.modelsDir, AGENT, "current"), "utf8"), `${done.version}\n`);
      assert.equal(await learned(metrics, AGENT, "promoted"), 1);
      // The data is kept with the model's version, and is no longer in learning.
      assert.equal(existsSync(join(o.dataDir, "learning", AGENT)), false);
      const kept = await readCapture(join(o.dataDir, "learned", AGENT, done.version));
      assert.equal(kept.manifest.agentType, AGENT);
      assert.equal(kept.records.length, jobs[0]?.windows);

      await waitFor("the registry to load it", () => registry.state(AGENT).state === "active");
      const st = registry.state(AGENT);
      assert.ok(st.state === "active" && st.version === done.version);
      const scored = await registry.get(AGENT)?.score(windowsOf(AGENT, 1000, 2, 9));
      assert.ok(Number.isFinite(scored?.[0]?.score));
      // Offers after promotion (the registry has not swapped yet in the scorer) are ignored.
      await learning.offer(windows[0] as WindowRecord);
      assert.equal(jobs.length, 1);
    } finally {
      await learning.stop();
      await registry.stop();
    }
  });

  test("learning - windows accepted before a restart are picked up again, a torn tail cut off", async () => {
    const jobs: { job: TrainJob; windows: number }[] = [];
    const first = setup("restart", { train: inProcess(jobs) });
    await first.learning.start();
    const windows = windowsOf(AGENT, 0, 250, 2);
    await offerAll(first.learning, windows.slice(0, 100));
    await first.learning.stop();
    // A crash in the middle of an append leaves half a gzip member behind.
    const dir = join(first.o.dataDir, "learning", AGENT);
    const file = readdirSync(dir).find((f) => f.endsWith(".jsonl.gz")) as string;
    appendFileSync(join(dir, file), readFileSync(join(dir, file)).subarray(0, 40));

    const second = new LearningMode(first.o);
    await second.start();
    try {
      const s = second.status()[AGENT];
      assert.ok(s?.state === "learning", JSON.stringify(s));
      assert.equal(s.windows, 100);
      // The recovered data is a valid capture already.
      assert.equal((await readCapture(dir)).records.length, 100);
      await offerAll(second, windows.slice(100));
      await second.idle();
      assert.equal(second.status()[AGENT]?.state, "promoted");
      assert.equal(jobs.length, 1);
      assert.equal(jobs[0]?.windows, 250);
    } finally {
      await second.stop();
    }
  });

  test("learning - a failing training is reported, and retried only after the data doubled", async () => {
    const jobs: { job: TrainJob; windows: number }[] = [];
    const { metrics, learning } = setup("failing", { train: inProcess(jobs) });
    await learning.start();
    // The same window over and over: degenerate, trainModel refuses it (TRAIN_DATA).
    const same = (i: number) => {
      const w = makeWindow(i);
      return { ...makeWindow(0), seq: i, start: w.start, end: w.end };
    };
    try {
      await offerAll(
        learning,
        Array.from({ length: 250 }, (_, i) => same(i)),
      );
      await learning.idle();
      const s = learning.status()[AGENT];
      assert.ok(s?.state === "failed", JSON.stringify(s));
      assert.match(s.error, /degenerate/);
      assert.match(s.error, /fix: /);
      assert.equal(s.retryAtWindows, 500);
      assert.equal(await learned(metrics, AGENT, "failed"), 1);

      await offerAll(
        learning,
        Array.from({ length: 249 }, (_, i) => same(250 + i)),
      );
      await learning.idle();
      assert.equal(jobs.length, 1, "no retry before the data doubled");
      assert.equal(learning.status()[AGENT]?.state, "failed");

      await learning.offer(same(499));
      await learning.idle();
      assert.equal(jobs.length, 2);
      assert.equal(jobs[1]?.windows, 500);
      const again = learning.status()[AGENT];
      assert.ok(again?.state === "failed" && again.retryAtWindows === 1000);
      assert.equal(await learned(metrics, AGENT, "failed"), 2);
    } finally {
      await learning.stop();
    }
  });

  test("learning - the default trainer runs `vigil train` in a child process", async () => {
    const type = "browser-agent";
    const t0 = performance.now();
    const { o, metrics, learning } = setup("child", {
      train: trainInChildProcess({ logger }),
    });
    await learning.start();
    try {
      await offerAll(learning, windowsOf(type, 0, 250, 3));
      assert.equal(learning.status()[type]?.state, "training");
      await learning.idle();
      const s = learning.status()[type];
      assert.ok(s?.state === "promoted", JSON.stringify(s));
      assert.equal(await learned(metrics, type, "promoted"), 1);
      const registry = new ModelRegistry({
        modelsDir: o.modelsDir,
        reloadIntervalMs: 1000,
        logger,
        metrics,
      });
      await registry.start();
      const st = registry.state(type);
      await registry.stop();
      assert.ok(st.state === "active" && st.version === s.version, JSON.stringify(st));
    } finally {
      await learning.stop();
    }
    // A failure comes back as the child's own error, code and fix included.
    const train = trainInChildProcess({ logger });
    await assert.rejects(
      train({ agentType: type, dataDir: join(root, "nowhere"), out: join(root, "x"), seed: 0 }),
      (e) => isVigilError(e, ErrorCodes.CAPTURE_INVALID) && e.hint !== undefined,
    );
    console.log(`child-process training test: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  });
});
