/**
 * The candidate models `vigil train` chooses among: one network per family, trained on the fit
 * windows, and the ways of turning its output into a window's score (for the autoencoder, the
 * mean or the top-k feature errors, two-sided or only above the reconstruction; for the
 * next-syscall model, how a window's surprises are weighted). Each candidate is complete but
 * for its threshold and selection, which train.ts measures and writes.
 */
import type { WindowRecord } from "../src/contracts/index.js";
import {
  MODEL_FILE,
  type ModelManifest,
  NGRAM_WEIGHTINGS,
  sha256Hex,
} from "../src/model/manifest.js";
import { exportOnnx } from "../src/model/onnx-export.js";
import { autoencoderParams, nextSyscallParams } from "../src/model/tfjs-models.js";
import { WindowModel, windowRows } from "../src/model/window-model.js";
import { fitAutoencoder } from "./fit-autoencoder.js";
import { fitNextSyscall } from "./fit-next-syscall.js";

/** What training a candidate takes from `vigil train`'s options. */
export interface CandidateOptions {
  seed: number;
  epochs: number;
  /** Autoencoder hidden relu layer sizes. */
  hidden: readonly number[];
  batchSize: number;
  learningRate: number;
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
  /** Next-syscall hyper-parameters (defaults in NEXT_SYSCALL_DEFAULTS). */
  nextSyscall?: Partial<typeof NEXT_SYSCALL_DEFAULTS>;
}

export const NEXT_SYSCALL_DEFAULTS = {
  embeddingDim: 16,
  hidden: [64] as readonly number[],
  epochs: 30,
  batchSize: 256,
  learningRate: 0.003,
};

export const FAMILIES = ["autoencoder", "next-syscall"] as const;
export type Family = (typeof FAMILIES)[number];

/** The manifest's fields that do not depend on the family. */
export type Draft = Omit<
  ModelManifest,
  | "family"
  | "model"
  | "nextSyscall"
  | "autoencoder"
  | "threshold"
  | "calibration"
  | "scoreStats"
  | "selection"
>;

export interface Candidate {
  /** "autoencoder/mean" or "autoencoder/top<k>" (+ "/above": one-sided), "next-syscall/<weighting>". */
  name: string;
  /** Complete but for threshold, scoreStats and selection. */
  manifest: ModelManifest;
  onnx: Uint8Array;
  model: WindowModel;
  validationScores: Float64Array;
  result: ModelManifest["selection"]["candidates"][string];
}

const PENDING_STATS = { count: 0, mean: 0, std: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };

async function candidate(
  draft: Draft,
  family: Family,
  onnx: Uint8Array,
  extra: Pick<ModelManifest, "nextSyscall" | "autoencoder">,
): Promise<Candidate> {
  const manifest: ModelManifest = {
    ...draft,
    family,
    ...extra,
    threshold: 0,
    calibration: { method: "empirical", empirical: 0, tail: 0 },
    scoreStats: { fit: PENDING_STATS, validation: PENDING_STATS },
    selection: { method: "measured", protocol: "", chosen: "", candidates: {} },
    model: { file: MODEL_FILE, sha256: sha256Hex(onnx) },
  };
  const model = await WindowModel.load(manifest, onnx);
  return {
    name: extra.nextSyscall
      ? `${family}/${extra.nextSyscall.weighting}`
      : `${family}/${extra.autoencoder?.scoreTopK ? `top${extra.autoencoder.scoreTopK}` : "mean"}${extra.autoencoder?.oneSided ? "/above" : ""}`,
    manifest,
    onnx,
    model,
    validationScores: new Float64Array(0),
    result: { auc: Number.NaN, farAtDr90: Number.NaN, kinds: {}, trainSeconds: 0 },
  };
}

/** How many of the largest feature errors an autoencoder candidate's score averages (0: all). */
export const AUTOENCODER_TOP_K = [0, 16, 4] as const;

