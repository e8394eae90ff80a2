/**
 * A trained model as training and the scorer both use it: manifest + ONNX session, scoring
 * whole windows whatever the family. The autoencoder featurizes with the manifest's feature
 * spec; the next-syscall model reads the window's kernel n-gram counts directly (the first
 * n-1 syscalls are the context, the last is the one predicted).
 */
import type { WindowRecord } from "../contracts/index.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { featurize } from "../features/index.js";
import { type ModelManifest, type NgramWeighting, readModelFiles } from "./manifest.js";
import type { NextSyscallRow } from "./onnx-export.js";
import { OnnxModelRunner } from "./onnx-runner.js";

export interface WindowScore {
  score: number;
  /** Autoencoder: squared error per feature (standardised units), in feature-spec order. */
  featureError?: Float32Array;
  /** Next-syscall: -log P(last | first n-1) per n-gram, in the window's n-gram order. */
  ngramSurprise?: Float32Array;
}

/**
 * How a window's n-gram surprises are averaged (the graph's `count` input is the weight):
 * by occurrences, by log(1 + occurrences), or each distinct n-gram once (NGRAM_WEIGHTINGS).
 */
export const NGRAM_WEIGHTS: Record<NgramWeighting, (count: number) => number> = {
  count: (c) => c,
  log: (c) => Math.log1p(c),
  distinct: (c) => (c > 0 ? 1 : 0),
};

/** Autoencoder batches: one session.run scores this many windows. */
const BATCH = 256;

/**
 * A window's n-grams as next-syscall rows. Names outside `vocabulary` get id vocabulary.size
 * ("unknown"); a window whose n is not context + 1 cannot be scored by this model.
 */
export function windowRows(
  w: WindowRecord,
  vocabulary: ReadonlyMap<string, number>,
  context: number,
): NextSyscallRow[] {
  const n = w.syscalls.n;
  if (n !== context + 1) {
    throw new VigilError(
      ErrorCodes.CONFIG_INVALID,
      `window has ${n}-grams, the model predicts from ${context} syscalls (${context + 1}-grams)`,
      { hint: `set the sensor's ngram to ${context + 1}, or train a model for ${n}-grams` },
    );
  }
  const unknown = vocabulary.size;
  const id = (name: unknown) => vocabulary.get(name as string) ?? unknown;
  return w.syscalls.ngrams.map((g) => ({
    context: g.slice(0, context).map(id),
    next: id(g[context]),
    count: g[n] as number,
  }));
}

export class WindowModel {
  private readonly vocabulary: ReadonlyMap<string, number>;

  private constructor(
    readonly manifest: ModelManifest,
    private readonly runner: OnnxModelRunner,
  ) {
    this.vocabulary = new Map((manifest.nextSyscall?.vocabulary ?? []).map((s, i) => [s, i]));
  }

  /** Reads `dir` (manifest checked, model.onnx sha256 verified) and loads the model. */
  static async open(dir: string, options: { threads?: number } = {}): Promise<WindowModel> {
    const { manifest, onnx } = await readModelFiles(dir);
    return WindowModel.load(manifest, onnx, options);
  }

  /** Loads a model from a manifest and its (already verified) bytes. */
  static async load(
    manifest: ModelManifest,
    onnx: Uint8Array,
    options: { threads?: number } = {},
  ): Promise<WindowModel> {
    const ns = manifest.nextSyscall;
    const runner = await OnnxModelRunner.open(
      onnx,
      ns === undefined
        ? { family: "autoencoder", inputSize: manifest.inputSize }
        : { family: "next-syscall", inputSize: ns.vocabulary.length, context: ns.context },
      options,
    );
    return new WindowModel(manifest, runner);
  }

  get family(): ModelManifest["family"] {
    return this.manifest.family;
  }

  /** One score per window, in order; bad windows (wrong n) throw VigilError. */
  async score(windows: readonly WindowRecord[]): Promise<WindowScore[]> {
    const out: WindowScore[] = [];
    const ns = this.manifest.nextSyscall;
    if (ns !== undefined) {
      for (const w of windows) {
        const weigh = NGRAM_WEIGHTS[ns.weighting];
        const rows = windowRows(w, this.vocabulary, ns.context).map((r) => ({
          ...r,
          count: weigh(r.count),
        }));
        const { score, surprise } = await this.runner.scoreNextSyscall(rows);
        out.push({ score, ngramSurprise: surprise });
      }
      return out;
    }
    const width = this.manifest.inputSize;
    for (let i = 0; i < windows.length; i += BATCH) {
      const batch = windows.slice(i, i + BATCH);
      const x = new Float32Array(batch.length * width);
      batch.forEach((w, j) => {
        x.set(featurize(this.manifest.featureSpec, w), j * width);
      });
      const { score, featureError } = await this.runner.scoreAutoencoder(x, batch.length);
      batch.forEach((_, j) => {
        out.push({
          score: score[j] ?? 0,
          featureError: featureError.slice(j * width, (j + 1) * width),
        });
      });
    }
    return out;
  }

  /** Scores only, as a Float64Array (for calibration and metrics). */
  async scores(windows: readonly WindowRecord[]): Promise<Float64Array> {
    return Float64Array.from(await this.score(windows), (s) => s.score);
  }

  async close(): Promise<void> {
    await this.runner.close();
  }
}
