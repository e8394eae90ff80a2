/**
 * The feature spec: everything needed to turn a window into the vector a model was trained on.
 * Training builds it from the baseline and writes it into the model's manifest.json; the scorer
 * reads it back through validateFeatureSpec and featurizes with it, so the two can never drift.
 */
import type { WindowRecord } from "../contracts/window.js";
import { type ErrorCode, ErrorCodes, VigilError } from "../errors.js";
import { ngramKey } from "./ngram-hash.js";
import { WINDOW_FEATURE_NAMES } from "./window-features.js";

export const FEATURE_SPEC_VERSION = 1 as const;
export const DEFAULT_TOP_K = 512;
export const DEFAULT_HASH_BUCKETS = 64;
export const MAX_HASH_BUCKETS = 65_536;

/**
 * How n-gram counts become features. Both are deterministic; which one a model uses is decided
 * by measurement (training/ evaluates both on the same data), not here.
 * - "log": log1p(count / total * 1000), total being the window's n-gram total: per-mille share,
 *   compressed so that one dominant n-gram does not drown the rest.
 * - "tfidf": count / total * idf, idf = ln((1 + N) / (1 + df)) + 1 over the N baseline windows,
 *   df = baseline windows holding the n-gram (for the buckets: holding any n-gram outside the
 *   vocabulary). Linear in the share. Note that idf is a constant per feature: a model that
 *   standardises its inputs cancels it, so for such a model the comparison is really
 *   log-compressed versus linear shares; idf matters to models that do not standardise.
 */
export type Scaling = "log" | "tfidf";

/** JSON-serialisable; goes into manifest.json as is. Treat as immutable once featurized with. */
export interface FeatureSpec {
  version: 1;
  /** n of the n-grams; windows of another n cannot be featurized with this spec. */
  ngram: number;
  /** Top-K n-grams of the baseline as "a,b,c" keys: by descending baseline count, ties by key. */
  vocabulary: string[];
  /** N-grams outside the vocabulary are summed into bucket fnv1a32(key) % hashBuckets. */
  hashBuckets: number;
  scaling: Scaling;
  /** tfidf only: one idf per vocabulary entry, then one shared by all buckets. */
  idf?: number[];
  /** One name per feature, in vector order (see featureNames). */
  names: string[];
}

export interface FeatureSpecOptions {
  /** Vocabulary size (default 512). */
  topK?: number | undefined;
  /** Buckets for unseen n-grams (default 64; 0 counts them only in syscalls:unseen_fraction). */
  hashBuckets?: number | undefined;
  scaling?: Scaling | undefined;
  /** n when the baseline is empty (otherwise taken from the baseline, default 3). */
  ngram?: number | undefined;
}

/** Summary of the syscall block, after the n-gram and bucket features. */
export const SYSCALL_FEATURE_NAMES: readonly string[] = [
  "syscalls:total_log",
  "syscalls:distinct_log",
  "syscalls:unseen_fraction",
];

/**
 * Vector order: "ngram:<key>" per vocabulary entry, "ngram_hash:<i>" per bucket, then
 * SYSCALL_FEATURE_NAMES, then WINDOW_FEATURE_NAMES (exec, file, net, priv, proc).
 */
export function featureNames(vocabulary: readonly string[], hashBuckets: number): string[] {
  const names: string[] = [];
  for (const key of vocabulary) names.push(`ngram:${key}`);
  for (let i = 0; i < hashBuckets; i++) names.push(`ngram_hash:${i}`);
  names.push(...SYSCALL_FEATURE_NAMES, ...WINDOW_FEATURE_NAMES);
  return names;
}

/** Bad options or data are a configuration problem; a bad spec read from a manifest is the model's. */
function invalid(
  message: string,
  hint: string,
  code: ErrorCode = ErrorCodes.CONFIG_INVALID,
): VigilError {
  return new VigilError(code, message, { hint });
}

const isCount = (x: unknown, max = Number.MAX_SAFE_INTEGER): x is number =>
  typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= max;

const isN = (x: unknown): x is number => isCount(x) && x >= 1 && x <= 4;

