/** The autoencoder's training loop, shared by `vigil train` and the evaluation family. */
import * as tf from "@tensorflow/tfjs";
import { buildAutoencoder } from "../src/model/tfjs-models.js";
import { prng, shuffle } from "./random.js";

export interface FitOptions {
  hidden: readonly number[];
  seed: number;
  learningRate: number;
  epochs: number;
  batchSize: number;
  /** After each epoch, with the mean batch loss. */
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
}

/**
 * Trains on `z` (rows x width, already standardised), MSE, seeded shuffles: the same data and
 * seed give the same weights on the cpu backend. The caller disposes the returned model.
 */
export function fitAutoencoder(
  z: Float32Array,
  rows: number,
  width: number,
  o: FitOptions,
): tf.LayersModel {
  const model = buildAutoencoder(width, o.hidden, o.seed);
  const optimizer = tf.train.adam(o.learningRate);
  const order = Uint32Array.from({ length: rows }, (_, i) => i);
  const random = prng(o.seed);
  const batch = new Float32Array(o.batchSize * width);
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      shuffle(order, random);
      let lossSum = 0;
      let batches = 0;
      for (let start = 0; start < order.length; start += o.batchSize) {
        const size = Math.min(o.batchSize, order.length - start);
        for (let b = 0; b < size; b++) {
          const row = order[start + b] ?? 0;
          batch.set(z.subarray(row * width, (row + 1) * width), b * width);
        }
        const loss = optimizer.minimize(() => {
          const input = tf.tensor2d(batch.subarray(0, size * width), [size, width]);
          const output = model.apply(input, { training: true }) as tf.Tensor;
          return tf.losses.meanSquaredError(input, output) as tf.Scalar;
        }, true);
        lossSum += loss?.dataSync()[0] ?? 0;
        loss?.dispose();
        batches++;
      }
      o.onEpoch?.(epoch + 1, o.epochs, lossSum / Math.max(1, batches));
    }
  } finally {
    optimizer.dispose();
  }
  return model;
}

/** Per-feature mean and std (population) of `rows` x `width` values, std floored at `minStd`. */
export function featureStatistics(
  x: Float32Array,
  rows: number,
  width: number,
  minStd: number,
): { mean: Float32Array; std: Float32Array } {
  const sum = new Float64Array(width);
  const square = new Float64Array(width);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < width; c++) {
      const v = x[r * width + c] ?? 0;
      sum[c] = (sum[c] ?? 0) + v;
      square[c] = (square[c] ?? 0) + v * v;
    }
  }
  const n = Math.max(1, rows);
  const mean = Float32Array.from(sum, (s) => s / n);
  const std = Float32Array.from(square, (s, c) => {
    const mu = mean[c] ?? 0;
    return Math.max(minStd, Math.sqrt(Math.max(0, s / n - mu * mu)));
  });
  return { mean, std };
}
