/**
 * Trained parameters in a plain, framework-free form: what training (tfjs) produces, what the
 * ONNX exporter turns into a graph, and what tests compare. Matrices are row-major Float32Arrays.
 */

export type Activation = "linear" | "relu" | "tanh" | "sigmoid";

/** y = activation(x @ W + b), W of shape [inputSize, outputSize]. */
export interface DenseLayer {
  inputSize: number;
  outputSize: number;
  weights: Float32Array;
  bias: Float32Array;
  activation: Activation;
}

/**
 * Autoencoder over a window's feature vector. z = (x - mean) / std (std of 0 is taken as 1);
 * r = layers applied in order to z; per-feature error e = (r - z)^2; score = mean(e), or with
 * `scoreTopK` = k (1 <= k < inputSize) the mean of the k largest errors, so that a few features
 * far from the baseline (a new program, a secret file) are not diluted by hundreds of ordinary
 * ones. The exported graph has outputs `score` [N] and `feature_error` [N, inputSize].
 */
export interface AutoencoderParams {
  family: "autoencoder";
  inputSize: number;
  /** 0 or absent: mean of every feature's error; k: mean of the k largest. */
  scoreTopK?: number;
  /**
   * Count only features above their reconstruction: e = max(z - r, 0)^2. An agent doing
   * something it never does raises features; one merely doing less (a quiet window) does not.
   */
  oneSided?: boolean;
  mean: Float32Array;
  std: Float32Array;
  layers: DenseLayer[];
}

/**
 * Next-syscall model: P(next | the previous `context` syscalls). Syscalls are vocabulary ids
 * 0..vocabSize-1, with vocabSize meaning "unknown". The context's embeddings are concatenated
 * ([context * embeddingDim]) and fed through `layers`, the last giving vocabSize + 1 logits.
 * A window's n-grams become rows (context ids, next id, count); its score is the count-weighted
 * mean of -log P(next | context); any id outside 0..vocabSize-1 counts as unknown, and a window
 * whose counts sum to 0 scores 0. The exported graph takes `context` int64 [M, context],
 * `next` int64 [M], `count` float [M] (one window) and outputs `score` [1] and `surprise` [M].
 */
export interface NextSyscallParams {
  family: "next-syscall";
  vocabSize: number;
  context: number;
  embeddingDim: number;
  /** [(vocabSize + 1) * embeddingDim] */
  embedding: Float32Array;
  layers: DenseLayer[];
}

export type ModelParams = AutoencoderParams | NextSyscallParams;
