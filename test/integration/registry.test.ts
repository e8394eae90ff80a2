/**
 * ModelRegistry with real models (trained by trainModel, small) and real ONNX Runtime: loads
 * and scores, hot-swaps a new version (the old model closes only after its last user), isolates
 * a corrupt model to its own type with the previous version scoring as fallback, honours
 * `current`, ignores half-written directories, and shows each type's state in the metrics.
 */
import assert from "node:assert/strict";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { Registry } from "prom-client";
import type { WindowRecord } from "../../src/contracts/index.js";
import { ModelRegistry } from "../../src/scorer/registry.js";
import type { ModelState } from "../../src/scorer/types.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { createScorerMetrics, type ScorerMetrics } from "../../src/telemetry/metrics.js";
import { prng } from "../../training/random.js";
import { trainModel } from "../../training/train.js";
import { AGENT, benign, writeCapture } from "../helpers/agent-windows.js";

const BROWSER = "browser-agent";
const V1 = "2026-11-25T1200Z";
const V2 = "2026-11-25T1300Z";
const V3 = "2026-11-25T1400Z";
const root = mkdtempSync(join(tmpdir(), "vigil-registry-"));
const staging = join(root, "staging");

function windowsOf(type: string, n: number, seed: number): WindowRecord[] {
  const random = prng(seed);
  return Array.from({ length: n }, (_, i) => ({ ...benign(i, random), agentType: type }));
}

async function train(type: string, name: string, seed: number): Promise<void> {
  await trainModel(
    {
      agentType: type,
      dataDirs: [join(root, `capture-${type}`)],
      out: join(staging, name),
      seed,
      epochs: 3,
      hidden: [16, 4, 16],
      family: "autoencoder",
    },
    () => {},
  );
}

/** A copy of a staged model as models/<type>/<version>, appearing at once (rename). */
function install(modelsDir: string, type: string, name: string, version: string): string {
  const dir = join(modelsDir, type, version);
  const tmp = `${dir}.partial-copy`;
  mkdirSync(join(modelsDir, type), { recursive: true });
  cpSync(join(staging, name), tmp, { recursive: true });
  renameSync(tmp, dir);
  return dir;
}

async function waitFor(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Harness {
  registry: ModelRegistry;
  metrics: ScorerMetrics;
  prom: Registry;
  logs: { msg: string; version?: string }[];
  changes: [string, ModelState][];
}

async function open(modelsDir: string, closeGraceMs = 0): Promise<Harness> {
  const prom = new Registry();
  const metrics = createScorerMetrics(prom);
  const logs: Harness["logs"] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  const logger = createLogger({ level: "debug", stream });
  const registry = new ModelRegistry({
    modelsDir,
    reloadIntervalMs: 200,
    debounceMs: 50,
    closeGraceMs,
    threads: 1,
    logger,
    metrics,
  });
  const changes: Harness["changes"] = [];
  registry.onChange((t, s) => changes.push([t, s]));
  await registry.start();
  return { registry, metrics, prom, logs, changes };
}

/** agent_type -> the state labels at 1 in vigil_scorer_model_status. */
async function statusGauge(prom: Registry): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  const m = await prom.getSingleMetric("vigil_scorer_model_status")?.get();
  for (const v of m?.values ?? []) {
    const type = String(v.labels.agent_type);
    out[type] ??= [];
    if (v.value === 1) out[type].push(String(v.labels.state));
  }
  return out;
}