async function autoencoderCandidates(
  draft: Draft,
  z: Float32Array,
  rows: number,
  o: CandidateOptions,
  backend: string,
  log: (line: string) => void,
): Promise<Candidate[]> {
  const width = draft.inputSize;
  log(`autoencoder ${[width, ...o.hidden, width].join("-")} on ${backend}, seed ${o.seed}`);
  const model = fitAutoencoder(z, rows, width, {
    hidden: o.hidden,
    seed: o.seed,
    learningRate: o.learningRate,
    epochs: o.epochs,
    batchSize: o.batchSize,
    ...(o.onEpoch ? { onEpoch: o.onEpoch } : {}),
  });
  // One trained network; the candidates differ only in how the score averages feature errors.
  const out: Candidate[] = [];
  try {
    for (const oneSided of [false, true]) {
      for (const k of AUTOENCODER_TOP_K) {
        const scoreTopK = k >= width ? 0 : k;
        const params = autoencoderParams(
          model,
          Float32Array.from(draft.featureStats.mean),
          Float32Array.from(draft.featureStats.std),
          scoreTopK,
          oneSided,
        );
        const onnx = exportOnnx(params, {
          producerVersion: draft.vigilVersion,
          docString: `vigil autoencoder for ${draft.agentType}`,
        });
        out.push(
          await candidate(draft, "autoencoder", onnx, {
            autoencoder: { scoreTopK: params.scoreTopK ?? 0, oneSided },
          }),
        );
      }
    }
  } finally {
    model.dispose();
  }
  return out;
}

/** Syscall names of the baseline's n-grams, most frequent first (ties by name). */
export function baselineSyscalls(windows: readonly WindowRecord[]): string[] {
  const counts = new Map<string, number>();
  for (const w of windows) {
    const n = w.syscalls.n;
    for (const g of w.syscalls.ngrams) {
      for (let i = 0; i < n; i++) {
        const name = g[i] as string;
        counts.set(name, (counts.get(name) ?? 0) + (g[n] as number));
      }
    }
  }
  return [...counts.entries()]
    .sort(([a, ca], [b, cb]) => cb - ca || (a < b ? -1 : a > b ? 1 : 0))
    .map(([name]) => name);
}

async function nextSyscallCandidates(
  draft: Draft,
  fit: readonly WindowRecord[],
  o: CandidateOptions,
  backend: string,
  log: (line: string) => void,
): Promise<Candidate[]> {
  const vocabulary = baselineSyscalls(fit);
  const ids = new Map(vocabulary.map((s, i) => [s, i]));
  const n = fit[0]?.syscalls.n ?? 2;
  const context = n - 1;
  // Distinct (context, next) rows of the whole baseline, weighted by their total count.
  const distinct = new Map<string, { ids: number[]; weight: number }>();
  for (const w of fit) {
    for (const row of windowRows(w, ids, context)) {
      if (row.count === 0) continue;
      const all = [...row.context, row.next];
      const key = all.join(",");
      const entry = distinct.get(key);
      if (entry) entry.weight += row.count;
      else distinct.set(key, { ids: all, weight: row.count });
    }
  }
  const rows = [...distinct.values()];
  const contexts = new Int32Array(rows.length * context);
  const targets = new Int32Array(rows.length);
  const weights = new Float32Array(rows.length);
  rows.forEach((r, i) => {
    contexts.set(r.ids.slice(0, context), i * context);
    targets[i] = r.ids[context] ?? vocabulary.length;
    weights[i] = r.weight;
  });
  const ns = { ...NEXT_SYSCALL_DEFAULTS, ...o.nextSyscall };
  log(
    `next-syscall: ${vocabulary.length} syscalls, ${rows.length} distinct ${n}-grams, ` +
      `${ns.epochs} epochs on ${backend}, seed ${o.seed}`,
  );
  const { model } = fitNextSyscall(
    contexts,
    targets,
    { vocabSize: vocabulary.length, context, seed: o.seed, ...ns },
    weights,
  );
  const params = nextSyscallParams(model);
  model.dispose();
  const onnx = exportOnnx(params, {
    producerVersion: draft.vigilVersion,
    docString: `vigil next-syscall model for ${draft.agentType}`,
  });
  // One trained model; the weightings differ only in how a window's surprises are averaged.
  const out: Candidate[] = [];
  for (const weighting of NGRAM_WEIGHTINGS) {
    out.push(
      await candidate(draft, "next-syscall", onnx, {
        nextSyscall: { vocabulary, context, weighting },
      }),
    );
  }
  return out;
}

export function familyCandidates(
  family: Family,
  draft: Draft,
  fit: readonly WindowRecord[],
  z: Float32Array,
  o: CandidateOptions,
  backend: string,
  log: (line: string) => void,
): Promise<Candidate[]> {
  return family === "autoencoder"
    ? autoencoderCandidates(draft, z, fit.length, o, backend, log)
    : nextSyscallCandidates(draft, fit, o, backend, log);
}
