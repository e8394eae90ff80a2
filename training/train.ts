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
import { noveltySets } from "../src/features/novelty.js";
import {
  libraryVersions,
  type ModelManifest,
  readManifest,
  sha256Hex,
  vigilVersion,
  writeModel,
} from "../src/model/manifest.js";
import { WindowModel } from "../src/model/window-model.js";
import { calibrateThreshold, DEFAULT_TARGET_FAR, scoreStats } from "./calibrate.js";
import {
  baselineSyscalls,
  type Candidate,
  type Draft,
  FAMILIES,
  type Family,
  familyCandidates,
  type NEXT_SYSCALL_DEFAULTS,
} from "./candidates.js";
import { featureStatistics } from "./fit-autoencoder.js";
import { farAtDetection, rocAuc } from "./metrics.js";
import { ANOMALY_KINDS, SYNTHETIC_PROTOCOL, syntheticAnomalies } from "./synthetic.js";
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
  /**
   * Cross-fitting for the threshold (default 5): the fit windows are also scored, in
   * calibrationFolds - 1 blocks, by the chosen candidate retrained without them. 1: the
   * validation windows alone.
   */
  calibrationFolds?: number;
  /**
   * wasm (default; about 6 to 9 times faster) or cpu; either is deterministic: the same data and
   * seed give the same model.onnx. wasm falls back to cpu, saying so, if it cannot start.
   */
  backend?: TfBackend;
  /**
   * A model directory of the same agent type: windows it flags (score above its threshold)
   * are left out, so that a model never learns from what an earlier one alarmed on.
   */
  excludeFlaggedBy?: string;
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
  /**
   * "auto" (default) trains every family the data allows and keeps the one that best separates
   * held-out windows from synthetic anomalies (training/synthetic.ts); a family name forces it.
   */
  family?: "auto" | "autoencoder" | "next-syscall";
  /** Next-syscall hyper-parameters (defaults in NEXT_SYSCALL_DEFAULTS). */
  nextSyscall?: Partial<typeof NEXT_SYSCALL_DEFAULTS>;
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
  calibrationFolds: 5,
  backend: "wasm" as TfBackend,
  family: "auto" as NonNullable<TrainOptions["family"]>,
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
  if (!(Number.isSafeInteger(o.calibrationFolds) && o.calibrationFolds >= 1)) {
    throw new VigilError(
      ErrorCodes.USAGE,
      `calibrationFolds ${o.calibrationFolds} is not an integer >= 1`,
      { hint: "5 (the default), or 1 to calibrate on the validation windows alone" },
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

  const { spec, mean, std, z } = prepare(fit, o);
  const width = spec.names.length;

  const backend = await useBackend(o.backend, log);
  const version =
    o.version ??
    o.out
      .replace(/[/\\]+$/, "")
      .split(/[/\\]/)
      .pop() ??
    "unversioned";
  const vigil = vigilVersion();
  const last = windows[windows.length - 1] as WindowRecord;
  const draft: Draft = {
    schema: "vigil.model.v1",
    agentType: o.agentType,
    version,
    createdAt: new Date().toISOString(),
    seed: o.seed,
    featureSpec: spec,
    inputSize: width,
    targetFalseAlarmRate: o.targetFar,
    featureStats: { mean: Array.from(mean), std: Array.from(std) },
    // Every baseline window, the validation ones too: an item seen anywhere in it is not new.
    novelty: noveltySets(windows),
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
    libraries: libraryVersions(),
    vigilVersion: vigil,
  };

  const wanted: Family[] = o.family === "auto" ? [...FAMILIES] : [o.family as Family];
  const n = fit[0]?.syscalls.n ?? 1;
  if (n < 2 && wanted.includes("next-syscall")) {
    if (o.family === "next-syscall") {
      throw dataError(
        "the next-syscall family needs n-grams of 2 or more syscalls; these windows have 1-grams",
        "capture with the sensor's ngram set to 2..4 (default 3), or use --family autoencoder",
      );
    }
    wanted.splice(wanted.indexOf("next-syscall"), 1);
    log("next-syscall skipped: the windows hold 1-grams (no context to predict from)");
  }

  const synthetic = syntheticAnomalies(validation, baselineSyscalls(fit), o.seed);
  const candidates: Candidate[] = [];
  try {
    for (const family of wanted) {
      const t0 = performance.now();
      const trained = await familyCandidates(family, draft, fit, z, o, backend, log);
      const trainSeconds = (performance.now() - t0) / 1000;
      for (const c of trained) {
        candidates.push(c);
        const validationScores = await c.model.scores(validation);
        const anomalyScores = await c.model.scores(synthetic.map((s) => s.window));
        const kinds: Record<string, number> = {};
        for (const kind of ANOMALY_KINDS) {
          kinds[kind] = rocAuc(
            validationScores,
            anomalyScores.filter((_, i) => synthetic[i]?.kind === kind),
          );
        }
        c.validationScores = validationScores;
        c.result = {
          auc: rocAuc(validationScores, anomalyScores),
          farAtDr90: farAtDetection(validationScores, anomalyScores, 0.9),
          kinds,
          trainSeconds,
        };
        log(
          `${c.name}: AUC ${c.result.auc.toFixed(3)} on held-out vs synthetic anomalies ` +
            `(${Object.entries(kinds)
              .map(([k, v]) => `${k} ${v.toFixed(3)}`)
              .join(", ")})`,
        );
      }
    }
    // Highest AUC; ties go to the earlier candidate (the autoencoder explains per feature).
    let chosen = candidates[0] as Candidate;
    for (const c of candidates) if (c.result.auc > chosen.result.auc) chosen = c;
    log(`chosen: ${chosen.name}${o.family === "auto" ? " (by measurement)" : " (--family)"}`);

    const fitScores = await chosen.model.scores(fit);
    const calibrationScores = await crossFittedScores(windows, nFit, chosen, draft, o, backend);
    const calibration = calibrateThreshold(calibrationScores, o.targetFar);
    const threshold = calibration.threshold;
    log(
      `threshold ${threshold.toPrecision(4)} from ${calibrationScores.length} out-of-fold scores ` +
        `(${calibration.method}: empirical ${calibration.empirical.toPrecision(4)}, log-normal tail ${calibration.tail.toPrecision(4)}, Pareto tail ${calibration.pareto?.toPrecision(4) ?? "not fitted"})`,
    );
    const manifest: ModelManifest = {
      ...chosen.manifest,
      threshold,
      calibration: {
        method: calibration.method,
        empirical: calibration.empirical,
        tail: calibration.tail,
        ...(calibration.pareto === undefined ? {} : { pareto: calibration.pareto }),
        windows: calibrationScores.length,
        folds: Math.max(1, o.calibrationFolds),
      },
      scoreStats: { fit: scoreStats(fitScores), validation: scoreStats(chosen.validationScores) },
      selection: {
        method: o.family === "auto" ? "measured" : "forced",
        protocol: SYNTHETIC_PROTOCOL,
        chosen: chosen.name,
        candidates: Object.fromEntries(candidates.map((c) => [c.name, c.result])),
      },
    };
    const trainSeconds = (performance.now() - started) / 1000;
    await writeModel(o.out, chosen.onnx, manifest);
    log(`model written to ${o.out} (threshold ${threshold.toPrecision(4)})`);
    return { dir: o.out, manifest, trainSeconds };
  } finally {
    for (const c of candidates) await c.model.close();
  }
}

/** The feature spec, per-feature statistics and standardised matrix of the windows a model fits. */
function prepare(
  fit: readonly WindowRecord[],
  o: typeof DEFAULTS,
): { spec: FeatureSpec; mean: Float32Array; std: Float32Array; z: Float32Array } {
  const spec = buildFeatureSpec(fit, { topK: o.topK, hashBuckets: o.hashBuckets, scaling: "log" });
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
  return { spec, mean, std, z };
}

/**
 * Scores for calibrating the threshold: every baseline window scored by a model that did not
 * learn it. The validation windows have the chosen model's scores; the fit windows are cut by
 * time into calibrationFolds - 1 blocks, and each block is scored by the chosen candidate
 * trained anew (same family, options and seed) on all the other windows. A few hundred
 * validation windows cannot pin a 0.1 % false-alarm rate; five times as many come closer, and
 * they span every session of the baseline, not just the latest.
 */
async function crossFittedScores(
  windows: readonly WindowRecord[],
  nFit: number,
  chosen: Candidate,
  draft: Draft,
  o: typeof DEFAULTS & TrainOptions,
  backend: string,
): Promise<Float64Array> {
  const blocks = Math.max(0, o.calibrationFolds - 1);
  const scores: number[] = [];
  const quiet = { ...o };
  delete quiet.onEpoch;
  const family = chosen.manifest.family;
  for (let b = 0; b < blocks; b++) {
    const lo = Math.round((nFit * b) / blocks);
    const hi = Math.round((nFit * (b + 1)) / blocks);
    if (hi <= lo) continue;
    const rest = [...windows.slice(0, lo), ...windows.slice(hi)];
    let p: ReturnType<typeof prepare>;
    try {
      p = prepare(rest, o);
    } catch (e) {
      if (isVigilError(e) && e.code === ErrorCodes.TRAIN_DATA) continue; // a degenerate fold
      throw e;
    }
    const foldDraft: Draft = {
      ...draft,
      featureSpec: p.spec,
      inputSize: p.spec.names.length,
      featureStats: { mean: Array.from(p.mean), std: Array.from(p.std) },
    };
    const trained = await familyCandidates(family, foldDraft, rest, p.z, quiet, backend, () => {});
    try {
      const same = trained.find((c) => c.name === chosen.name);
      if (same) scores.push(...(await same.model.scores(windows.slice(lo, hi))));
    } finally {
      for (const c of trained) await c.model.close();
    }
  }
  return Float64Array.from([...scores, ...chosen.validationScores]);
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
  const model = await WindowModel.open(dir);
  try {
    const scores = await model.scores(windows);
    const kept = windows.filter((_, i) => (scores[i] ?? 0) <= prior.threshold);
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
    await model.close();
  }
}
