/** Featurization shared by training and the scorer: window -> Float32Array in spec order. */
export {
  buildFeatureSpec,
  DEFAULT_HASH_BUCKETS,
  DEFAULT_TOP_K,
  FEATURE_SPEC_VERSION,
  type FeatureSpec,
  type FeatureSpecOptions,
  featureNames,
  MAX_HASH_BUCKETS,
  type Scaling,
  SYSCALL_FEATURE_NAMES,
  validateFeatureSpec,
} from "./feature-spec.js";
export { featurize, featurizeMany } from "./featurize.js";
export { fnv1a32, hashBucket, ngramKey } from "./ngram-hash.js";
export { type TraceMeta, windowFromTrace } from "./trace-window.js";
export { WINDOW_FEATURE_NAMES } from "./window-features.js";
