/** The next-syscall model's training loop, shared by `vigil train` and the evaluation family. */
import * as tf from "@tensorflow/tfjs";
import { buildNextSyscall } from "../src/model/tfjs-models.js";
import { prng, shuffle } from "./random.js";

export interface FitNextSyscallOptions {
  /** Known syscalls: ids 0..vocabSize-1; vocabSize itself is "unknown". */
  vocabSize: number;
  context: number;
  embeddingDim: number;
  hidden: readonly number[];
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** After each epoch, with the mean batch loss. */
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
}

/**
 * Trains P(target | context) with softmax cross-entropy on rows of `contexts` ([rows * context]
 * ids) and `targets` ([rows]), seeded shuffles. With `weights` ([rows], e.g. how often each
 * distinct row occurred) each row's loss is weighted, rescaled so that the mean weight is 1:
 * the same optimum as repeating rows, at the cost of the distinct ones only. The caller disposes
 * the returned model.
 */
export function fitNextSyscall(
  contexts: Int32Array,
  targets: Int32Array,
  o: FitNextSyscallOptions,
  weights?: Float32Array,
): { model: tf.LayersModel; finalLoss: number } {
  const rows = targets.length;
  const ids = o.vocabSize + 1;
  const model = buildNextSyscall(o.vocabSize, o.context, o.embeddingDim, o.hidden, o.seed);
  const forward = trainingForward(model, ids, o.context * o.embeddingDim);
  const optimizer = tf.train.adam(o.learningRate);
  const order = Uint32Array.from({ length: rows }, (_, i) => i);
  const random = prng(o.seed);
  const batchContext = new Int32Array(o.batchSize * o.context);
  const batchTarget = new Int32Array(o.batchSize);
  const batchWeight = new Float32Array(o.batchSize);
  let scale = 1;
  if (weights !== undefined) {
    let sum = 0;
    for (const w of weights) sum += w;
    scale = rows > 0 && sum > 0 ? rows / sum : 1;
  }
  let finalLoss = Number.NaN;
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      shuffle(order, random);
      let lossSum = 0;
      let batches = 0;
      for (let start = 0; start < rows; start += o.batchSize) {
        const size = Math.min(o.batchSize, rows - start);
        for (let b = 0; b < size; b++) {
          const row = order[start + b] ?? 0;
          batchContext.set(
            contexts.subarray(row * o.context, (row + 1) * o.context),
            b * o.context,
          );
          batchTarget[b] = targets[row] ?? o.vocabSize;
          batchWeight[b] = weights === undefined ? 1 : (weights[row] ?? 0) * scale;
        }
        const loss = optimizer.minimize(() => {
          const x = tf.tensor2d(
            batchContext.subarray(0, size * o.context),
            [size, o.context],
            "int32",
          );
          const y = tf.oneHot(tf.tensor1d(batchTarget.subarray(0, size), "int32"), ids);
          if (weights === undefined) {
            return tf.losses.softmaxCrossEntropy(y, forward(x)) as tf.Scalar;
          }
          const w = tf.tensor1d(batchWeight.subarray(0, size));
          return tf.losses
            .softmaxCrossEntropy(y, forward(x), w, 0, tf.Reduction.SUM)
            .div(size) as tf.Scalar;
        }, true);
        lossSum += loss?.dataSync()[0] ?? 0;
        loss?.dispose();
        batches++;
      }
      finalLoss = lossSum / Math.max(1, batches);
      o.onEpoch?.(epoch + 1, o.epochs, finalLoss);
    }
  } finally {
    optimizer.dispose();
  }
  return { model, finalLoss };
}

/**
 * The model's logits with the embedding lookup done as oneHot(ids) @ table: the same numbers as
 * the Embedding layer, but its gradient is a matMul, which the wasm backend has (the Gather
 * gradient needs UnsortedSegmentSum, which it lacks).
 */
function trainingForward(
  model: tf.LayersModel,
  ids: number,
  flatWidth: number,
): (x: tf.Tensor2D) => tf.Tensor {
  const [embedding, , ...dense] = model.layers;
  const table = embedding?.trainableWeights[0]?.read();
  if (table === undefined) throw new Error("next-syscall: the model has no embedding table");
  return (x) => {
    const [rows = 0, context = 0] = x.shape;
    const oneHot = tf.oneHot(x.reshape([rows * context]), ids);
    let h: tf.Tensor = tf.matMul(oneHot, table as tf.Tensor2D).reshape([rows, flatWidth]);
    for (const layer of dense) h = layer.apply(h) as tf.Tensor;
    return h;
  };
}
