/**
 * `trainModel` end to end, without NATS: a hand-written capture of benign windows with natural
 * variation -> model.onnx + manifest.json; the manifest validates and pins the model bytes, an
 * injected attack window scores above the calibrated threshold while fresh benign windows stay
 * below it, bad data is refused with TRAIN_DATA, and the same seed gives the same bytes.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { defaultVersion, trainCommand } from "../../src/cli/train-command.js";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import { readManifest } from "../../src/model/manifest.js";
import { WindowModel } from "../../src/model/window-model.js";
import { falseAlarmRate } from "../../training/calibrate.js";
import { prng } from "../../training/random.js";
import { type TrainOptions, type TrainResult, trainModel } from "../../training/train.js";
import { AGENT, attack, BENIGN_NGRAMS, benign, writeCapture } from "../helpers/agent-windows.js";
import { makeWindow } from "../helpers/messages.js";

const root = mkdtempSync(join(tmpdir(), "vigil-train-"));
// 1500 windows: 300 validation. The threshold at a 0.001 target is the largest validation score,
// which a fresh normal window exceeds with probability 1/(300 + 1): well inside the 1 % allowed.
const WINDOWS = 1500;
const quick = (over: Partial<TrainOptions>): TrainOptions => ({
  agentType: AGENT,
  dataDirs: [join(root, "benign")],
  out: join(root, "models", "run"),
  seed: 7,
  epochs: 12,
  hidden: [32, 8, 32],
  ...over,
});

describe("trainModel", () => {
  let first: TrainResult;
  const logs: string[] = [];
  const epochs: number[] = [];

  before(async () => {
    const random = prng(1);
    writeCapture(
      join(root, "benign"),
      Array.from({ length: WINDOWS }, (_, i) => benign(i, random)),
    );
    first = await trainModel(
      quick({ out: join(root, "models", "a"), onEpoch: (e) => epochs.push(e) }),
      (l) => logs.push(l),
    );
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test("writes a manifest that validates and pins model.onnx by sha256", async () => {
    const dir = join(root, "models", "a");
    const m = await readManifest(dir);
    assert.equal(m.schema, "vigil.model.v1");
    assert.equal(m.agentType, AGENT);
    assert.equal(m.version, "a");
    assert.equal(m.data.windows.fit, 1200);
    assert.equal(m.data.windows.validation, 300);
    assert.equal(m.data.captures[0]?.id, "benign");
    assert.equal(m.inputSize, m.featureSpec.names.length);
    assert.equal(m.featureStats.mean.length, m.inputSize);
    // the baseline's novelty sets: benign windows only touch the workspace and loopback
    assert.ok(m.novelty.fileAccess.length > 0 && !m.novelty.fileAccess.includes("secret:read"));
    assert.ok(
      m.novelty.destinations.every((d) => d.includes("127.0.0.1")),
      m.novelty.destinations.join(),
    );
    assert.ok(m.libraries.tfjs !== "unknown" && m.libraries["onnxruntime-node"] !== "unknown");
    assert.equal(m.vigilVersion, JSON.parse(readFileSync("package.json", "utf8")).version);
    const bytes = readFileSync(join(dir, "model.onnx"));
    assert.equal(m.model.sha256, createHash("sha256").update(bytes).digest("hex"));
    // Cross-fitted: the 300 validation windows scored by this model, the 1200 fit windows in 4
    // blocks, each by the same candidate retrained without it. 0.001 of 1500 allows one alarm,
    // too few to resolve 0.1 %, so the log-normal tail (if larger) is used.
    assert.equal(m.calibration.folds, 5);
    assert.equal(m.calibration.windows, WINDOWS);
    assert.ok(m.calibration.empirical >= m.scoreStats.validation.p99);
    assert.equal(m.calibration.method, "extreme-tail");
    assert.equal(
      m.threshold,
      Math.max(
        m.calibration.empirical,
        m.calibration.tail,
        m.calibration.pareto ?? Number.NEGATIVE_INFINITY,
      ),
      "the largest of the three tail estimates",
    );
    assert.deepEqual(
      epochs,
      Array.from({ length: 12 }, (_, i) => i + 1),
    );

    // A changed model file is refused, naming it.
    const copy = join(root, "models", "tampered");
    mkdirSync(copy);
    writeFileSync(join(copy, "manifest.json"), readFileSync(join(dir, "manifest.json")));
    writeFileSync(join(copy, "model.onnx"), Buffer.concat([bytes, Buffer.from([0])]));
    await assert.rejects(
      readManifest(copy),
      (e) => isVigilError(e, ErrorCodes.MODEL_INVALID) && e.message.includes("model.onnx"),
    );
  });

  /** Fresh benign windows stay below a model's threshold and an attack window goes above it. */
  async function checkDetects(dir: string, trainSeconds: number, maxFar: number): Promise<void> {
    const model = await WindowModel.open(dir);
    const m = model.manifest;
    try {
      const random = prng(12345);
      const fresh = Array.from({ length: 1000 }, (_, i) => benign(WINDOWS + i, random));
      const far = falseAlarmRate(await model.scores(fresh), m.threshold);
      const [attackScore = 0] = await model.scores([attack(0)]);
      console.log(
        `${m.family}: threshold ${m.threshold.toFixed(4)}, fresh benign false-alarm rate ${far}, ` +
          `attack score ${attackScore.toFixed(4)}, trained in ${trainSeconds.toFixed(1)} s`,
      );
      assert.ok(far <= maxFar, `fresh benign false-alarm rate ${far}`);
      assert.ok(attackScore > m.threshold, `attack ${attackScore} vs ${m.threshold}`);
    } finally {
      await model.close();
    }
  }

  test("an attack window scores above the threshold; >= 99 % of fresh benign windows below", async () => {
    await checkDetects(join(root, "models", "a"), first.trainSeconds, 0.01);
  });

  test("both families are trained and compared; the higher AUC is chosen and recorded", () => {
    const { selection, family } = first.manifest;
    assert.equal(selection.method, "measured");
    assert.match(selection.protocol, /perturbation/);
    const names = Object.keys(selection.candidates);
    assert.deepEqual(names, [
      "autoencoder/mean",
      "autoencoder/top16",
      "autoencoder/top4",
      "autoencoder/mean/above",
      "autoencoder/top16/above",
      "autoencoder/top4/above",
      "next-syscall/count",
      "next-syscall/log",
      "next-syscall/distinct",
    ]);
    for (const c of Object.values(selection.candidates)) {
      assert.ok(c.auc >= 0 && c.auc <= 1 && c.farAtDr90 >= 0 && c.farAtDr90 <= 1);
      assert.deepEqual(Object.keys(c.kinds).sort(), ["burst", "foreign-sequence", "new-behaviour"]);
    }
    const best = Math.max(...Object.values(selection.candidates).map((c) => c.auc));
    assert.equal(selection.candidates[selection.chosen]?.auc, best);
    assert.equal(family, selection.chosen.split("/")[0]);
    assert.equal(first.manifest.nextSyscall !== undefined, family === "next-syscall");
    assert.equal(first.manifest.autoencoder !== undefined, family === "autoencoder");
    assert.ok(
      logs.some((l) => /^chosen: /.test(l)),
      logs.join("\n"),
    );
  });

  test("--family next-syscall: predicts from the kernel's n-gram counts and detects the attack", async () => {
    const r = await trainModel(
      quick({ out: join(root, "models", "ns"), family: "next-syscall" }),
      () => {},
    );
    const m = r.manifest;
    assert.equal(m.family, "next-syscall");
    assert.equal(m.selection.method, "forced");
    assert.deepEqual(Object.keys(m.selection.candidates), [
      "next-syscall/count",
      "next-syscall/log",
      "next-syscall/distinct",
    ]);
    assert.equal(m.selection.chosen, `next-syscall/${m.nextSyscall?.weighting}`);
    assert.equal(m.nextSyscall?.context, 2);
    assert.ok(m.nextSyscall?.vocabulary.includes("epoll_wait"));
    // 300 validation windows cannot pin a 0.1 % rate, and this family's scores on the fixture
    // are coarse (each benign window is a random subset of 10 n-grams): 2 % is its bound here.
    await checkDetects(r.dir, r.trainSeconds, 0.02);
    // Per-n-gram surprise for explanations: the attack's unseen n-grams are the most surprising.
    const model = await WindowModel.open(r.dir);
    try {
      const w = attack(1);
      const [scored] = await model.score([w]);
      const surprise = scored?.ngramSurprise ?? new Float32Array(0);
      assert.equal(surprise.length, w.syscalls.ngrams.length);
      const top = surprise.indexOf(Math.max(...surprise));
      assert.ok(
        !BENIGN_NGRAMS.some((g) => g.join() === w.syscalls.ngrams[top]?.slice(0, 3).join()),
      );
    } finally {
      await model.close();
    }
  });

  test("the same data and seed give the same model.onnx bytes", async () => {
    const again = await trainModel(quick({ out: join(root, "models", "b") }), () => {});
    assert.equal(again.manifest.model.sha256, first.manifest.model.sha256);
    assert.deepEqual(
      readFileSync(join(root, "models", "b", "model.onnx")),
      readFileSync(join(root, "models", "a", "model.onnx")),
    );
  });

  test("windows an earlier model flags are left out of training, and recorded", async () => {
    const random = prng(3);
    const mixed = [
      ...Array.from({ length: 600 }, (_, i) => benign(10_000 + i, random)),
      ...Array.from({ length: 12 }, (_, i) => attack(20_000 + i)),
    ];
    writeCapture(join(root, "mixed"), mixed);
    const r = await trainModel(
      quick({
        dataDirs: [join(root, "mixed")],
        out: join(root, "models", "clean"),
        excludeFlaggedBy: join(root, "models", "a"),
      }),
      () => {},
    );
    const excluded = r.manifest.data.excluded;
    assert.equal(excluded?.model, `${AGENT}/a`);
    assert.equal(excluded?.sha256, first.manifest.model.sha256);
    // every attack window is left out; at most a few benign ones with it
    assert.ok(
      (excluded?.windows ?? 0) >= 12 && (excluded?.windows ?? 0) <= 12 + 6,
      `${excluded?.windows}`,
    );
    assert.equal(
      r.manifest.data.windows.fit + r.manifest.data.windows.validation,
      612 - (excluded?.windows ?? 0),
    );
    assert.ok(
      !r.manifest.novelty.fileAccess.includes("secret:read"),
      "the attack's secret read was not learned",
    );
  });

  test("novelty sets hold every baseline window's items, the latest (validation) ones too", async () => {
    const random = prng(4);
    const windows = Array.from({ length: 250 }, (_, i) => benign(30_000 + i, random));
    const last = windows.at(-1);
    assert.ok(last);
    last.execs.push({
      path: "/usr/bin/rare-tool",
      argv: ["rare-tool"],
      pid: 9,
      ppid: 8,
      uid: 0,
      count: 1,
    });
    writeCapture(join(root, "late"), windows);
    const options = quick({
      dataDirs: [join(root, "late")],
      out: join(root, "models", "late"),
      family: "autoencoder",
      calibrationFolds: 1,
    });
    const r = await trainModel(options, () => {});
    assert.equal(r.manifest.data.windows.validation, 50);
    assert.ok(r.manifest.novelty.execs.includes("/usr/bin/rare-tool"), "a late window's exec");
    assert.equal(r.manifest.calibration.windows, 50, "one fold: the validation windows alone");
    await assert.rejects(
      trainModel({ ...options, calibrationFolds: 0 }, () => {}),
      (e) => isVigilError(e, ErrorCodes.USAGE) && e.message.includes("calibrationFolds"),
    );
  });

  test("too few windows: TRAIN_DATA naming how many were found and needed", async () => {
    writeCapture(
      join(root, "few"),
      Array.from({ length: 50 }, (_, i) => makeWindow(i)),
    );
    await assert.rejects(
      trainModel(
        quick({ dataDirs: [join(root, "few")], out: join(root, "models", "few") }),
        () => {},
      ),
      (e) => isVigilError(e, ErrorCodes.TRAIN_DATA) && /50 found, 200 needed/.test(e.message),
    );
  });

  test("identical windows: TRAIN_DATA degenerate", async () => {
    const same = Array.from({ length: 250 }, (_, i) => {
      const w = makeWindow(i);
      return { ...makeWindow(0), seq: i, start: w.start, end: w.end };
    });
    writeCapture(join(root, "same"), same);
    await assert.rejects(
      trainModel(
        quick({ dataDirs: [join(root, "same")], out: join(root, "models", "same") }),
        () => {},
      ),
      (e) => isVigilError(e, ErrorCodes.TRAIN_DATA) && /degenerate/.test(e.message),
    );
  });

  test("mixed n-gram sizes and an unknown capture schema are refused with the reason", async () => {
    const mixed = Array.from({ length: 250 }, (_, i) =>
      i % 2 === 0
        ? makeWindow(i)
        : makeWindow(i, { syscalls: { n: 2, total: 10, ngrams: [["read", "write", 10]] } }),
    );
    writeCapture(join(root, "mixed"), mixed);
    await assert.rejects(
      trainModel(
        quick({ dataDirs: [join(root, "mixed")], out: join(root, "models", "m") }),
        () => {},
      ),
      (e) => isVigilError(e, ErrorCodes.TRAIN_DATA) && /125 windows of 2-grams/.test(e.message),
    );
    writeCapture(join(root, "future"), [makeWindow(0)], "vigil.capture.v9");
    await assert.rejects(
      trainModel(
        quick({ dataDirs: [join(root, "future")], out: join(root, "models", "f") }),
        () => {},
      ),
      (e) =>
        isVigilError(e, ErrorCodes.CAPTURE_INVALID) &&
        e.message.includes(join(root, "future")) &&
        e.message.includes("schema"),
    );
  });

  test("vigil train: writes the model, checks its flags, names the version by UTC time", async () => {
    assert.equal(defaultVersion(new Date("2026-11-25T12:00:59.999Z")), "2026-11-25T1200Z");
    const out = join(root, "models", "cli");
    const code = await trainCommand([
      "--agent-type",
      AGENT,
      "--data",
      join(root, "benign"),
      "--out",
      out,
      "--epochs",
      "2",
      "--seed",
      "3",
    ]);
    assert.equal(code, 0);
    const m = await readManifest(out);
    assert.equal(m.seed, 3);
    assert.equal(m.version, "cli");
    assert.equal(await trainCommand(["--help"]), 0);
    for (const argv of [
      ["--data", join(root, "benign")],
      ["--agent-type", AGENT],
      ["--agent-type", AGENT, "--data", "d", "--seed", "-1"],
      ["--agent-type", AGENT, "--data", "d", "--target-far", "1"],
      ["--agent-type", AGENT, "--data", "d", "--epochs", "0"],
      ["--agent-type", AGENT, "--data", "d", "--bogus"],
    ]) {
      await assert.rejects(trainCommand(argv), (e) => isVigilError(e, ErrorCodes.USAGE));
    }
    // A model directory is never overwritten.
    await assert.rejects(
      trainCommand([
        "--agent-type",
        AGENT,
        "--data",
        join(root, "benign"),
        "--out",
        out,
        "--epochs",
        "1",
      ]),
      (e) => isVigilError(e, ErrorCodes.USAGE) && /not empty/.test(e.message),
    );
  });
});
