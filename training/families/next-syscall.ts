/**
 * The next-syscall family: a small language model over syscall names, P(next | previous
 * `context` syscalls), trained with tfjs and scored through its exported ONNX graph, so the
 * evaluation measures exactly what the scorer runs. A trace's score is its mean surprise.
 */
import { exportOnnx, type NextSyscallRow } from "../../src/model/onnx-export.js";
import { OnnxModelRunner } from "../../src/model/onnx-runner.js";
import { nextSyscallParams } from "../../src/model/tfjs-models.js";
import { fitNextSyscall } from "../fit-next-syscall.js";
import { prng, shuffle, type TfBackend, useBackend } from "../util.js";
import type { TraceFamily } from "./family.js";

export interface NextSyscallOptions {
  /** Syscalls of context before each predicted one (default 8). */
  context?: number;
  embeddingDim?: number;
  /** Hidden relu layer sizes (default [128]). */
  hidden?: readonly number[];
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Names seen fewer times than this in training map to "unknown" (default 1: none do). */
  vocabMin?: number;
  /** Training positions kept, sampled with the seed (default 300,000). */
  maxTrainRows?: number;
  /**
   * Aggregation: 0 (default) scores a trace by its mean surprise, the ONNX graph's score; w > 0
   * by the highest mean surprise over any w consecutive syscalls (the whole trace if shorter).
   * On a split of the training data with synthetic injections (5 or 20 random known syscalls)
   * w = 10 beat the mean (AUC 0.96-0.99 vs 0.62-0.78), but on ADFA-LD it was far worse (0.65 vs
   * 0.84): random injections are a poor stand-in for attacks, so the default stays the mean.
   */
  window?: number;
  /** tfjs backend for training (default "wasm", falling back to "cpu"). */
  backend?: TfBackend;
}

/** Written into the exported model; evaluation models are never shipped. */
const PRODUCER = "vigil-training";

const DEFAULTS = {
  context: 8,
  embeddingDim: 16,
  hidden: [128] as readonly number[],
  epochs: 4,
  batchSize: 256,
  learningRate: 0.003,
  vocabMin: 1,
  maxTrainRows: 300_000,
  window: 0,
  backend: "wasm" as TfBackend,
};

/** A TraceFamily that can also say how surprising each syscall of a trace was. */
export interface NextSyscallFamily extends TraceFamily {
  /** Per trace, -log P(syscall | its context) at every position, in order. */
  surprises(traces: readonly (readonly string[])[]): Promise<Float32Array[]>;
}

export function createNextSyscallFamily(options: NextSyscallOptions = {}): NextSyscallFamily {
  const o = { ...DEFAULTS, ...options };
  let vocab = new Map<string, number>();
  let runner: OnnxModelRunner | undefined;
  let trainSeconds = 0;
  let trainRows = 0;
  let finalLoss = Number.NaN;
  let backendUsed = "";

  const scoreTrace = async (trace: readonly string[]) => {
    if (runner === undefined) throw new Error("next-syscall: score() before fit()");
    const { rows, rowOf } = traceRows(trace, vocab, o.context);
    const { score, surprise } = await runner.scoreNextSyscall(rows);
    return { score, perPosition: Float32Array.from(rowOf, (r) => surprise[r] ?? 0) };
  };

  return {
    name: "next-syscall",

    async fit(train, { seed, log = () => {} }) {
      const started = performance.now();
      backendUsed = await useBackend(o.backend, log);
      vocab = buildVocabulary(train, o.vocabMin);
      const unknown = vocab.size;
      const { contexts, targets } = trainingRows(train, vocab, o.context, o.maxTrainRows, seed);
      trainRows = targets.length;
      log(`next-syscall: ${vocab.size} syscalls, ${trainRows} training rows (${backendUsed})`);
      const fitted = fitNextSyscall(contexts, targets, {
        vocabSize: unknown,
        context: o.context,
        embeddingDim: o.embeddingDim,
        hidden: o.hidden,
        epochs: o.epochs,
        batchSize: o.batchSize,
        learningRate: o.learningRate,
        seed,
        onEpoch: (epoch, epochs, loss) =>
          log(
            `next-syscall: epoch ${epoch}/${epochs} loss ${loss.toFixed(4)} at ${((performance.now() - started) / 1000).toFixed(1)} s`,
          ),
      });
      finalLoss = fitted.finalLoss;
      const model = fitted.model;
      const params = nextSyscallParams(model);
      model.dispose();
      await runner?.close();
      runner = await OnnxModelRunner.open(exportOnnx(params, { producerVersion: PRODUCER }), {
        family: "next-syscall",
        inputSize: unknown,
        context: o.context,
      });
      trainSeconds = (performance.now() - started) / 1000;
      log(`next-syscall: trained in ${trainSeconds.toFixed(1)} s`);
    },

    async score(traces) {
      const scores = new Float64Array(traces.length);
      for (const [i, trace] of traces.entries()) {
        const { score, perPosition } = await scoreTrace(trace);
        scores[i] = o.window > 0 ? windowMax(perPosition, o.window) : score;
      }
      return scores;
    },

    async surprises(traces) {
      const out: Float32Array[] = [];
      for (const trace of traces) out.push((await scoreTrace(trace)).perPosition);
      return out;
    },

    describe() {
      return {
        context: o.context,
        embeddingDim: o.embeddingDim,
        hidden: [...o.hidden],
        epochs: o.epochs,
        batchSize: o.batchSize,
        learningRate: o.learningRate,
        vocabMin: o.vocabMin,
        vocabSize: vocab.size,
        trainRows,
        finalLoss,
        backend: backendUsed,
        trainSeconds,
        aggregation: o.window > 0 ? `max mean surprise over ${o.window} syscalls` : "mean surprise",
      };
    },
  };
}

