import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import onnx from "onnx-proto";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import {
  type Activation,
  type AutoencoderParams,
  exportOnnx,
  type NextSyscallRow,
  OnnxModelRunner,
} from "../../src/model/index.js";
import {
  autoencoderParams,
  autoencoderScoreTf,
  buildAutoencoder,
  buildNextSyscall,
  nextSyscallParams,
  nextSyscallScoreTf,
} from "../../src/model/tfjs-models.js";
import { prng } from "../../training/random.js";

const META = { producerVersion: "test" };
const TOL = 1e-5;

/** Largest |a - b| / max(1, |a|) over both arrays; fails on a length mismatch. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? Number.NaN;
    const y = b[i] ?? Number.NaN;
    worst = Math.max(worst, Math.abs(x - y) / Math.max(1, Math.abs(x)));
  }
  assert.ok(Number.isFinite(worst), "non-finite values");
  return worst;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isVigilError(e) && e.code === code && !!e.hint);
}

const flat = (rows: readonly Float32Array[]) => Float32Array.from(rows.flatMap((r) => [...r]));
const measured: Record<string, number> = {};

describe("onnx export - autoencoder", () => {
  const inputSize = 8;
  const random = prng(1);
  // Correlated features (3 latent factors), with offsets and a constant feature (std 0).
  const sample = (scale = 1): Float32Array => {
    const l = [random(), random(), random()].map((v) => (v - 0.5) * 4);
    const [a = 0, b = 0, c = 0] = l;
    const f = [a, b, c, a + b, b - c, 2 * a + c, 7, a * 0.5 + 3];
    return Float32Array.from(f, (v, i) => (i === 6 ? v : v * scale + (random() - 0.5) * 0.1));
  };
  const train = Array.from({ length: 256 }, () => sample());
  const mean = new Float32Array(inputSize);
  const std = new Float32Array(inputSize);
  for (let j = 0; j < inputSize; j++) {
    const col = train.map((r) => r[j] ?? 0);
    const m = col.reduce((s, v) => s + v, 0) / col.length;
    mean[j] = m;
    std[j] = Math.sqrt(col.reduce((s, v) => s + (v - m) ** 2, 0) / col.length);
  }
  std[6] = 0;
  const fixture = [
    ...train.slice(0, 8),
    ...Array.from({ length: 4 }, () => sample(50)),
    Float32Array.from({ length: inputSize }, (_, i) => (i % 2 ? -1e3 : 1e3)),
    new Float32Array(inputSize),
    Float32Array.from({ length: inputSize }, () => 1e4 * random()),
  ];
  let model: tf.Sequential;
  let params: AutoencoderParams;
  let runner: OnnxModelRunner;

  before(async () => {
    model = buildAutoencoder(inputSize, [6, 3, 6], 11);
    const initial = autoencoderParams(model, mean, std);
    const safeStd = std.map((s) => (s === 0 ? 1 : s));
    const z = tf
      .tensor2d(flat(train), [train.length, inputSize])
      .sub(tf.tensor1d(mean))
      .div(tf.tensor1d(safeStd));
    model.compile({ optimizer: tf.train.adam(0.01), loss: "meanSquaredError" });
    await model.fit(z, z, { epochs: 5, batchSize: 32, shuffle: false, verbose: 0 });
    z.dispose();
    params = autoencoderParams(model, mean, std);
    assert.notDeepEqual(
      params.layers[0]?.weights,
      initial.layers[0]?.weights,
      "training changed nothing",
    );
    runner = await OnnxModelRunner.open(exportOnnx(params, META), {
      family: "autoencoder",
      inputSize,
    });
  });
  after(() => runner.close());

  it("autoencoder - ONNX Runtime equals the trained tfjs model (1e-5)", async () => {
    const onnxOut = await runner.scoreAutoencoder(fixture);
    const tfOut = autoencoderScoreTf({ model, mean, std }, fixture);
    const fromParams = autoencoderScoreTf(params, fixture);
    measured["autoencoder score"] = maxDiff(tfOut.score, onnxOut.score);
    measured["autoencoder feature_error"] = maxDiff(flat(tfOut.featureError), onnxOut.featureError);
    measured["autoencoder params vs model"] = maxDiff(tfOut.score, fromParams.score);
    assert.ok(measured["autoencoder score"] <= TOL);
    assert.ok(measured["autoencoder feature_error"] <= TOL);
    assert.ok(measured["autoencoder params vs model"] <= TOL);
    // The outliers are what the model is for: they must score far above the training rows.
    assert.ok((onnxOut.score[8] ?? 0) > 10 * Math.max(...onnxOut.score.slice(0, 8)));
  });

  it("autoencoder, top-k score - ONNX Runtime equals tfjs, and is the mean of the k largest errors", async () => {
    const k = 3;
    const topParams = autoencoderParams(model, mean, std, k);
    const top = await OnnxModelRunner.open(exportOnnx(topParams, META), {
      family: "autoencoder",
      inputSize,
    });
    try {
      const onnxOut = await top.scoreAutoencoder(fixture);
      const tfOut = autoencoderScoreTf({ model, mean, std, scoreTopK: k }, fixture);
      measured["autoencoder top-3 score"] = maxDiff(tfOut.score, onnxOut.score);
      assert.ok(measured["autoencoder top-3 score"] <= TOL);
      fixture.forEach((_, i) => {
        const errors = Array.from(
          onnxOut.featureError.subarray(i * inputSize, (i + 1) * inputSize),
        );
        const largest = errors.sort((a, b) => b - a).slice(0, k);
        const want = largest.reduce((a, b) => a + b, 0) / k;
        assert.ok(Math.abs((onnxOut.score[i] ?? 0) - want) <= TOL * Math.max(1, want));
      });
      assert.equal(top.metadata["vigil.score_topk"], "3");
      assert.throws(() => exportOnnx({ ...topParams, scoreTopK: 2.5 }, META), /scoreTopK/);
    } finally {
      await top.close();
    }
  });

  it("autoencoder, one-sided - ONNX Runtime equals tfjs; only features above their reconstruction count", async () => {
    const p1 = autoencoderParams(model, mean, std, 0, true);
    const one = await OnnxModelRunner.open(exportOnnx(p1, META), {
      family: "autoencoder",
      inputSize,
    });
    try {
      const onnxOut = await one.scoreAutoencoder(fixture);
      const tfOut = autoencoderScoreTf({ model, mean, std, oneSided: true }, fixture);
      const both = await runner.scoreAutoencoder(fixture);
      measured["autoencoder one-sided score"] = maxDiff(tfOut.score, onnxOut.score);
      assert.ok(measured["autoencoder one-sided score"] <= TOL);
      // Each one-sided error is either the two-sided one or 0.
      onnxOut.featureError.forEach((e, i) => {
        const full = both.featureError[i] ?? 0;
        assert.ok(e === 0 || Math.abs(e - full) <= TOL * Math.max(1, full), `${e} vs ${full}`);
      });
      assert.ok(
        onnxOut.featureError.some((e) => e === 0) && onnxOut.featureError.some((e) => e > 0),
      );
      assert.equal(one.metadata["vigil.one_sided"], "1");
    } finally {
      await one.close();
    }
  });

  it("autoencoder - a flat batch gives the same result as rows", async () => {
    const rows = await runner.scoreAutoencoder(fixture);
    const flatOut = await runner.scoreAutoencoder(flat(fixture), fixture.length);
    assert.deepEqual(flatOut, rows);
    assert.deepEqual(await runner.scoreAutoencoder([]), {
      score: new Float32Array(0),
      featureError: new Float32Array(0),
    });
  });

  it("autoencoder - wrong input sizes throw MODEL_INPUT", async () => {
    await rejectsWith(runner.scoreAutoencoder([new Float32Array(3)]), ErrorCodes.MODEL_INPUT);
    await rejectsWith(
      runner.scoreAutoencoder(new Float32Array(inputSize + 1)),
      ErrorCodes.MODEL_INPUT,
    );
    await rejectsWith(runner.scoreAutoencoder(fixture, 2), ErrorCodes.MODEL_INPUT);
    await rejectsWith(runner.scoreNextSyscall([]), ErrorCodes.MODEL_INPUT);
  });

  it("autoencoder - opens from a path; corrupt, truncated and mismatched models are MODEL_INVALID", async () => {
    const bytes = exportOnnx(params, META);
    const dir = await mkdtemp(join(tmpdir(), "vigil-onnx-"));
    try {
      const path = join(dir, "model.onnx");
      await writeFile(path, bytes);
      const fromPath = await OnnxModelRunner.open(path, { family: "autoencoder" });
      assert.equal(fromPath.inputSize, inputSize);
      await fromPath.close();
      await rejectsWith(
        OnnxModelRunner.open(join(dir, "missing.onnx"), { family: "autoencoder" }),
        ErrorCodes.MODEL_INVALID,
      );
    } finally {
      await rm(dir, { recursive: true });
    }
    const r = prng(99);
    const noise = Uint8Array.from({ length: 4096 }, () => Math.floor(r() * 256));
    for (const bad of [
      noise,
      bytes.slice(0, bytes.length >> 1),
      bytes.slice(0, 40),
      new Uint8Array(0),
    ]) {
      await rejectsWith(
        OnnxModelRunner.open(bad, { family: "autoencoder" }),
        ErrorCodes.MODEL_INVALID,
      );
    }
    await rejectsWith(
      OnnxModelRunner.open(bytes, { family: "next-syscall" }),
      ErrorCodes.MODEL_INVALID,
    );
    await rejectsWith(
      OnnxModelRunner.open(bytes, { family: "autoencoder", inputSize: inputSize + 1 }),
      ErrorCodes.MODEL_INVALID,
    );
    // A model that claims the family but whose graph input is not `x`.
    const { onnx: O } = onnx;
    const renamed = O.ModelProto.decode(bytes);
    const input = renamed.graph?.input?.[0];
    const firstNode = renamed.graph?.node?.[0];
    assert.ok(input && firstNode?.input);
    input.name = "y";
    firstNode.input[0] = "y";
    const renamedBytes = O.ModelProto.encode(renamed).finish();
    await rejectsWith(
      OnnxModelRunner.open(renamedBytes, { family: "autoencoder" }),
      ErrorCodes.MODEL_INVALID,
    );
  });
});

describe("onnx export - next-syscall", () => {
  const vocabSize = 12;
  const context = 3;
  const random = prng(2);
  // A looping "agent": read/write cycles with occasional noise syscalls.
  const sequence = Array.from({ length: 600 }, (_, i) =>
    random() < 0.1 ? Math.floor(random() * vocabSize) : ([0, 1, 2, 1, 3, 4][i % 6] ?? 0),
  );
  const grams: NextSyscallRow[] = [];
  for (let i = context; i < sequence.length; i++) {
    grams.push({ context: sequence.slice(i - context, i), next: sequence[i] ?? 0, count: 1 });
  }
  const fixture: NextSyscallRow[] = [
    ...grams.slice(0, 10).map((g, i) => ({ ...g, count: i + 1 })),
    { context: [vocabSize, vocabSize, vocabSize], next: vocabSize, count: 2 },
    { context: [0, 1, vocabSize], next: 5, count: 1 },
    { context: [999, -1, 2.5], next: 4, count: 3 }, // out of range -> unknown
    { context: [11, 10, 9], next: 1234, count: 0.5 },
    { context: [1, 2, 1], next: 3, count: 0 },
  ];
  let model: tf.Sequential;
  let runner: OnnxModelRunner;

  before(async () => {
    model = buildNextSyscall(vocabSize, context, 4, [16], 5);
    const initial = nextSyscallParams(model);
    const x = tf.tensor2d(
      grams.map((g) => [...g.context]),
      undefined,
      "int32",
    );
    const y = tf
      .oneHot(
        tf.tensor1d(
          grams.map((g) => g.next),
          "int32",
        ),
        vocabSize + 1,
      )
      .toFloat();
    model.compile({
      optimizer: tf.train.adam(0.02),
      loss: (yTrue: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, logits),
    });
    await model.fit(x, y, { epochs: 4, batchSize: 64, shuffle: false, verbose: 0 });
    tf.dispose([x, y]);
    const params = nextSyscallParams(model);
    assert.notDeepEqual(params.embedding, initial.embedding, "training changed nothing");
    runner = await OnnxModelRunner.open(exportOnnx(params, META), {
      family: "next-syscall",
      inputSize: vocabSize,
      context,
    });
  });
  after(() => runner.close());

  it("next-syscall - ONNX Runtime equals the trained tfjs model (1e-5)", async () => {
    const onnxOut = await runner.scoreNextSyscall(fixture);
    const tfOut = nextSyscallScoreTf(model, fixture);
    const fromParams = nextSyscallScoreTf(nextSyscallParams(model), fixture);
    measured["next-syscall surprise"] = maxDiff(tfOut.surprise, onnxOut.surprise);
    measured["next-syscall score"] = maxDiff([tfOut.score], [onnxOut.score]);
    measured["next-syscall params vs model"] = maxDiff(tfOut.surprise, fromParams.surprise);
    assert.ok(measured["next-syscall surprise"] <= TOL);
    assert.ok(measured["next-syscall score"] <= TOL);
    assert.ok(measured["next-syscall params vs model"] <= TOL);
    // Learned: the loop's own transitions are less surprising than a made-up one.
    assert.ok((onnxOut.surprise[0] ?? 0) < (onnxOut.surprise[13] ?? 0));
  });

  it("next-syscall - no rows and zero counts score 0", async () => {
    assert.deepEqual(await runner.scoreNextSyscall([]), {
      score: 0,
      surprise: new Float32Array(0),
    });
    const zero = fixture.map((r) => ({ ...r, count: 0 }));
    assert.equal((await runner.scoreNextSyscall(zero)).score, 0);
    assert.equal(nextSyscallScoreTf(model, zero).score, 0);
  });

  it("next-syscall - a wrong context length throws MODEL_INPUT", async () => {
    await rejectsWith(
      runner.scoreNextSyscall([{ context: [1, 2], next: 1, count: 1 }]),
      ErrorCodes.MODEL_INPUT,
    );
    await rejectsWith(runner.scoreAutoencoder([]), ErrorCodes.MODEL_INPUT);
    assert.throws(
      () => nextSyscallScoreTf(model, [{ context: [1, 2], next: 1, count: 1 }]),
      (e: unknown) => isVigilError(e, ErrorCodes.MODEL_INPUT),
    );
  });

  it("next-syscall - family and context mismatches are MODEL_INVALID", async () => {
    const bytes = exportOnnx(nextSyscallParams(model), META);
    await rejectsWith(
      OnnxModelRunner.open(bytes, { family: "autoencoder" }),
      ErrorCodes.MODEL_INVALID,
    );
    await rejectsWith(
      OnnxModelRunner.open(bytes, { family: "next-syscall", context: context + 1 }),
      ErrorCodes.MODEL_INVALID,
    );
  });
});

describe("onnx export - graph", () => {
  it("activations - linear, relu, tanh and sigmoid round-trip", async () => {
    const activations: Activation[] = ["tanh", "relu", "sigmoid", "linear"];
    const model = tf.sequential();
    activations.forEach((activation, i) => {
      model.add(
        tf.layers.dense({
          units: i === activations.length - 1 ? 5 : 4,
          activation,
          kernelInitializer: tf.initializers.randomNormal({ stddev: 1.5, seed: 40 + i }),
          biasInitializer: tf.initializers.randomNormal({ stddev: 0.5, seed: 50 + i }),
          ...(i === 0 ? { inputShape: [5] } : {}),
        }),
      );
    });
    const mean = Float32Array.of(0, 1, -1, 2, 0);
    const std = Float32Array.of(1, 2, 0.5, 0, 3);
    const params = autoencoderParams(model, mean, std);
    assert.deepEqual(
      params.layers.map((l) => l.activation),
      activations,
    );
    const r = prng(3);
    const x = Array.from({ length: 16 }, () =>
      Float32Array.from({ length: 5 }, () => (r() - 0.5) * 20),
    );
    const runner = await OnnxModelRunner.open(exportOnnx(params, META), { family: "autoencoder" });
    try {
      const onnxOut = await runner.scoreAutoencoder(x);
      const tfOut = autoencoderScoreTf({ model, mean, std }, x);
      measured["activations score"] = maxDiff(tfOut.score, onnxOut.score);
      measured["activations feature_error"] = maxDiff(
        flat(tfOut.featureError),
        onnxOut.featureError,
      );
      assert.ok(measured["activations score"] <= TOL);
      assert.ok(measured["activations feature_error"] <= TOL);
    } finally {
      await runner.close();
    }
  });

  it("determinism - the same seed gives identical bytes, another seed different bytes", () => {
    const mean = new Float32Array(6);
    const std = new Float32Array(6).fill(1);
    const ae = (seed: number) =>
      exportOnnx(autoencoderParams(buildAutoencoder(6, [4, 2, 4], seed), mean, std), META);
    const ns = (seed: number) =>
      exportOnnx(nextSyscallParams(buildNextSyscall(9, 2, 3, [8], seed)), META);
    assert.deepEqual(ae(3), ae(3));
    assert.notDeepEqual(ae(3), ae(4));
    assert.deepEqual(ns(3), ns(3));
    assert.notDeepEqual(ns(3), ns(4));
  });

  it("metadata - family and feature count are in metadata_props; every node is named", () => {
    const model = buildNextSyscall(9, 2, 3, [8], 1);
    const decoded = onnx.onnx.ModelProto.decode(
      exportOnnx(nextSyscallParams(model), { ...META, docString: "d" }),
    );
    const props = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
    assert.equal(props["vigil.family"], "next-syscall");
    assert.equal(props["vigil.feature_count"], "9");
    assert.equal(props["vigil.context"], "2");
    assert.equal(Number(decoded.opsetImport[0]?.version), 17);
    assert.equal(Number(decoded.irVersion), 8);
    assert.equal(decoded.docString, "d");
    const names = decoded.graph?.node?.map((n) => n.name ?? "") ?? [];
    assert.ok(names.length > 0 && names.every((n) => n.length > 0));
    assert.equal(new Set(names).size, names.length);
    assert.ok(decoded.graph?.initializer?.every((t) => t.name));
  });

  it("export - inconsistent params throw MODEL_EXPORT", () => {
    const params = autoencoderParams(
      buildAutoencoder(4, [2], 1),
      new Float32Array(4),
      new Float32Array(4),
    );
    const bad: AutoencoderParams[] = [
      { ...params, mean: new Float32Array(3) },
      { ...params, std: Float32Array.of(1, Number.NaN, 1, 1) },
      { ...params, layers: [] },
      { ...params, layers: params.layers.slice(1) },
      { ...params, inputSize: 0 },
    ];
    for (const p of bad) {
      assert.throws(
        () => exportOnnx(p, META),
        (e: unknown) => isVigilError(e, ErrorCodes.MODEL_EXPORT),
      );
    }
    assert.throws(
      () =>
        autoencoderParams(buildAutoencoder(4, [2], 1), new Float32Array(3), new Float32Array(3)),
      (e: unknown) => isVigilError(e, ErrorCodes.MODEL_EXPORT),
    );
    assert.throws(
      () => nextSyscallParams(buildAutoencoder(4, [2], 1)),
      (e: unknown) => isVigilError(e, ErrorCodes.MODEL_EXPORT),
    );
  });

  after(() => {
    console.log(`max |onnx - tfjs| / max(1, |tfjs|): ${JSON.stringify(measured)}`);
  });
});
