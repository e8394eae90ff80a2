import onnx from "onnx-proto";
import { ErrorCodes, VigilError } from "../errors.js";
import type {
  Activation,
  AutoencoderParams,
  DenseLayer,
  ModelParams,
  NextSyscallParams,
} from "./params.js";

const { onnx: O } = onnx;
type INode = onnx.onnx.INodeProto;
type ITensor = onnx.onnx.ITensorProto;
type IValueInfo = onnx.onnx.IValueInfoProto;

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

/**
 * Graph input/output names per family: the contract between the exporter and the runner.
 * Autoencoder: `x` float [N, inputSize] -> `score` float [N], `feature_error` float [N, inputSize].
 * Next-syscall: `context` int64 [M, context], `next` int64 [M], `count` float [M]
 * -> `score` float [1], `surprise` float [M].
 */
export const OnnxIo = {
  autoencoder: { inputs: ["x"], outputs: ["score", "feature_error"] },
  "next-syscall": { inputs: ["context", "next", "count"], outputs: ["score", "surprise"] },
} as const;

/** metadata_props keys written into every exported model. */
export const MetadataKeys = {
  family: "vigil.family",
  /** Autoencoder: features per window (inputSize). Next-syscall: vocabSize (known syscalls). */
  featureCount: "vigil.feature_count",
  vocabSize: "vigil.vocab_size",
  context: "vigil.context",
  embeddingDim: "vigil.embedding_dim",
  /** Autoencoder: the score averages this many largest feature errors (0: all). */
  scoreTopK: "vigil.score_topk",
  /** Autoencoder: "1" when only features above their reconstruction count. */
  oneSided: "vigil.one_sided",
} as const;

/** One n-gram of a window for the next-syscall family: `count` occurrences of context -> next. */
export interface NextSyscallRow {
  context: readonly number[];
  next: number;
  count: number;
}

/**
 * Maps any id outside 0..vocabSize-1 (negative, too large, not an integer) to vocabSize, the
 * "unknown" id, so a syscall the model never saw scores as unknown instead of failing the graph
 * (ONNX Gather would reject it, or worse, wrap a negative index).
 */
export function vocabId(id: number, vocabSize: number): number {
  return Number.isInteger(id) && id >= 0 && id < vocabSize ? id : vocabSize;
}

/** Smallest count sum treated as non-zero: a window with no counted n-grams scores 0. */
const TINY = 1e-30;

/**
 * Builds an ONNX model (opset 17, IR 8) whose graph computes the family's score exactly as
 * params.ts defines it. Deterministic: the same params give the same bytes.
 * Throws VigilError(MODEL_EXPORT) when the params are inconsistent or not finite.
 */
export function exportOnnx(
  params: ModelParams,
  meta: { producerVersion: string; docString?: string },
): Uint8Array {
  const g = new GraphBuilder();
  const metadata =
    params.family === "autoencoder" ? autoencoderGraph(g, params) : nextSyscallGraph(g, params);
  const model = O.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    producerName: "vigil",
    producerVersion: meta.producerVersion,
    docString: meta.docString ?? "",
    graph: {
      name: `vigil-${params.family}`,
      node: g.nodes,
      initializer: g.initializers,
      input: g.inputs,
      output: g.outputs,
    },
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  });
  return O.ModelProto.encode(model).finish();
}