/** Names seen at least `min` times, ids by descending count then name (stable across runs). */
function buildVocabulary(traces: readonly (readonly string[])[], min: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const trace of traces) for (const s of trace) counts.set(s, (counts.get(s) ?? 0) + 1);
  const names = [...counts.entries()]
    .filter(([, c]) => c >= min)
    .sort(([a, ca], [b, cb]) => cb - ca || (a < b ? -1 : a > b ? 1 : 0))
    .map(([name]) => name);
  return new Map(names.map((name, i) => [name, i]));
}

/** Ids of a trace, the context's start padded with "unknown" (= vocab.size). */
function traceIds(trace: readonly string[], vocab: ReadonlyMap<string, number>, context: number) {
  const ids = new Int32Array(context + trace.length).fill(vocab.size);
  trace.forEach((s, i) => {
    ids[context + i] = vocab.get(s) ?? vocab.size;
  });
  return ids;
}

/** Every position of every trace as (context, target); a seeded sample of `max` if more. */
function trainingRows(
  traces: readonly (readonly string[])[],
  vocab: ReadonlyMap<string, number>,
  context: number,
  max: number,
  seed: number,
): { contexts: Int32Array; targets: Int32Array } {
  const total = traces.reduce((n, t) => n + t.length, 0);
  const keep = Math.min(total, max);
  // Reservoir-free sampling: a seeded shuffle of all positions, first `keep` taken.
  const picked = Uint32Array.from({ length: total }, (_, i) => i);
  if (keep < total) shuffle(picked, prng(seed ^ 0x5bd1e995));
  const chosen = new Uint8Array(total);
  for (let i = 0; i < keep; i++) chosen[picked[i] ?? 0] = 1;
  const contexts = new Int32Array(keep * context);
  const targets = new Int32Array(keep);
  let position = 0;
  let row = 0;
  for (const trace of traces) {
    const ids = traceIds(trace, vocab, context);
    for (let i = 0; i < trace.length; i++, position++) {
      if (!chosen[position]) continue;
      contexts.set(ids.subarray(i, i + context), row * context);
      targets[row] = ids[i + context] ?? vocab.size;
      row++;
    }
  }
  return { contexts, targets };
}

/**
 * A trace as the model's rows: each distinct (context, next) with its count, and for each
 * position the index of its row (so per-position surprise can be read back in order).
 */
function traceRows(
  trace: readonly string[],
  vocab: ReadonlyMap<string, number>,
  context: number,
): { rows: NextSyscallRow[]; rowOf: Uint32Array } {
  const ids = traceIds(trace, vocab, context);
  const index = new Map<string, number>();
  const rows: NextSyscallRow[] = [];
  const rowOf = new Uint32Array(trace.length);
  for (let i = 0; i < trace.length; i++) {
    const window = ids.subarray(i, i + context + 1);
    const key = window.join(",");
    let r = index.get(key);
    if (r === undefined) {
      r = rows.length;
      index.set(key, r);
      rows.push({
        context: Array.from(window.subarray(0, context)),
        next: window[context] ?? vocab.size,
        count: 0,
      });
    }
    const row = rows[r];
    if (row) row.count++;
    rowOf[i] = r;
  }
  return { rows, rowOf };
}

/** Highest mean surprise over `w` consecutive positions (over all of them if fewer). */
export function windowMax(surprise: Float32Array, w: number): number {
  const n = surprise.length;
  if (n === 0) return 0;
  const at = (i: number) => surprise[i] ?? 0;
  const width = Math.min(w, n);
  let sum = 0;
  for (let i = 0; i < width; i++) sum += at(i);
  let best = sum;
  for (let i = width; i < n; i++) {
    sum += at(i) - at(i - width);
    best = Math.max(best, sum);
  }
  return best / width;
}
