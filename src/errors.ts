/**
 * Every error Vigil reports to a user carries a stable code (tests assert on codes, never on
 * message text) and, where there is one, a `hint` that says how to fix it.
 */
export const ErrorCodes = {
  CONFIG_INVALID: "VIGIL_ERR_CONFIG_INVALID",
  CONFIG_FILE: "VIGIL_ERR_CONFIG_FILE",
  USAGE: "VIGIL_ERR_USAGE",
  NOT_ROOT: "VIGIL_ERR_NOT_ROOT",
  NO_BTF: "VIGIL_ERR_NO_BTF",
  KERNEL_TOO_OLD: "VIGIL_ERR_KERNEL_TOO_OLD",
  BPF_LOAD: "VIGIL_ERR_BPF_LOAD",
  BPF_ATTACH: "VIGIL_ERR_BPF_ATTACH",
  HELPER_MISSING: "VIGIL_ERR_HELPER_MISSING",
  HELPER_CRASHED: "VIGIL_ERR_HELPER_CRASHED",
  HELPER_PROTOCOL: "VIGIL_ERR_HELPER_PROTOCOL",
  WIRE_DECODE: "VIGIL_ERR_WIRE_DECODE",
  SENSOR_UNREACHABLE: "VIGIL_ERR_SENSOR_UNREACHABLE",
  TRACK_FAILED: "VIGIL_ERR_TRACK_FAILED",
  OUTPUT: "VIGIL_ERR_OUTPUT",
  NATS_MISSING: "VIGIL_ERR_NATS_MISSING",
  NATS_START: "VIGIL_ERR_NATS_START",
  NATS_CONNECT: "VIGIL_ERR_NATS_CONNECT",
  NATS_INSECURE: "VIGIL_ERR_NATS_INSECURE",
  BUS_MESSAGE_TOO_LARGE: "VIGIL_ERR_BUS_MESSAGE_TOO_LARGE",
  CAPTURE_INVALID: "VIGIL_ERR_CAPTURE_INVALID",
  MODEL_INVALID: "VIGIL_ERR_MODEL_INVALID",
  MODEL_EXPORT: "VIGIL_ERR_MODEL_EXPORT",
  MODEL_INPUT: "VIGIL_ERR_MODEL_INPUT",
  TRAIN_DATA: "VIGIL_ERR_TRAIN_DATA",
  ALERTMANAGER: "VIGIL_ERR_ALERTMANAGER",
  FORBIDDEN: "VIGIL_ERR_FORBIDDEN",
  UNSAFE_PATH: "VIGIL_ERR_UNSAFE_PATH",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class VigilError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "VigilError";
    this.code = code;
    this.hint = options.hint;
  }

  /** One block a person can act on: what went wrong, then how to fix it. */
  toUserString(): string {
    return this.hint ? `${this.message}\n  fix: ${this.hint}` : this.message;
  }
}

export function isVigilError(e: unknown, code?: ErrorCode): e is VigilError {
  return e instanceof VigilError && (code === undefined || e.code === code);
}
