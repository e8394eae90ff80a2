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
export {
  type AutoencoderModel,
  autoencoderParams,
  autoencoderScoreTf,
  buildAutoencoder,
  buildNextSyscall,
  nextSyscallParams,
  nextSyscallScoreTf,
} from "./tfjs-models.js";
