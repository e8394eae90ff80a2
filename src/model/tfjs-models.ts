/**
 * tfjs builders for training and converters to the framework-free params. Runs on whatever tfjs
 * backend is active: the default CPU backend is deterministic (tests use it); for speed,
 * training can `import "@tensorflow/tfjs-backend-wasm"` and `await tf.setBackend("wasm")` first.
 */
import * as tf from "@tensorflow/tfjs";
import { ErrorCodes, VigilError } from "../errors.js";
import { type NextSyscallRow, vocabId } from "./onnx-export.js";
import type { Activation, AutoencoderParams, DenseLayer, NextSyscallParams } from "./params.js";

/**
 * Dense autoencoder over standardised features: `hidden` relu layers then a linear layer back
 * to `inputSize`. Layer i is initialised with seed + i, so one seed gives one set of weights.
 * Train it on z = (x - mean) / std with z as the target.
 */
export function buildAutoencoder(
  inputSize: number,
  hidden: readonly number[],
  seed: number,
): tf.Sequential {
  const model = tf.sequential();
  [...hidden, inputSize].forEach((units, i) => {
    model.add(
      tf.layers.dense({
        units,
        activation: i < hidden.length ? "relu" : "linear",
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }),
        biasInitializer: "zeros",
        ...(i === 0 ? { inputShape: [inputSize] } : {}),
      }),
    );
  });
  return model;
}

/** The trained autoencoder's params; `mean`/`std` are the training features' statistics. */
export function autoencoderParams(
  model: tf.LayersModel,
  mean: Float32Array,
  std: Float32Array,
  scoreTopK = 0,
  oneSided = false,
): AutoencoderParams {
  const layers = model.layers.filter((l) => l.getClassName() !== "InputLayer").map(denseParams);
  const inputSize = layers[0]?.inputSize ?? 0;
  if (mean.length !== inputSize || std.length !== inputSize) {
    throw convertError(`mean/std have ${mean.length}/${std.length} values, expected ${inputSize}`);
  }
  return {
    family: "autoencoder",
    inputSize,
    mean: Float32Array.from(mean),
    std: Float32Array.from(std),
    layers,
    ...(scoreTopK > 0 ? { scoreTopK } : {}),
    ...(oneSided ? { oneSided } : {}),
  };
}

/** A trained tfjs autoencoder with the statistics its inputs are standardised with. */
export interface AutoencoderModel {
  model: tf.LayersModel;
  mean: Float32Array;
  std: Float32Array;
  scoreTopK?: number;
  oneSided?: boolean;
}

/**
 * Scores rows as params.ts defines: z = (x - mean) / std (std 0 -> 1), r = layers(z),
 * featureError = (r - z)^2, score = mean(featureError). From params, or from the tfjs model.
 */
export function autoencoderScoreTf(
  source: AutoencoderParams | AutoencoderModel,
  x: readonly Float32Array[],
): { score: Float32Array; featureError: Float32Array[] } {
  const width = source.mean.length;
  const flatX = new Float32Array(x.length * width);
  x.forEach((row, i) => {
    if (row.length !== width) throw inputError(`row ${i} has ${row.length} features, not ${width}`);
    flatX.set(row, i * width);
  });
  if (x.length === 0) return { score: new Float32Array(0), featureError: [] };
  const [score, error] = tf.tidy(() => {
    const input = tf.tensor2d(flatX, [x.length, width]);
    const std = tf.tensor1d(source.std.map((s) => (s === 0 ? 1 : s)));
    const z = input.sub(tf.tensor1d(source.mean)).div(std);
    const r =
      "model" in source ? (source.model.predict(z) as tf.Tensor) : applyDense(z, source.layers);
    const e = source.oneSided ? tf.relu(z.sub(r)).square() : tf.squaredDifference(r, z);
    const k = source.scoreTopK ?? 0;
    return [k > 0 && k < width ? tf.topk(e, k).values.mean(1) : e.mean(1), e];
  });
  const scores = Float32Array.from(score.dataSync());
  const flat = error.dataSync();
  tf.dispose([score, error]);
  return {
    score: scores,
    featureError: x.map((_, i) => Float32Array.from(flat.subarray(i * width, (i + 1) * width))),
  };
}

/**
 * Next-syscall model: embedding over vocabSize + 1 ids (vocabSize = unknown), flatten, `hidden`
 * relu layers, then vocabSize + 1 logits (no softmax: train with
 * `tf.losses.softmaxCrossEntropy` on one-hot targets). Layers are seeded with seed, seed + 1, ...
 */
export function buildNextSyscall(
  vocabSize: number,
  context: number,
  embeddingDim: number,
  hidden: readonly number[],
  seed: number,
): tf.Sequential {
  const model = tf.sequential();
  model.add(
    tf.layers.embedding({
      inputDim: vocabSize + 1,
      outputDim: embeddingDim,
      inputLength: context,
      embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed }),
    }),
  );
  model.add(tf.layers.flatten());
  [...hidden, vocabSize + 1].forEach((units, i) => {
    model.add(
      tf.layers.dense({
        units,
        activation: i < hidden.length ? "relu" : "linear",
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i + 1 }),
        biasInitializer: "zeros",
      }),
    );
  });
  return model;
}

