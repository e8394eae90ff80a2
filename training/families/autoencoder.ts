import {
  buildFeatureSpec,
  type FeatureSpec,
  featurize,
  type Scaling,
  windowFromTrace,
} from "../../src/features/index.js";
import { exportOnnx } from "../../src/model/onnx-export.js";
import { OnnxModelRunner } from "../../src/model/onnx-runner.js";
import { autoencoderParams } from "../../src/model/tfjs-models.js";
import { featureStatistics, fitAutoencoder } from "../fit-autoencoder.js";
import { type TfBackend, useBackend } from "../util.js";
import type { TraceFamily } from "./family.js";

export interface AutoencoderOptions {
  /**
   * n-gram size of the window (default 3). n = 2 with topK 2048 won on synthetic injections into
   * a split of the training data (AUC 0.79-0.93 vs 0.51) but lost on ADFA-LD (0.69 vs 0.74).
   */
  n?: number;
  topK?: number;
  hashBuckets?: number;
  scaling?: Scaling;
  /** Hidden relu layer sizes (default [64, 16, 64]). */
  hidden?: readonly number[];
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /**
   * Smallest std a feature is standardised with: a feature almost constant in training would
   * otherwise turn noise into huge errors (default 0.1, in the scaled feature's units).
   */
  minStd?: number;
  /** Overrides fit()'s seed (the interface passes one; this pins it for experiments). */
  seed?: number;
  backend?: TfBackend;
}

const DEFAULTS = {
  n: 3,
  topK: 512,
  hashBuckets: 64,
  scaling: "log" as Scaling,
  hidden: [64, 16, 64] as readonly number[],
  epochs: 60,
  batchSize: 32,
  learningRate: 0.002,
  minStd: 0.1,
  backend: "wasm" as TfBackend,
};

/** Written into the exported model; evaluation models are never shipped. */
const PRODUCER = "vigil-training";

export function createAutoencoderFamily(options: AutoencoderOptions = {}): TraceFamily {
  const o = { ...DEFAULTS, ...options };
  let spec: FeatureSpec | undefined;
  let runner: OnnxModelRunner | undefined;
  let trainSeconds = 0;
  let finalLoss = Number.NaN;
  let backendUsed = "";

  const vectors = (traces: readonly (readonly string[])[], current: FeatureSpec) => {
    const width = current.names.length;
    const flat = new Float32Array(traces.length * width);
    traces.forEach((trace, i) => {
      flat.set(featurize(current, toWindow(trace, o.n, i)), i * width);
    });
    return flat;
  };

  return {
    name: "autoencoder",

    async fit(train, { seed: fitSeed, log = () => {} }) {
      const started = performance.now();
      const seed = o.seed ?? fitSeed;
      backendUsed = await useBackend(o.backend, log);
      spec = buildFeatureSpec(
        train.map((trace, i) => toWindow(trace, o.n, i)),
        { topK: o.topK, hashBuckets: o.hashBuckets, scaling: o.scaling },
      );
      const width = spec.names.length;
      const x = vectors(train, spec);
      const { mean, std } = featureStatistics(x, train.length, width, o.minStd);
      const z = Float32Array.from(
        x,
        (v, i) => (v - (mean[i % width] ?? 0)) / (std[i % width] ?? 1),
      );
      log(`autoencoder: ${train.length} windows x ${width} features (${backendUsed})`);

      const model = fitAutoencoder(z, train.length, width, {
        hidden: o.hidden,
        seed,
        learningRate: o.learningRate,
        epochs: o.epochs,
        batchSize: o.batchSize,
        onEpoch: (epoch, epochs, loss) => {
          finalLoss = loss;
          if (epoch % 10 === 0 || epoch === epochs) {
            log(`autoencoder: epoch ${epoch}/${epochs} loss ${loss.toFixed(4)}`);
          }
        },
      });
      const params = autoencoderParams(model, mean, std);
      model.dispose();
      await runner?.close();
      runner = await OnnxModelRunner.open(exportOnnx(params, { producerVersion: PRODUCER }), {
        family: "autoencoder",
        inputSize: width,
      });
      trainSeconds = (performance.now() - started) / 1000;
      log(`autoencoder: trained in ${trainSeconds.toFixed(1)} s`);
    },

    async score(traces) {
      if (runner === undefined || spec === undefined) {
        throw new Error("autoencoder: score() before fit()");
      }
      const { score } = await runner.scoreAutoencoder(vectors(traces, spec), traces.length);
      return Float64Array.from(score);
    },

    describe() {
      return {
        n: o.n,
        topK: o.topK,
        hashBuckets: o.hashBuckets,
        scaling: o.scaling,
        features: spec?.names.length ?? 0,
        hidden: [...o.hidden],
        epochs: o.epochs,
        batchSize: o.batchSize,
        learningRate: o.learningRate,
        minStd: o.minStd,
        finalLoss,
        backend: backendUsed,
        trainSeconds,
      };
    },
  };
}

function toWindow(trace: readonly string[], n: number, seq: number) {
  return windowFromTrace(trace, n, {
    agentType: "trace",
    agentId: `trace-${seq}`,
    host: "eval",
    seq,
  });
}
