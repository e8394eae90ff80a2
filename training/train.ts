/**
 * `vigil train`: captures of one agent type -> feature spec -> autoencoder (tfjs, seeded) ->
 * ONNX -> scores through the runner the scorer uses -> threshold calibrated on held-out normal
 * windows -> models/<agentType>/<version>/{model.onnx, manifest.json}.
 * The validation split is the LATEST windows, so the threshold is calibrated on behaviour the
 * model did not fit, as the scorer will meet it: in the future.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { MANIFEST_FILE, readCapture } from "../src/bus/capture.js";
import type { WindowRecord } from "../src/contracts/index.js";
import { ErrorCodes, isVigilError, VigilError } from "../src/errors.js";
import { buildFeatureSpec, type FeatureSpec, featurize } from "../src/features/index.js";
import { exportOnnx } from "../src/model/onnx-export.js";
import { OnnxModelRunner } from "../src/model/onnx-runner.js";
import { autoencoderParams } from "../src/model/tfjs-models.js";
import { DEFAULT_TARGET_FAR, scoreStats, thresholdForFalseAlarmRate } from "./calibrate.js";
import { featureStatistics, fitAutoencoder } from "./fit-autoencoder.js";
import {
  libraryVersions,
  MODEL_FILE,
  type ModelManifest,
  readManifest,
  sha256Hex,
  vigilVersion,
  writeModel,
} from "./manifest.js";
import { noveltySets } from "./novelty.js";
import { type TfBackend, useBackend } from "./util.js";

export interface TrainOptions {
  agentType: string;
  /** Capture directories (as written by `vigil capture`). */
  dataDirs: readonly string[];
  /** The model directory to create, e.g. models/<agentType>/<version>. */
  out: string;
  /** Default: the last path segment of `out`. */
  version?: string;
  seed: number;
  targetFar?: number;
  epochs?: number;
  /** Hidden relu layer sizes (default [64, 16, 64]). */
  hidden?: readonly number[];
  batchSize?: number;
  learningRate?: number;
  /** Smallest std a feature is standardised with (default 0.1). */
  minStd?: number;
  topK?: number;
  hashBuckets?: number;
  /** Fewest windows of the agent type to train on (default 200). */
  minWindows?: number;
  /** Share of the latest windows held out to calibrate the threshold (default 0.2). */
  validationFraction?: number;
  /** cpu (default) is deterministic across runs; the same seed gives the same model.onnx. */
  backend?: TfBackend;
  /**
   * A model directory of the same agent type: windows it flags (score above its threshold)
   * are left out, so that a model never learns from what an earlier one alarmed on.
   */
  excludeFlaggedBy?: string;
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
}

export interface TrainResult {
  dir: string;
  manifest: ModelManifest;
  trainSeconds: number;
}

const DEFAULTS = {
  targetFar: DEFAULT_TARGET_FAR,
  epochs: 60,
  hidden: [64, 16, 64] as readonly number[],
  batchSize: 32,
  learningRate: 0.002,
  minStd: 0.1,
  topK: 512,
  hashBuckets: 64,
  minWindows: 200,
  validationFraction: 0.2,
  backend: "cpu" as TfBackend,
};

const dataError = (message: string, hint: string, cause?: unknown) =>
  new VigilError(ErrorCodes.TRAIN_DATA, message, {
    hint,
    ...(cause === undefined ? {} : { cause }),
  });

interface Loaded {
  windows: WindowRecord[];
  captures: { id: string; sha256: string }[];
}

async function loadWindows(agentType: string, dirs: readonly string[]): Promise<Loaded> {
  if (dirs.length === 0) {
    throw dataError("no capture directories given", "pass --data DIR [DIR...]");
  }
  const windows: WindowRecord[] = [];
  const captures: { id: string; sha256: string }[] = [];
  for (const dir of dirs) {
    let loaded: Awaited<ReturnType<typeof readCapture>>;
    try {
      loaded = await readCapture(dir);
    } catch (e) {
      // Name the capture: its own messages name only the file inside it.
      if (isVigilError(e)) {
        throw new VigilError(e.code, `capture ${dir}: ${e.message}`, {
          ...(e.hint === undefined ? {} : { hint: e.hint }),
          cause: e,
        });
      }
      throw e;
    }
    captures.push({
      id: loaded.manifest.id,
      sha256: sha256Hex(await readFile(join(dir, MANIFEST_FILE))),
    });
    for (const w of loaded.records) if (w.agentType === agentType) windows.push(w);
  }
  return { windows, captures };
}