/** The trained next-syscall model's params (embedding, then the dense layers after Flatten). */
export function nextSyscallParams(model: tf.LayersModel): NextSyscallParams {
  const [embeddingLayer, flatten, ...rest] = model.layers.filter(
    (l) => l.getClassName() !== "InputLayer",
  );
  if (embeddingLayer?.getClassName() !== "Embedding" || flatten?.getClassName() !== "Flatten") {
    throw convertError("expected Embedding, Flatten, then Dense layers");
  }
  const [table] = embeddingLayer.getWeights();
  const [rows, embeddingDim] = table?.shape ?? [];
  const context = model.inputs[0]?.shape[1];
  if (table === undefined || rows === undefined || embeddingDim === undefined || !context) {
    throw convertError("the embedding layer has no weights or the input has no fixed context");
  }
  return {
    family: "next-syscall",
    vocabSize: rows - 1,
    context,
    embeddingDim,
    embedding: Float32Array.from(table.dataSync()),
    layers: rest.map(denseParams),
  };
}

/**
 * One window's next-syscall score as params.ts defines: surprise = -log softmax(logits)[next],
 * score = sum(surprise * count) / sum(count), 0 when the counts sum to 0. Ids outside the
 * vocabulary count as unknown, as in the ONNX runner.
 */
export function nextSyscallScoreTf(
  source: NextSyscallParams | tf.LayersModel,
  rows: readonly NextSyscallRow[],
): { score: number; surprise: Float32Array } {
  if (rows.length === 0) return { score: 0, surprise: new Float32Array(0) };
  const model = source instanceof tf.LayersModel ? source : undefined;
  const params = source instanceof tf.LayersModel ? undefined : source;
  const vocabSize = params?.vocabSize ?? (model?.outputs[0]?.shape[1] ?? 1) - 1;
  const context = params?.context ?? model?.inputs[0]?.shape[1];
  rows.forEach((r, i) => {
    if (r.context.length !== context) {
      throw inputError(`row ${i} has a context of ${r.context.length} ids, not ${context}`);
    }
  });
  const surpriseT = tf.tidy(() => {
    const ids = tf.tensor2d(
      rows.map((r) => r.context.map((id) => vocabId(id, vocabSize))),
      [rows.length, context ?? 0],
      "int32",
    );
    const logits =
      params === undefined ? (model?.predict(ids) as tf.Tensor) : paramLogits(params, ids);
    const next = tf.tensor1d(
      rows.map((r) => vocabId(r.next, vocabSize)),
      "int32",
    );
    // oneHot * logp adds exact zeros, so the sum is exactly logp[next].
    return tf
      .logSoftmax(logits)
      .mul(tf.oneHot(next, vocabSize + 1))
      .sum(1)
      .neg();
  });
  const surprise = Float32Array.from(surpriseT.dataSync());
  surpriseT.dispose();
  let total = 0;
  let counts = 0;
  rows.forEach((r, i) => {
    total += (surprise[i] ?? 0) * r.count;
    counts += r.count;
  });
  return { score: counts === 0 ? 0 : total / counts, surprise };
}

const TF_ACTIVATIONS: Record<Activation, (y: tf.Tensor) => tf.Tensor> = {
  linear: (y) => y,
  relu: (y) => tf.relu(y),
  tanh: (y) => tf.tanh(y),
  sigmoid: (y) => tf.sigmoid(y),
};

function denseParams(layer: tf.layers.Layer): DenseLayer {
  const [kernel, bias] = layer.getWeights();
  if (layer.getClassName() !== "Dense" || kernel === undefined || bias === undefined) {
    throw convertError(
      `layer ${layer.name} is a ${layer.getClassName()}, expected Dense with a bias`,
    );
  }
  const activation = layer.getConfig().activation;
  if (typeof activation !== "string" || !(activation in TF_ACTIVATIONS)) {
    throw convertError(`layer ${layer.name} has activation ${String(activation)}`);
  }
  const [inputSize = 0, outputSize = 0] = kernel.shape;
  return {
    inputSize,
    outputSize,
    weights: Float32Array.from(kernel.dataSync()),
    bias: Float32Array.from(bias.dataSync()),
    activation: activation as Activation,
  };
}

function paramLogits(params: NextSyscallParams, ids: tf.Tensor2D): tf.Tensor {
  const table = tf.tensor2d(params.embedding, [params.vocabSize + 1, params.embeddingDim]);
  const [rows = 0] = ids.shape;
  const flat = tf.gather(table, ids).reshape([rows, params.context * params.embeddingDim]);
  return applyDense(flat, params.layers);
}

function applyDense(input: tf.Tensor, layers: readonly DenseLayer[]): tf.Tensor {
  return layers.reduce((h, layer) => {
    const w = tf.tensor2d(layer.weights, [layer.inputSize, layer.outputSize]);
    const y = tf.matMul(h as tf.Tensor2D, w).add(tf.tensor1d(layer.bias));
    return TF_ACTIVATIONS[layer.activation](y);
  }, input);
}

function inputError(message: string): VigilError {
  return new VigilError(ErrorCodes.MODEL_INPUT, `cannot score: ${message}`);
}

function convertError(message: string): VigilError {
  return new VigilError(ErrorCodes.MODEL_EXPORT, `cannot convert the tfjs model: ${message}`, {
    hint: "build the model with buildAutoencoder / buildNextSyscall",
  });
}