/** Builds the spec from baseline windows (all with the same n). Deterministic in its inputs. */
export function buildFeatureSpec(
  baseline: readonly WindowRecord[],
  options: FeatureSpecOptions = {},
): FeatureSpec {
  const topK = options.topK ?? DEFAULT_TOP_K;
  const hashBuckets = options.hashBuckets ?? DEFAULT_HASH_BUCKETS;
  const scaling = options.scaling ?? "log";
  const hint = "pass topK >= 0, 0 <= hashBuckets <= 65536, scaling log|tfidf, ngram 1..4";
  if (!isCount(topK)) throw invalid(`feature spec: topK ${topK} is not an integer >= 0`, hint);
  if (!isCount(hashBuckets, MAX_HASH_BUCKETS)) {
    throw invalid(`feature spec: hashBuckets ${hashBuckets} is out of range`, hint);
  }
  if (scaling !== "log" && scaling !== "tfidf") {
    throw invalid(`feature spec: unknown scaling "${scaling}"`, hint);
  }
  const n = baseline[0]?.syscalls.n ?? options.ngram ?? 3;
  if (!isN(n)) throw invalid(`feature spec: ngram ${n} is not 1..4`, hint);

  const stats = new Map<string, { count: number; df: number; last: number }>();
  baseline.forEach((w, i) => {
    if (w.syscalls.n !== n) {
      throw invalid(
        `feature spec: baseline window ${i} has ${w.syscalls.n}-grams, the first has ${n}-grams`,
        "build a spec from windows captured with one ngram setting",
      );
    }
    for (const g of w.syscalls.ngrams) {
      const count = g[n] as number;
      if (count === 0) continue;
      const key = ngramKey(g, n);
      const s = stats.get(key);
      if (!s) stats.set(key, { count, df: 1, last: i });
      else {
        s.count += count;
        if (s.last !== i) s.df++;
        s.last = i;
      }
    }
  });
  const vocabulary = [...stats.entries()]
    .sort(([ka, a], [kb, b]) => b.count - a.count || (ka < kb ? -1 : ka > kb ? 1 : 0))
    .slice(0, topK)
    .map(([key]) => key);

  const spec: FeatureSpec = {
    version: FEATURE_SPEC_VERSION,
    ngram: n,
    vocabulary,
    hashBuckets,
    scaling,
    names: featureNames(vocabulary, hashBuckets),
  };
  if (scaling === "tfidf") {
    const inVocabulary = new Set(vocabulary);
    let unseenDf = 0;
    for (const w of baseline) {
      if (w.syscalls.ngrams.some((g) => g[n] !== 0 && !inVocabulary.has(ngramKey(g, n)))) {
        unseenDf++;
      }
    }
    const docs = baseline.length;
    const idf = (df: number) => Math.log((1 + docs) / (1 + df)) + 1;
    spec.idf = [...vocabulary.map((key) => idf(stats.get(key)?.df ?? 0)), idf(unseenDf)];
  }
  return spec;
}

/**
 * Checks a spec read from a manifest and returns a fresh copy. Throws a VigilError naming the
 * first thing wrong: a model whose spec does not match this code's features cannot be scored.
 */
export function validateFeatureSpec(x: unknown): FeatureSpec {
  const hint =
    "the model's manifest.json does not match this Vigil's features: retrain it (vigil train) " +
    "or run the Vigil version that trained it";
  const fail = (what: string) => invalid(`feature spec: ${what}`, hint, ErrorCodes.MODEL_INVALID);
  if (typeof x !== "object" || x === null || Array.isArray(x)) throw fail("not an object");
  const s = x as Record<string, unknown>;
  if (s.version !== FEATURE_SPEC_VERSION) {
    throw fail(`version ${JSON.stringify(s.version)} is not ${FEATURE_SPEC_VERSION}`);
  }
  const n = s.ngram;
  if (!isN(n)) throw fail(`ngram ${JSON.stringify(n)} is not an integer 1..4`);
  if (!isCount(s.hashBuckets, MAX_HASH_BUCKETS)) {
    throw fail(`hashBuckets ${JSON.stringify(s.hashBuckets)} is not an integer 0..65536`);
  }
  const hashBuckets = s.hashBuckets;
  if (s.scaling !== "log" && s.scaling !== "tfidf") {
    throw fail(`unknown scaling ${JSON.stringify(s.scaling)} (expected "log" or "tfidf")`);
  }
  const scaling = s.scaling;
  if (!Array.isArray(s.vocabulary)) throw fail("vocabulary is not an array");
  const vocabulary: string[] = [];
  const seen = new Set<string>();
  for (const [i, key] of s.vocabulary.entries()) {
    const parts = typeof key === "string" ? key.split(",") : [];
    if (typeof key !== "string" || parts.length !== n || parts.includes("")) {
      throw fail(`vocabulary[${i}] ${JSON.stringify(key)} is not ${n} comma-separated names`);
    }
    if (seen.has(key)) throw fail(`vocabulary[${i}] "${key}" is repeated`);
    seen.add(key);
    vocabulary.push(key);
  }
  const spec: FeatureSpec = {
    version: FEATURE_SPEC_VERSION,
    ngram: n,
    vocabulary,
    hashBuckets,
    scaling,
    names: featureNames(vocabulary, hashBuckets),
  };
  if (scaling === "tfidf") {
    const idf = s.idf;
    const want = vocabulary.length + 1;
    if (!Array.isArray(idf) || idf.length !== want) {
      throw fail(`tfidf needs idf with ${want} entries (vocabulary + 1 for the buckets)`);
    }
    const bad = idf.findIndex((v) => typeof v !== "number" || !Number.isFinite(v) || v <= 0);
    if (bad >= 0) throw fail(`idf[${bad}] ${JSON.stringify(idf[bad])} is not a number > 0`);
    spec.idf = idf.slice() as number[];
  } else if (s.idf !== undefined) {
    throw fail(`idf is given but scaling is "${scaling}"`);
  }
  const names = s.names;
  if (!Array.isArray(names)) throw fail("names is not an array");
  if (names.length !== spec.names.length) {
    throw fail(
      `names has ${names.length} entries, expected ${spec.names.length} ` +
        `(${vocabulary.length} vocabulary + ${hashBuckets} buckets + ` +
        `${SYSCALL_FEATURE_NAMES.length + WINDOW_FEATURE_NAMES.length} fixed)`,
    );
  }
  const differs = spec.names.findIndex((name, i) => names[i] !== name);
  if (differs >= 0) {
    const got = JSON.stringify(names[differs]);
    throw fail(`names[${differs}] is ${got}, expected "${spec.names[differs]}"`);
  }
  return spec;
}