describe("ModelRegistry", () => {
  const modelsDir = join(root, "models");
  let h: Harness;

  before(async () => {
    writeCapture(join(root, `capture-${AGENT}`), windowsOf(AGENT, 300, 1));
    writeCapture(join(root, `capture-${BROWSER}`), windowsOf(BROWSER, 300, 2));
    const t0 = performance.now();
    await train(AGENT, "coding-1", 1);
    await train(AGENT, "coding-2", 2);
    await train(BROWSER, "browser-1", 1);
    console.log(`three models trained in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    install(modelsDir, AGENT, "coding-1", V1);
    install(modelsDir, BROWSER, "browser-1", V1);
    // Not versions: a model being written, and a directory without manifest.json.
    cpSync(join(staging, "coding-2"), join(modelsDir, AGENT, "2099-01-01T0000Z.partial-77"), {
      recursive: true,
    });
    mkdirSync(join(modelsDir, AGENT, "2099-01-02T0000Z"));
    writeFileSync(join(modelsDir, AGENT, "2099-01-02T0000Z", "model.onnx"), "not yet");
    h = await open(modelsDir);
  });
  after(async () => {
    await h.registry.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("registry - loads each type's newest version and scores with it", async () => {
    for (const type of [AGENT, BROWSER]) {
      const s = h.registry.state(type);
      assert.equal(s.state, "active", JSON.stringify(s));
      assert.equal(s.state === "active" && s.version, V1);
      assert.equal(s.state === "active" && s.family, "autoencoder");
      const model = h.registry.get(type);
      assert.ok(model);
      const [scored] = await model.score(windowsOf(type, 1, 99));
      assert.ok(Number.isFinite(scored?.score), `${scored?.score}`);
    }
    assert.deepEqual([...h.registry.states().keys()].sort(), [AGENT, BROWSER].sort());
    assert.deepEqual(h.registry.state("never-seen"), { state: "missing" });
    assert.equal(h.registry.get("never-seen"), undefined);
    assert.deepEqual(await statusGauge(h.prom), { [AGENT]: ["active"], [BROWSER]: ["active"] });
  });

  test("registry - a new version is hot-swapped; the old model closes after its last user", async () => {
    const lent = h.registry.acquire(AGENT);
    assert.ok(lent);
    assert.equal(lent.version, V1);
    install(modelsDir, AGENT, "coding-2", V2);
    await waitFor("the swap to V2", () => {
      const s = h.registry.state(AGENT);
      return s.state === "active" && s.version === V2;
    });
    assert.notEqual(h.registry.get(AGENT), lent.model);
    // In flight on the old model: it still scores, and it is not closed.
    const [old] = await lent.model.score(windowsOf(AGENT, 1, 5));
    assert.ok(Number.isFinite(old?.score));
    const closed = () => h.logs.some((l) => l.msg === "model closed" && l.version === V1);
    assert.equal(closed(), false);
    lent.release();
    lent.release(); // idempotent
    await waitFor("the old model to close", closed);
    const [fresh] = (await h.registry.get(AGENT)?.score(windowsOf(AGENT, 1, 5))) ?? [];
    assert.ok(Number.isFinite(fresh?.score));
    assert.ok(h.changes.some(([t, s]) => t === AGENT && s.state === "active" && s.version === V2));
  });

  test("registry - a model whose manifest names another type is refused; odd directory names are ignored", async () => {
    const dir = join(root, "models-misplaced");
    install(dir, "impostor-agent", "browser-1", V1);
    mkdirSync(join(dir, "Not A Type", V1), { recursive: true });
    cpSync(join(staging, "coding-1"), join(dir, "Not A Type", V1), { recursive: true });
    const m = await open(dir);
    try {
      const s = m.registry.state("impostor-agent");
      assert.ok(s.state === "broken", JSON.stringify(s));
      assert.match(s.error, /is a model for "browser-agent", not for "impostor-agent"/);
      assert.match(s.error, /fix: move it to/);
      assert.equal(m.registry.get("impostor-agent"), undefined, "it never scores");
      assert.equal(m.registry.state("Not A Type").state, "missing");
      assert.ok(m.logs.some((l) => /not named like an agent type/.test(l.msg)));
    } finally {
      await m.registry.stop();
    }
  });

  test("registry - a corrupt model.onnx breaks only its own type; the previous version scores on", async () => {
    const dir = join(modelsDir, AGENT, V3);
    const tmp = `${dir}.partial-copy`;
    cpSync(join(staging, "coding-1"), tmp, { recursive: true });
    const onnx = readFileSync(join(tmp, "model.onnx"));
    onnx.writeUInt8((onnx.at(-1) ?? 0) ^ 0xff, onnx.length - 1);
    writeFileSync(join(tmp, "model.onnx"), onnx);
    renameSync(tmp, dir);
    await waitFor("the broken state", () => h.registry.state(AGENT).state === "broken");
    const s = h.registry.state(AGENT);
    assert.ok(s.state === "broken");
    assert.equal(s.version, V3);
    assert.equal(s.fallback, V2);
    assert.match(s.error, /model\.onnx: sha256 mismatch/);
    assert.ok(s.error.includes(join(dir, "model.onnx")), s.error);
    assert.match(s.error, /fix: /);
    const model = h.registry.get(AGENT);
    assert.ok(model, "the fallback is still scoring");
    assert.ok(Number.isFinite((await model.score(windowsOf(AGENT, 1, 6)))[0]?.score));
    assert.equal(h.registry.state(BROWSER).state, "active");
    assert.deepEqual(await statusGauge(h.prom), { [AGENT]: ["broken"], [BROWSER]: ["active"] });
  });

  test("registry - a restart with a corrupt newest version scores with the newest one that loads", async () => {
    const again = await open(modelsDir);
    try {
      const s = again.registry.state(AGENT);
      assert.ok(s.state === "broken", JSON.stringify(s));
      assert.equal(s.fallback, V2);
      assert.ok(again.registry.get(AGENT));
    } finally {
      await again.registry.stop();
    }
  });

  test("registry - `current` pins a version; naming a missing one is broken with the fallback", async () => {
    writeFileSync(join(modelsDir, AGENT, "current.partial-1"), `${V1}\n`);
    renameSync(join(modelsDir, AGENT, "current.partial-1"), join(modelsDir, AGENT, "current"));
    await waitFor("the pin to V1", () => {
      const s = h.registry.state(AGENT);
      return s.state === "active" && s.version === V1;
    });
    assert.deepEqual(await statusGauge(h.prom), { [AGENT]: ["active"], [BROWSER]: ["active"] });

    writeFileSync(join(modelsDir, AGENT, "current"), "1999-01-01T0000Z\n");
    await waitFor("the bad pin", () => h.registry.state(AGENT).state === "broken");
    const s = h.registry.state(AGENT);
    assert.ok(s.state === "broken");
    assert.equal(s.fallback, V1);
    assert.match(s.error, /names version "1999-01-01T0000Z"/);

    writeFileSync(join(modelsDir, AGENT, "current"), `${V2}\n`);
    await waitFor("the pin to V2", () => {
      const st = h.registry.state(AGENT);
      return st.state === "active" && st.version === V2;
    });
  });

  test("registry - a models directory that does not exist yet: missing, then found by the poll", async () => {
    const later = join(root, "later-models");
    const fresh = await open(later);
    try {
      assert.equal(fresh.registry.states().size, 0);
      assert.deepEqual(fresh.registry.state(AGENT), { state: "missing" });
      mkdirSync(join(later, AGENT), { recursive: true });
      await waitFor("the empty type directory", () => fresh.registry.states().has(AGENT));
      assert.deepEqual(fresh.registry.state(AGENT), { state: "missing" });
      assert.deepEqual(await statusGauge(fresh.prom), { [AGENT]: ["missing"] });
      install(later, AGENT, "coding-1", V1);
      await waitFor("the new model", () => fresh.registry.state(AGENT).state === "active");
      assert.ok(fresh.registry.get(AGENT));
      // The type directory goes away: so does the model.
      rmSync(join(later, AGENT), { recursive: true });
      await waitFor("the removal", () => !fresh.registry.states().has(AGENT));
      assert.equal(fresh.registry.get(AGENT), undefined);
      assert.deepEqual(await statusGauge(fresh.prom), {});
    } finally {
      await fresh.registry.stop();
    }
  });
});
