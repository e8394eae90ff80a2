/**
 * models/<agentType>/<version>/manifest.json: everything the scorer needs besides the ONNX
 * graph (feature spec, threshold, statistics) and everything needed to trust and reproduce the
 * model (data provenance, seed, library versions, the model file's sha256).
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { agentTypeSchema, describeIssues, versionSchema } from "../contracts/index.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { type FeatureSpec, validateFeatureSpec } from "../features/index.js";
import { noveltySchema } from "../features/novelty.js";

export const MODEL_MANIFEST_SCHEMA = "vigil.model.v1" as const;
export const MODEL_FILE = "model.onnx";
export const MODEL_MANIFEST_FILE = "manifest.json";

/**
 * How the next-syscall family averages a window's n-gram surprises: by occurrences, by
 * log(1 + occurrences), or each distinct n-gram once. Training picks one by measurement.
 */
export const NGRAM_WEIGHTINGS = ["count", "log", "distinct"] as const;
export type NgramWeighting = (typeof NGRAM_WEIGHTINGS)[number];

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().nonnegative();
const finite = z.number().finite();

export const scoreStatsSchema = z.object({
  count,
  mean: finite,
  std: finite,
  p50: finite,
  p90: finite,
  p99: finite,
  p999: finite,
  max: finite,
});

export const candidateSchema = z.object({
  /** ROC AUC of held-out normal windows against the synthetic anomalies, all kinds pooled. */
  auc: finite,
  /** False-alarm rate on the held-out normal windows at 90 % detection. */
  farAtDr90: finite,
  /** AUC per kind of synthetic anomaly. */
  kinds: z.record(finite),
  trainSeconds: finite,
});

export const selectionSchema = z.object({
  /** "measured" (highest pooled AUC) or "forced" (--family). */
  method: z.enum(["measured", "forced"]),
  /** What the candidates were compared on, in words. */
  protocol: z.string(),
  /** The candidate kept: "autoencoder/mean", "autoencoder/top<k>" or "next-syscall/<weighting>". */
  chosen: z.string(),
  candidates: z.record(candidateSchema),
});

export const modelManifestSchema = z
  .object({
    schema: z.literal(MODEL_MANIFEST_SCHEMA),
    agentType: agentTypeSchema,
    version: versionSchema,
    /** Which graph model.onnx holds; chosen by measurement (see `selection`). */
    family: z.enum(["autoencoder", "next-syscall"]),
    createdAt: z.string().datetime(),
    seed: z.number().int().nonnegative(),
    /** Checked by validateFeatureSpec after the object parses. */
    featureSpec: z.unknown(),
    inputSize: z.number().int().positive(),
    /** A window alarms when its score is strictly above this. */
    threshold: finite,
    targetFalseAlarmRate: z.number().min(0).lt(1),
    /**
     * How the threshold was set: the empirical quantile of the validation scores, or (too few
     * validation windows to resolve the target) the larger of it and a log-normal tail fit.
     */
    calibration: z.object({
      method: z.enum(["empirical", "lognormal-tail", "extreme-tail"]),
      empirical: finite,
      tail: finite,
      pareto: finite.optional(),
      /** How many scores the threshold was set on, and from how many folds (1: validation only). */
      windows: z.number().int().min(0).optional(),
      folds: z.number().int().min(1).optional(),
    }),
    scoreStats: z.object({ fit: scoreStatsSchema, validation: scoreStatsSchema }),
    /** The fit split's per-feature mean and (floored) std, in feature order. */
    featureStats: z.object({ mean: z.array(finite), std: z.array(finite) }),
    /** What the baseline saw: anything else in a live window is novel. */
    novelty: noveltySchema,
    data: z.object({
      captures: z.array(z.object({ id: z.string().min(1), sha256 })),
      windows: z.object({ fit: count, validation: count }),
      /** Windows left out because an earlier model flagged them (`--exclude-flagged-by`). */
      excluded: z.object({ model: z.string().min(1), sha256, windows: count }).optional(),
      timeRange: z.object({ start: z.string().datetime(), end: z.string().datetime() }),
    }),
    model: z.object({ file: z.literal(MODEL_FILE), sha256 }),
    /** next-syscall only: syscall names by id (id = index; any other name is "unknown"). */
    nextSyscall: z
      .object({
        vocabulary: z.array(z.string().min(1)).min(1),
        context: z.number().int().min(1),
        /** How n-gram surprises are averaged over a window (see window-model.ts). */
        weighting: z.enum(NGRAM_WEIGHTINGS),
      })
      .optional(),
    /** autoencoder only: the score averages the scoreTopK largest feature errors (0: all). */
    autoencoder: z
      .object({ scoreTopK: z.number().int().nonnegative(), oneSided: z.boolean().default(false) })
      .optional(),
    /** How the family was chosen: each candidate's result on the same held-out windows. */
    selection: selectionSchema,
    libraries: z.object({
      tfjs: z.string(),
      "onnxruntime-node": z.string(),
      "onnx-proto": z.string(),
      node: z.string(),
    }),
    vigilVersion: z.string(),
  })
  .superRefine((m, ctx) => {
    if ((m.family === "next-syscall") !== (m.nextSyscall !== undefined)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["nextSyscall"],
        message: "is required for family next-syscall and only for it",
      });
    }
    for (const key of ["mean", "std"] as const) {
      if (m.featureStats[key].length !== m.inputSize) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["featureStats", key],
          message: `has ${m.featureStats[key].length} values, inputSize is ${m.inputSize}`,
        });
      }
    }
  });

