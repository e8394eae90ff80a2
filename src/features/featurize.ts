/**
 * window -> Float32Array in the spec's feature order. The one featurization: training and the
 * scorer both call this, so a model always sees vectors built the way it was trained on.
 * Per window: one Float32Array, one key string and one Map lookup per n-gram, a few small Sets.
 */
import type { WindowRecord } from "../contracts/window.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { FeatureSpec } from "./feature-spec.js";
import { hashBucket, ngramKey } from "./ngram-hash.js";
import { writeWindowFeatures } from "./window-features.js";

/** Per-mille: a share of 1/1000 maps to log1p(1) under "log" scaling. */
const LOG_SCALE = 1000;

interface Compiled {
  n: number;
  index: Map<string, number>;
  vocabulary: number;
  buckets: number;
  tfidf: boolean;
  idf: Float64Array;
  length: number;
}

// Specs are treated as immutable, so what is derived from one is derived once.
const compiledSpecs = new WeakMap<FeatureSpec, Compiled>();

function compile(spec: FeatureSpec): Compiled {
  let c = compiledSpecs.get(spec);
  if (c) return c;
  c = {
    n: spec.ngram,
    index: new Map(spec.vocabulary.map((key, i) => [key, i])),
    vocabulary: spec.vocabulary.length,
    buckets: spec.hashBuckets,
    tfidf: spec.scaling === "tfidf",
    idf: Float64Array.from(spec.idf ?? []),
    length: spec.names.length,
  };
  compiledSpecs.set(spec, c);
  return c;
}

/**
 * The feature vector of `w` (length spec.names.length). The spec is trusted (built, or checked
 * by validateFeatureSpec); a window whose n differs from the spec's is a VigilError
 * (CONFIG_INVALID), since none of its n-grams could match.
 */
export function featurize(spec: FeatureSpec, w: WindowRecord): Float32Array {
  const c = compile(spec);
  const { n } = c;
  if (w.syscalls.n !== n) {
    throw new VigilError(
      ErrorCodes.CONFIG_INVALID,
      `window has ${w.syscalls.n}-grams, the model's features use ${n}-grams`,
      { hint: `set the sensor's ngram to ${n}, or train a model for ${w.syscalls.n}-grams` },
    );
  }
  const out = new Float32Array(c.length);
  const grams = c.vocabulary + c.buckets;

  let listed = 0;
  let unseen = 0;
  for (const g of w.syscalls.ngrams) {
    const count = g[n] as number;
    if (count === 0) continue;
    listed += count;
    const key = ngramKey(g, n);
    const at = c.index.get(key);
    if (at !== undefined) {
      out[at] = (out[at] ?? 0) + count;
    } else {
      unseen += count;
      if (c.buckets > 0) {
        const b = c.vocabulary + hashBucket(key, c.buckets);
        out[b] = (out[b] ?? 0) + count;
      }
    }
  }
  // `total` includes n-grams a capped window left out; a hand-made window may omit it.
  const total = Math.max(w.syscalls.total, listed);
  if (total > 0) {
    for (let i = 0; i < grams; i++) {
      const count = out[i] ?? 0;
      if (count === 0) continue;
      const share = count / total;
      out[i] = c.tfidf
        ? share * (c.idf[Math.min(i, c.vocabulary)] ?? 1)
        : Math.log1p(share * LOG_SCALE);
    }
  }

  // The syscall summary: SYSCALL_FEATURE_NAMES.
  out[grams] = Math.log1p(total);
  out[grams + 1] = Math.log1p(w.syscalls.ngrams.length + (w.truncated.ngrams ?? 0));
  out[grams + 2] = listed > 0 ? unseen / listed : 0;

  writeWindowFeatures(w, out, grams + 3);
  return out;
}

export function featurizeMany(spec: FeatureSpec, windows: readonly WindowRecord[]): Float32Array[] {
  return windows.map((w) => featurize(spec, w));
}