/** By window end; ties by host, agent and sequence so the order never depends on input order. */
function byTime(a: WindowRecord, b: WindowRecord): number {
  const d = Date.parse(a.end) - Date.parse(b.end);
  if (d !== 0) return d;
  const k = (w: WindowRecord) => `${w.host}\0${w.agentId}\0${w.pid}`;
  const ka = k(a);
  const kb = k(b);
  return ka < kb ? -1 : ka > kb ? 1 : a.seq - b.seq;
}

function checkData(windows: WindowRecord[], agentType: string, minWindows: number): void {
  if (windows.length < minWindows) {
    throw dataError(
      `too few windows of agent type "${agentType}": ${windows.length} found, ${minWindows} needed`,
      `capture longer (vigil capture --agent-type ${agentType} --duration ...) or pass more --data directories`,
    );
  }
  const byN = new Map<number, number>();
  for (const w of windows) byN.set(w.syscalls.n, (byN.get(w.syscalls.n) ?? 0) + 1);
  if (byN.size > 1) {
    const list = [...byN.entries()]
      .sort(([a], [b]) => a - b)
      .map(([n, c]) => `${c} windows of ${n}-grams`)
      .join(", ");
    throw dataError(
      `mixed n-gram sizes in the data: ${list}`,
      "train on captures taken with one sensor ngram setting",
    );
  }
}

function featureMatrix(spec: FeatureSpec, windows: readonly WindowRecord[]): Float32Array {
  const width = spec.names.length;
  const flat = new Float32Array(windows.length * width);
  windows.forEach((w, i) => {
    flat.set(featurize(spec, w), i * width);
  });
  return flat;
}

/** Per-feature mean and population std, std floored at `minStd`. */

function isDegenerate(x: Float32Array, rows: number, width: number): boolean {
  for (let r = 1; r < rows; r++) {
    for (let c = 0; c < width; c++) if (x[r * width + c] !== x[c]) return false;
  }
  return true;
}

