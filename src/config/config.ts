import { z } from "zod";
import { ErrorCodes, VigilError } from "../errors.js";
import { envLayer } from "./config-env.js";
import { readConfigFile } from "./config-file.js";
import { deepFreeze, getPath, merge, type PathKey } from "./config-layers.js";
import { type Config, type ConfigInput, configSchema, unwrap } from "./config-schema.js";

export const DEFAULT_CONFIG_FILE = "/etc/vigil/config.json";

export interface LoadConfigOptions {
  /**
   * A JSON config file, which must exist. Default: $VIGIL_CONFIG (also must exist), else
   * `defaultFile` if it exists, else no file.
   */
  file?: string;
  /** The environment to read VIGIL_* from; pass process.env. Nothing else reads it. */
  env?: NodeJS.ProcessEnv;
  /** Values from the command line; they override everything. Undefined values are unset. */
  flags?: ConfigInput;
  /** Where to look for a config file when none is named. Default: DEFAULT_CONFIG_FILE. */
  defaultFile?: string;
}

/**
 * Builds the configuration: defaults < file < VIGIL_* environment < flags, validated and
 * deep-frozen. Throws VigilError(CONFIG_FILE) for an unreadable or malformed file and
 * VigilError(CONFIG_INVALID) listing every bad value.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? {};
  const named = options.file ?? env.VIGIL_CONFIG;
  const file = named ?? options.defaultFile ?? DEFAULT_CONFIG_FILE;
  const fromFile = readConfigFile(file, named !== undefined);
  const fromEnv = envLayer(env);
  const merged = [fromFile, fromEnv.values, options.flags].reduce(merge, {});
  const parsed = configSchema.safeParse(merged, { errorMap });
  if (parsed.success) return deepFreeze(parsed.data);

  const sourceOf = (path: readonly PathKey[]): string | undefined => {
    if (getPath(options.flags, path) !== undefined) return "flags";
    const envName = fromEnv.names.get(path.join("."));
    if (envName !== undefined) return `env ${envName}`;
    return getPath(fromFile, path) === undefined ? undefined : `file ${file}`;
  };
  const problems = parsed.error.issues.flatMap((issue) => describe(issue, merged, sourceOf));
  throw new VigilError(
    ErrorCodes.CONFIG_INVALID,
    `invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    { hint: "correct the values listed, in the file, VIGIL_* variable or flag named" },
  );
}

// ---- reporting ------------------------------------------------------------------------------

const errorMap: z.ZodErrorMap = (issue, ctx) => {
  if (issue.code === z.ZodIssueCode.invalid_type) {
    return {
      message:
        issue.received === "undefined"
          ? `required: expected ${issue.expected}`
          : `expected ${issue.expected}`,
    };
  }
  if (
    issue.code === z.ZodIssueCode.invalid_enum_value ||
    issue.code === z.ZodIssueCode.invalid_literal
  ) {
    const options =
      issue.code === z.ZodIssueCode.invalid_enum_value ? issue.options : [issue.expected];
    return { message: `expected one of ${options.map((o) => JSON.stringify(o)).join(", ")}` };
  }
  return { message: ctx.defaultError };
};

function formatPath(path: readonly PathKey[]): string {
  if (path.length === 0) return "(top level)";
  return path.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
}

function preview(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Keys the schema allows at `path`, for "unknown key" messages. */
function keysAt(path: readonly PathKey[]): string[] {
  let s: z.ZodTypeAny = configSchema;
  for (const k of path) {
    const u = unwrap(s);
    const next: z.ZodTypeAny | undefined =
      u instanceof z.ZodObject
        ? (u.shape as Record<string, z.ZodTypeAny>)[k]
        : u instanceof z.ZodArray
          ? u.element
          : undefined;
    if (next === undefined) return [];
    s = next;
  }
  const u = unwrap(s);
  return u instanceof z.ZodObject ? Object.keys(u.shape) : [];
}

function describe(
  issue: z.ZodIssue,
  input: unknown,
  sourceOf: (path: readonly PathKey[]) => string | undefined,
): string[] {
  const line = (path: readonly PathKey[], message: string, value?: unknown) => {
    const source = sourceOf(path);
    const got = value === undefined ? "" : `, got ${preview(value)}`;
    return `${formatPath(path)}: ${message}${got}${source === undefined ? "" : ` (from ${source})`}`;
  };
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    const known = keysAt(issue.path).join(", ");
    return issue.keys.map((k) =>
      line([...issue.path, k], `unknown key (expected one of: ${known})`),
    );
  }
  return [line(issue.path, issue.message, getPath(input, issue.path))];
}