export type ModelManifest = Omit<z.infer<typeof modelManifestSchema>, "featureSpec"> & {
  featureSpec: FeatureSpec;
};

const invalid = (message: string, cause?: unknown) =>
  new VigilError(ErrorCodes.MODEL_INVALID, message, {
    hint: "retrain with `vigil train`, or restore the model directory from a copy",
    ...(cause === undefined ? {} : { cause }),
  });

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Walks up from this file to the first directory holding `rel` (works from src and dist). */
function findUp(rel: string): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, rel);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function packageVersion(rel: string, name?: string): string {
  const path = findUp(rel);
  if (path === undefined) return "unknown";
  try {
    const json = JSON.parse(readFileSync(path, "utf8")) as { name?: unknown; version?: unknown };
    if (name !== undefined && json.name !== name) return "unknown";
    return typeof json.version === "string" ? json.version : "unknown";
  } catch {
    return "unknown";
  }
}

/** Versions of what trained and exported the model, read from node_modules. */
export function libraryVersions(): ModelManifest["libraries"] {
  const dep = (name: string) => packageVersion(join("node_modules", name, "package.json"), name);
  return {
    tfjs: dep("@tensorflow/tfjs"),
    "onnxruntime-node": dep("onnxruntime-node"),
    "onnx-proto": dep("onnx-proto"),
    node: process.versions.node,
  };
}

export function vigilVersion(): string {
  return packageVersion("package.json", "vigil");
}

async function writeSynced(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes model.onnx and manifest.json into `out` atomically: both go into a sibling temporary
 * directory which is renamed to `out` once complete, so `out` either holds a whole model or
 * does not exist. `out` must not exist or be empty; a model is never overwritten.
 * `manifest.model.sha256` must be the sha256 of `onnx` (checked).
 */
export async function writeModel(
  out: string,
  onnx: Uint8Array,
  manifest: ModelManifest,
): Promise<void> {
  const dir = resolve(out);
  if (sha256Hex(onnx) !== manifest.model.sha256) {
    throw new Error("writeModel: manifest.model.sha256 is not the sha256 of the model bytes");
  }
  const parsed = modelManifestSchema.safeParse(manifest);
  if (!parsed.success) throw new Error(`writeModel: invalid manifest: ${parsed.error.message}`);
  const existing = await stat(dir).catch(() => undefined);
  if (existing && (!existing.isDirectory() || (await readdir(dir)).length > 0)) {
    throw new VigilError(ErrorCodes.USAGE, `--out ${out} already exists and is not empty`, {
      hint: "give a new directory (models/<agent-type>/<version>); a model is never overwritten",
    });
  }
  await mkdir(dirname(dir), { recursive: true });
  const tmp = `${dir}.partial-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  try {
    await writeSynced(join(tmp, MODEL_FILE), onnx);
    await writeSynced(join(tmp, MODEL_MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    if (existing) await rmdir(dir);
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Reads and validates `dir`/manifest.json (schema, feature spec, sizes) and checks that
 * `dir`/model.onnx has the sha256 it records. Any problem is VigilError(MODEL_INVALID) naming
 * the file.
 */
export async function readManifest(dir: string): Promise<ModelManifest> {
  return (await readModelFiles(dir)).manifest;
}

/**
 * readManifest, also returning the model bytes it checked, so a caller can load exactly the
 * bytes whose sha256 matched (no second read that could see a different file).
 */
export async function readModelFiles(
  dir: string,
): Promise<{ manifest: ModelManifest; onnx: Uint8Array }> {
  const path = join(dir, MODEL_MANIFEST_FILE);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (cause) {
    throw invalid(`${path}: cannot read it as JSON: ${(cause as Error).message}`, cause);
  }
  const parsed = modelManifestSchema.safeParse(json);
  if (!parsed.success) {
    const detail = describeIssues(parsed.error);
    throw invalid(`${path}: ${detail}`);
  }
  let featureSpec: FeatureSpec;
  try {
    featureSpec = validateFeatureSpec(parsed.data.featureSpec);
  } catch (cause) {
    throw invalid(`${path}: ${(cause as Error).message}`, cause);
  }
  if (featureSpec.names.length !== parsed.data.inputSize) {
    throw invalid(
      `${path}: the feature spec has ${featureSpec.names.length} features, inputSize is ${parsed.data.inputSize}`,
    );
  }
  const modelPath = join(dir, MODEL_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(modelPath);
  } catch (cause) {
    throw invalid(`${modelPath}: cannot read: ${(cause as Error).message}`, cause);
  }
  const got = sha256Hex(bytes);
  if (got !== parsed.data.model.sha256) {
    throw invalid(
      `${modelPath}: sha256 mismatch (manifest says ${parsed.data.model.sha256}, file is ${got})`,
    );
  }
  return { manifest: { ...parsed.data, featureSpec }, onnx: bytes };
}
