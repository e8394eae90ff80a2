import { readFile } from "node:fs/promises";
import onnx from "onnx-proto";
import * as ort from "onnxruntime-node";
import { ErrorCodes, VigilError } from "../errors.js";
import { MetadataKeys, type NextSyscallRow, OnnxIo, vocabId } from "./onnx-export.js";
import type { ModelParams } from "./params.js";

export type ModelFamily = ModelParams["family"];

/** What the caller expects the model to be; any mismatch fails `open` with MODEL_INVALID. */
export interface ExpectedModel {
  family: ModelFamily;
  /** Autoencoder: features per window. Next-syscall: vocabulary size. */
  inputSize?: number;
  /** Next-syscall only: ids per context. */
  context?: number;
}

const INVALID_HINT = "retrain with `vigil train`, or restore model.onnx from the manifest's sha256";

/**
 * Scores windows with an ONNX model exported by `exportOnnx`. Every score call is one
 * `session.run` for the whole batch. Input-shape mistakes (a caller bug, not a model fault)
 * throw VigilError(MODEL_INPUT); the event path should count them and drop the item.
 */
export class OnnxModelRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly family: ModelFamily,
    /** Autoencoder: features per window. Next-syscall: vocabulary size. */
    readonly inputSize: number,
    /** Next-syscall: ids per context (0 for the autoencoder). */
    readonly context: number,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /**
   * Loads a model from its bytes or a file path and checks it against `expected`: its
   * metadata family and sizes, and its graph inputs and outputs.
   */
  static async open(
    bytesOrPath: Uint8Array | string,
    expected: ExpectedModel,
    /** Threads for one inference (default: ONNX Runtime's choice, all cores). */
    options: { threads?: number } = {},
  ): Promise<OnnxModelRunner> {
    const where = typeof bytesOrPath === "string" ? bytesOrPath : "model bytes";
    const bytes = typeof bytesOrPath === "string" ? await readModel(bytesOrPath) : bytesOrPath;
    const metadata = readMetadata(bytes, where);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        logSeverityLevel: 3,
        ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
      });
    } catch (cause) {
      throw invalid(`${where}: ONNX Runtime cannot load it`, cause);
    }
    try {
      const sizes = checkModel(session, metadata, expected, where);
      return new OnnxModelRunner(
        session,
        expected.family,
        sizes.inputSize,
        sizes.context,
        metadata,
      );
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  /**
   * Autoencoder scores for a batch: rows as separate vectors, or one row-major Float32Array
   * (`rows` defaults to length / inputSize). `featureError` is row-major [rows, inputSize].
   */
  async scoreAutoencoder(
    x: readonly Float32Array[] | Float32Array,
    rows?: number,
  ): Promise<{ score: Float32Array; featureError: Float32Array }> {
    this.expectFamily("autoencoder");
    const width = this.inputSize;
    let flat: Float32Array;
    if (x instanceof Float32Array) {
      const n = rows ?? x.length / width;
      if (!Number.isInteger(n) || n * width !== x.length) {
        throw inputError(`${x.length} values do not make ${rows ?? "whole"} rows of ${width}`);
      }
      flat = x;
    } else {
      if (rows !== undefined && rows !== x.length) {
        throw inputError(`${x.length} rows given, ${rows} expected`);
      }
      flat = new Float32Array(x.length * width);
      x.forEach((row, i) => {
        if (row.length !== width)
          throw inputError(`row ${i} has ${row.length} features, not ${width}`);
        flat.set(row, i * width);
      });
    }
    const n = flat.length / width;
    if (n === 0) return { score: new Float32Array(0), featureError: new Float32Array(0) };
    const out = await this.session.run({ x: new ort.Tensor("float32", flat, [n, width]) });
    return { score: floats(out, "score"), featureError: floats(out, "feature_error") };
  }

  /**
   * Next-syscall score for one window's n-grams: the count-weighted mean surprise, and the
   * surprise (-log P(next | context)) of each row. Ids outside the vocabulary count as unknown.
   */
  async scoreNextSyscall(
    rows: readonly NextSyscallRow[],
  ): Promise<{ score: number; surprise: Float32Array }> {
    this.expectFamily("next-syscall");
    const m = rows.length;
    if (m === 0) return { score: 0, surprise: new Float32Array(0) };
    const c = this.context;
    const context = new BigInt64Array(m * c);
    const next = new BigInt64Array(m);
    const count = new Float32Array(m);
    rows.forEach((row, i) => {
      if (row.context.length !== c) {
        throw inputError(`row ${i} has a context of ${row.context.length} ids, not ${c}`);
      }
      row.context.forEach((id, j) => {
        context[i * c + j] = BigInt(vocabId(id, this.inputSize));
      });
      next[i] = BigInt(vocabId(row.next, this.inputSize));
      count[i] = row.count;
    });
    const out = await this.session.run({
      context: new ort.Tensor("int64", context, [m, c]),
      next: new ort.Tensor("int64", next, [m]),
      count: new ort.Tensor("float32", count, [m]),
    });
    return { score: floats(out, "score")[0] ?? 0, surprise: floats(out, "surprise") };
  }

  async close(): Promise<void> {
    await this.session.release();
  }

  private expectFamily(family: ModelFamily): void {
    if (this.family !== family) {
      throw inputError(`this is a ${this.family} model; it cannot score ${family} input`);
    }
  }
}

