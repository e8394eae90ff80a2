/** The model surface the scorer uses; training imports ./tfjs-models.js itself (it loads tfjs). */
export {
  exportOnnx,
  MetadataKeys,
  type NextSyscallRow,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  OnnxIo,
  vocabId,
} from "./onnx-export.js";
export { type ExpectedModel, type ModelFamily, OnnxModelRunner } from "./onnx-runner.js";
export type {
  Activation,
  AutoencoderParams,
  DenseLayer,
  ModelParams,
  NextSyscallParams,
} from "./params.js";