function autoencoderGraph(g: GraphBuilder, p: AutoencoderParams): Record<string, string> {
  checkSize("inputSize", p.inputSize);
  checkVector("mean", p.mean, p.inputSize);
  checkVector("std", p.std, p.inputSize);
  checkLayers(p.layers, p.inputSize, p.inputSize);
  const n = "N";
  g.input("x", O.TensorProto.DataType.FLOAT, [n, p.inputSize]);
  const mean = g.floatInit("mean", [p.inputSize], p.mean);
  const std = g.floatInit(
    "std",
    [p.inputSize],
    p.std.map((s) => (s === 0 ? 1 : s)),
  );
  const centred = g.node("standardize/sub", "Sub", ["x", mean]);
  const z = g.node("standardize/div", "Div", [centred, std]);
  const r = denseStack(g, z, p.layers);
  const diff = p.oneSided
    ? g.node("error/relu", "Relu", [g.node("error/sub", "Sub", [z, r])])
    : g.node("error/sub", "Sub", [r, z]);
  g.node("error/square", "Mul", [diff, diff], {}, "feature_error");
  const k = p.scoreTopK ?? 0;
  if (!Number.isInteger(k) || k < 0 || k > p.inputSize) {
    throw exportError(`scoreTopK ${k} is not an integer in 0..${p.inputSize}`);
  }
  if (k > 0 && k < p.inputSize) {
    const kInit = g.int64Init("score/k", [k]);
    g.nodes.push({
      name: "score/topk",
      opType: "TopK",
      domain: "",
      input: ["feature_error", kInit],
      output: ["score/topk_values", "score/topk_indices"],
      attribute: [{ name: "axis", type: O.AttributeProto.AttributeType.INT, i: 1 }],
    });
    g.node("score/mean", "ReduceMean", ["score/topk_values"], { axes: [1], keepdims: 0 }, "score");
  } else {
    g.node("score/mean", "ReduceMean", ["feature_error"], { axes: [1], keepdims: 0 }, "score");
  }
  g.output("score", O.TensorProto.DataType.FLOAT, [n]);
  g.output("feature_error", O.TensorProto.DataType.FLOAT, [n, p.inputSize]);
  return {
    [MetadataKeys.family]: p.family,
    [MetadataKeys.featureCount]: String(p.inputSize),
    [MetadataKeys.scoreTopK]: String(k),
    [MetadataKeys.oneSided]: p.oneSided ? "1" : "0",
  };
}

function nextSyscallGraph(g: GraphBuilder, p: NextSyscallParams): Record<string, string> {
  checkSize("vocabSize", p.vocabSize);
  checkSize("context", p.context);
  checkSize("embeddingDim", p.embeddingDim);
  checkVector("embedding", p.embedding, (p.vocabSize + 1) * p.embeddingDim);
  checkLayers(p.layers, p.context * p.embeddingDim, p.vocabSize + 1);
  const m = "M";
  const I64 = O.TensorProto.DataType.INT64;
  const F32 = O.TensorProto.DataType.FLOAT;
  g.input("context", I64, [m, p.context]);
  g.input("next", I64, [m]);
  g.input("count", F32, [m]);
  const table = g.floatInit("embedding", [p.vocabSize + 1, p.embeddingDim], p.embedding);
  const flatShape = g.int64Init("embed/shape", [-1, p.context * p.embeddingDim]);
  const axis1 = g.int64Init("axes_1", [1]);
  const tiny = g.floatInit("count/tiny", [1], Float32Array.of(TINY));

  const embedded = g.node("embed/gather", "Gather", [table, "context"], { axis: 0 });
  const h = g.node("embed/flatten", "Reshape", [embedded, flatShape]);
  const logits = denseStack(g, h, p.layers);
  const logp = g.node("logp", "LogSoftmax", [logits], { axis: 1 });
  const nextCol = g.node("next/unsqueeze", "Unsqueeze", ["next", axis1]);
  const picked = g.node("logp/pick", "GatherElements", [logp, nextCol], { axis: 1 });
  const pickedFlat = g.node("logp/squeeze", "Squeeze", [picked, axis1]);
  g.node("surprise/neg", "Neg", [pickedFlat], {}, "surprise");
  const weighted = g.node("score/weighted", "Mul", ["surprise", "count"]);
  const total = g.node("score/total", "ReduceSum", [weighted], { keepdims: 1 });
  const countSum = g.node("score/count_sum", "ReduceSum", ["count"], { keepdims: 1 });
  const denom = g.node("score/count_guard", "Max", [countSum, tiny]);
  g.node("score/div", "Div", [total, denom], {}, "score");
  g.output("score", F32, [1]);
  g.output("surprise", F32, [m]);
  return {
    [MetadataKeys.family]: p.family,
    [MetadataKeys.featureCount]: String(p.vocabSize),
    [MetadataKeys.vocabSize]: String(p.vocabSize),
    [MetadataKeys.context]: String(p.context),
    [MetadataKeys.embeddingDim]: String(p.embeddingDim),
  };
}

const ACTIVATION_OPS: Record<Activation, string | undefined> = {
  linear: undefined,
  relu: "Relu",
  tanh: "Tanh",
  sigmoid: "Sigmoid",
};