/** Trains, calibrates and writes one model; see the module comment. */
export async function trainModel(
  options: TrainOptions,
  log: (line: string) => void,
): Promise<TrainResult> {
  const o = { ...DEFAULTS, ...options };
  const started = performance.now();
  if (!(o.validationFraction > 0 && o.validationFraction < 1)) {
    throw new VigilError(
      ErrorCodes.USAGE,
      `validationFraction ${o.validationFraction} is not in (0, 1)`,
    );
  }
  if (!(o.targetFar >= 0 && o.targetFar < 1)) {
    throw new VigilError(ErrorCodes.USAGE, `--target-far ${o.targetFar} is not in [0, 1)`, {
      hint: "e.g. --target-far 0.001 (one normal window in a thousand alarms)",
    });
  }

  const loaded = await loadWindows(o.agentType, o.dataDirs);
  const { captures } = loaded;
  const { windows, excluded } = options.excludeFlaggedBy
    ? await withoutFlagged(loaded.windows, options.excludeFlaggedBy, o.agentType, log)
    : { windows: loaded.windows, excluded: undefined };
  checkData(windows, o.agentType, o.minWindows);
  windows.sort(byTime);
  const nFit = Math.round(windows.length * (1 - o.validationFraction));
  const fit = windows.slice(0, nFit);
  const validation = windows.slice(nFit);
  log(`${windows.length} windows: ${fit.length} fit, ${validation.length} validation (by time)`);

  const spec = buildFeatureSpec(fit, {
    topK: o.topK,
    hashBuckets: o.hashBuckets,
    scaling: "log",
  });
  const width = spec.names.length;
  const x = featureMatrix(spec, fit);
  if (isDegenerate(x, fit.length, width)) {
    throw dataError(
      `degenerate data: all ${fit.length} fit windows have the same feature vector` +
        (x.every((v) => v === 0) ? " (all zeros)" : ""),
      "the agent did nothing that varies: capture it while it does its real work",
    );
  }
  const { mean, std } = featureStatistics(x, fit.length, width, o.minStd);
  const z = Float32Array.from(x, (v, i) => (v - (mean[i % width] ?? 0)) / (std[i % width] ?? 1));

  const backend = await useBackend(o.backend, log);
  log(`autoencoder ${[width, ...o.hidden, width].join("-")} on ${backend}, seed ${o.seed}`);
  const model = fitAutoencoder(z, fit.length, width, {
    hidden: o.hidden,
    seed: o.seed,
    learningRate: o.learningRate,
    epochs: o.epochs,
    batchSize: o.batchSize,
    ...(o.onEpoch ? { onEpoch: o.onEpoch } : {}),
  });
  const params = autoencoderParams(model, mean, std);
  model.dispose();
  const version =
    o.version ??
    o.out
      .replace(/[/\\]+$/, "")
      .split(/[/\\]/)
      .pop() ??
    "unversioned";
  const vigil = vigilVersion();
  const onnx = exportOnnx(params, {
    producerVersion: vigil,
    docString: `vigil autoencoder for ${o.agentType}`,
  });

  const runner = await OnnxModelRunner.open(onnx, { family: "autoencoder", inputSize: width });
  let fitScores: Float64Array;
  let validationScores: Float64Array;
  try {
    fitScores = Float64Array.from((await runner.scoreAutoencoder(x, fit.length)).score);
    const xv = featureMatrix(spec, validation);
    validationScores = Float64Array.from(
      (await runner.scoreAutoencoder(xv, validation.length)).score,
    );
  } finally {
    await runner.close();
  }
  const threshold = thresholdForFalseAlarmRate(validationScores, o.targetFar);
  const trainSeconds = (performance.now() - started) / 1000;

  const last = windows[windows.length - 1] as WindowRecord;
  const manifest: ModelManifest = {
    schema: "vigil.model.v1",
    agentType: o.agentType,
    version,
    family: "autoencoder",
    createdAt: new Date().toISOString(),
    seed: o.seed,
    featureSpec: spec,
    inputSize: width,
    threshold,
    targetFalseAlarmRate: o.targetFar,
    scoreStats: { fit: scoreStats(fitScores), validation: scoreStats(validationScores) },
    featureStats: { mean: Array.from(mean), std: Array.from(std) },
    novelty: noveltySets(fit),
    data: {
      captures,
      windows: { fit: fit.length, validation: validation.length },
      ...(excluded ? { excluded } : {}),
      timeRange: {
        start: new Date(
          windows.reduce((m, w) => Math.min(m, Date.parse(w.start)), Number.POSITIVE_INFINITY),
        ).toISOString(),
        end: last.end, // sorted by end
      },
    },
    model: { file: MODEL_FILE, sha256: sha256Hex(onnx) },
    libraries: libraryVersions(),
    vigilVersion: vigil,
  };
  await writeModel(o.out, onnx, manifest);
  log(`model written to ${o.out} (threshold ${threshold.toPrecision(4)})`);
  return { dir: o.out, manifest, trainSeconds };
}

/** Scores `windows` with an earlier model and drops the ones above its threshold. */
async function withoutFlagged(
  windows: WindowRecord[],
  dir: string,
  agentType: string,
  log: (line: string) => void,
): Promise<{
  windows: WindowRecord[];
  excluded: { model: string; sha256: string; windows: number };
}> {
  const prior = await readManifest(dir);
  if (prior.agentType !== agentType) {
    throw new VigilError(
      ErrorCodes.USAGE,
      `${dir} is a model of "${prior.agentType}", not "${agentType}"`,
      { hint: "give --exclude-flagged-by a model of the same agent type" },
    );
  }
  const runner = await OnnxModelRunner.open(join(dir, prior.model.file), {
    family: "autoencoder",
    inputSize: prior.inputSize,
  });
  try {
    const kept: WindowRecord[] = [];
    for (let i = 0; i < windows.length; i += 256) {
      const batch = windows.slice(i, i + 256);
      const { score } = await runner.scoreAutoencoder(
        batch.map((w) => featurize(prior.featureSpec, w)),
      );
      batch.forEach((w, j) => {
        if ((score[j] ?? 0) <= prior.threshold) kept.push(w);
      });
    }
    const dropped = windows.length - kept.length;
    log(`left out ${dropped} windows that ${prior.agentType}/${prior.version} flags`);
    return {
      windows: kept,
      excluded: {
        model: `${prior.agentType}/${prior.version}`,
        sha256: prior.model.sha256,
        windows: dropped,
      },
    };
  } finally {
    await runner.close();
  }
}