async function readModel(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw invalid(`cannot read model ${path}`, cause);
  }
}

function readMetadata(bytes: Uint8Array, where: string): Record<string, string> {
  let model: onnx.onnx.ModelProto;
  try {
    model = onnx.onnx.ModelProto.decode(bytes);
  } catch (cause) {
    throw invalid(`${where} is not an ONNX model`, cause);
  }
  const metadata: Record<string, string> = {};
  for (const { key, value } of model.metadataProps) {
    if (key) metadata[key] = value ?? "";
  }
  return metadata;
}

function checkModel(
  session: ort.InferenceSession,
  metadata: Record<string, string>,
  expected: ExpectedModel,
  where: string,
): { inputSize: number; context: number } {
  const family = metadata[MetadataKeys.family];
  if (family !== expected.family) {
    throw invalid(`${where} is a ${family ?? "non-Vigil"} model, expected ${expected.family}`);
  }
  const io = OnnxIo[expected.family];
  const sameNames = (a: readonly string[], b: readonly string[]) =>
    a.length === b.length && a.every((name) => b.includes(name));
  if (!sameNames(session.inputNames, io.inputs) || !sameNames(session.outputNames, io.outputs)) {
    throw invalid(
      `${where} has inputs [${session.inputNames}] and outputs [${session.outputNames}], ` +
        `expected [${io.inputs}] and [${io.outputs}] for ${expected.family}`,
    );
  }
  const inputSize = Number(metadata[MetadataKeys.featureCount]);
  const firstInput = session.inputMetadata.find((v) => v.name === io.inputs[0]);
  const width = firstInput?.isTensor ? firstInput.shape[1] : undefined;
  const context = expected.family === "autoencoder" ? 0 : Number(metadata[MetadataKeys.context]);
  const graphWidth = expected.family === "autoencoder" ? inputSize : context;
  if (
    !(inputSize > 0) ||
    width !== graphWidth ||
    (expected.family === "next-syscall" && !(context > 0))
  ) {
    throw invalid(`${where} has inconsistent sizes (metadata vs graph input ${io.inputs[0]})`);
  }
  if (expected.inputSize !== undefined && expected.inputSize !== inputSize) {
    throw invalid(`${where} takes ${inputSize} features, expected ${expected.inputSize}`);
  }
  if (expected.context !== undefined && expected.context !== context) {
    throw invalid(`${where} has a context of ${context}, expected ${expected.context}`);
  }
  return { inputSize, context };
}

function floats(out: ort.InferenceSession.ReturnType, name: string): Float32Array {
  const data = out[name]?.data;
  if (!(data instanceof Float32Array)) throw invalid(`model output ${name} is not float32`);
  return data;
}

function invalid(message: string, cause?: unknown): VigilError {
  return new VigilError(ErrorCodes.MODEL_INVALID, `invalid model: ${message}`, {
    hint: INVALID_HINT,
    cause,
  });
}

function inputError(message: string): VigilError {
  return new VigilError(ErrorCodes.MODEL_INPUT, `cannot score: ${message}`, {
    hint: "the feature vector does not match the model; check the model manifest's feature list",
  });
}