/** MatMul + Add (+ activation) per layer; returns the last value's name. */
function denseStack(g: GraphBuilder, input: string, layers: readonly DenseLayer[]): string {
  let h = input;
  layers.forEach((layer, i) => {
    const prefix = `dense${i}`;
    const w = g.floatInit(`${prefix}/W`, [layer.inputSize, layer.outputSize], layer.weights);
    const b = g.floatInit(`${prefix}/b`, [layer.outputSize], layer.bias);
    h = g.node(`${prefix}/add`, "Add", [g.node(`${prefix}/matmul`, "MatMul", [h, w]), b]);
    const op = ACTIVATION_OPS[layer.activation];
    if (op !== undefined) h = g.node(`${prefix}/${layer.activation}`, op, [h]);
  });
  return h;
}

type AttrValue = number | number[];

/** Collects nodes, initializers and graph IO; every node and its output share one name. */
class GraphBuilder {
  readonly nodes: INode[] = [];
  readonly initializers: ITensor[] = [];
  readonly inputs: IValueInfo[] = [];
  readonly outputs: IValueInfo[] = [];

  /** Adds a node; its single output is named `output` (default: the node's name). */
  node(
    name: string,
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    output = name,
  ): string {
    const attribute = Object.entries(attrs).map(([attrName, v]) =>
      Array.isArray(v)
        ? { name: attrName, type: O.AttributeProto.AttributeType.INTS, ints: v }
        : { name: attrName, type: O.AttributeProto.AttributeType.INT, i: v },
    );
    this.nodes.push({ name, opType, domain: "", input: inputs, output: [output], attribute });
    return output;
  }

  floatInit(name: string, dims: number[], values: Float32Array): string {
    const raw = new DataView(new ArrayBuffer(values.length * 4));
    for (const [i, v] of values.entries()) raw.setFloat32(i * 4, v, true);
    return this.init(name, dims, O.TensorProto.DataType.FLOAT, raw);
  }

  int64Init(name: string, values: number[]): string {
    const raw = new DataView(new ArrayBuffer(values.length * 8));
    for (const [i, v] of values.entries()) raw.setBigInt64(i * 8, BigInt(v), true);
    return this.init(name, [values.length], O.TensorProto.DataType.INT64, raw);
  }

  input(name: string, elemType: number, shape: (number | string)[]): void {
    this.inputs.push(valueInfo(name, elemType, shape));
  }

  output(name: string, elemType: number, shape: (number | string)[]): void {
    this.outputs.push(valueInfo(name, elemType, shape));
  }

  private init(name: string, dims: number[], dataType: number, raw: DataView): string {
    this.initializers.push({ name, dims, dataType, rawData: new Uint8Array(raw.buffer) });
    return name;
  }
}

function valueInfo(name: string, elemType: number, shape: (number | string)[]): IValueInfo {
  const dim = shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

function exportError(message: string): VigilError {
  return new VigilError(ErrorCodes.MODEL_EXPORT, `cannot export model: ${message}`, {
    hint: "the trained parameters are inconsistent; retrain with `vigil train`",
  });
}

function checkSize(name: string, n: number): void {
  if (!Number.isInteger(n) || n <= 0) throw exportError(`${name} must be a positive integer`);
}

function checkVector(name: string, v: Float32Array, length: number): void {
  if (v.length !== length) throw exportError(`${name} has ${v.length} values, expected ${length}`);
  if (!v.every(Number.isFinite)) throw exportError(`${name} has non-finite values`);
}

function checkLayers(layers: readonly DenseLayer[], inputSize: number, outputSize: number): void {
  if (layers.length === 0) throw exportError("no layers");
  let size = inputSize;
  layers.forEach((layer, i) => {
    if (layer.inputSize !== size) {
      throw exportError(`layer ${i} takes ${layer.inputSize} inputs, expected ${size}`);
    }
    checkSize(`layer ${i} outputSize`, layer.outputSize);
    checkVector(`layer ${i} weights`, layer.weights, layer.inputSize * layer.outputSize);
    checkVector(`layer ${i} bias`, layer.bias, layer.outputSize);
    if (!(layer.activation in ACTIVATION_OPS)) {
      throw exportError(`layer ${i} has unknown activation ${String(layer.activation)}`);
    }
    size = layer.outputSize;
  });
  if (size !== outputSize)
    throw exportError(`last layer gives ${size} outputs, expected ${outputSize}`);
}
