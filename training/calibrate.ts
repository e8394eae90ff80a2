/**
 * Threshold calibration: the one place a score becomes a decision boundary. Scoring never sees
 * this; the threshold is computed from scores on normal (held-out) windows and stored with the
 * model, so the scorer only compares `score > threshold`.
 */
import { mean, probit, standardDeviation } from "simple-statistics";

/** Default target false-alarm rate: one normal window in a thousand alarms. */
export const DEFAULT_TARGET_FAR = 0.001;

/** Summary of a set of scores, written into the model manifest. */
export interface ScoreStats {
  count: number;
  mean: number;
  std: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

function checkFar(targetFar: number): void {
  if (!(targetFar >= 0 && targetFar < 1)) {
    throw new RangeError(`target false-alarm rate ${targetFar} is not in [0, 1)`);
  }
}

/**
 * The smallest threshold t such that the fraction of `normalScores` strictly above t is at most
 * `targetFar`. Tie rule: an alarm is `score > threshold`, so scores equal to the threshold do
 * not alarm; with k = floor(targetFar * N) alarms allowed, t is the (N - k)-th smallest score
 * (1-based): every smaller t would leave those k + 1 largest scores above it. With ties at t,
 * the realised rate on these scores is below the target. The result is always one of the
 * scores (no interpolation), so it is exact for the data it was calibrated on.
 */
export function thresholdForFalseAlarmRate(
  normalScores: Float64Array,
  targetFar: number = DEFAULT_TARGET_FAR,
): number {
  checkFar(targetFar);
  const n = normalScores.length;
  if (n === 0) throw new RangeError("cannot calibrate a threshold on no scores");
  if (!normalScores.every(Number.isFinite)) {
    throw new RangeError("cannot calibrate a threshold on non-finite scores");
  }
  const sorted = Float64Array.from(normalScores).sort();
  // The epsilon keeps 0.001 * 100000 (= 100.00000000000001 or 99.99999999999999) at 100.
  const allowed = Math.min(n - 1, Math.floor(targetFar * n + 1e-9));
  return sorted[n - 1 - allowed] as number;
}

/** Fraction of `scores` strictly above `threshold` (the alarm rule). */
export function falseAlarmRate(scores: Float64Array, threshold: number): number {
  if (scores.length === 0) return 0;
  let above = 0;
  for (const s of scores) if (s > threshold) above++;
  return above / scores.length;
}

/** Quantile q of ascending `sorted`, linear between order statistics (R type 7). */
function quantile(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const a = sorted[lo] as number;
  const b = sorted[Math.min(n - 1, lo + 1)] as number;
  return a + (h - lo) * (b - a);
}

/** count, mean, population std, p50/p90/p99/p99.9 (interpolated) and max; NaN when empty. */
export function scoreStats(scores: Float64Array): ScoreStats {
  const n = scores.length;
  const sorted = Float64Array.from(scores).sort();
  let sum = 0;
  for (const s of sorted) sum += s;
  const mean = n === 0 ? Number.NaN : sum / n;
  let sq = 0;
  for (const s of sorted) sq += (s - mean) * (s - mean);
  return {
    count: n,
    mean,
    std: n === 0 ? Number.NaN : Math.sqrt(sq / n),
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    p99: quantile(sorted, 0.99),
    p999: quantile(sorted, 0.999),
    max: n === 0 ? Number.NaN : (sorted[n - 1] as number),
  };
}

/**
 * The threshold a log-normal fit of `normalScores` puts at `targetFar`: exp(mu + z sigma), mu and
 * sigma of ln(score), z the standard normal quantile of 1 - targetFar. A few hundred validation
 * windows cannot resolve a 0.1 % rate empirically (the estimate is just their maximum); the fit
 * extrapolates the tail instead. Scores of 0 are floored at a tiny positive value.
 */
export function tailThreshold(
  normalScores: Float64Array,
  targetFar: number = DEFAULT_TARGET_FAR,
): number {
  checkFar(targetFar);
  if (normalScores.length < 2 || targetFar === 0) return Number.POSITIVE_INFINITY;
  const logs = Array.from(normalScores, (s) => Math.log(Math.max(s, 1e-12)));
  const mu = mean(logs);
  const sigma = standardDeviation(logs);
  return Math.exp(mu + probit(1 - targetFar) * sigma);
}

/** Fewest scores the Pareto tail is fitted to, and the share of the largest it takes. */
const MIN_EXCEEDANCES = 10;
const EXCEEDANCE_SHARE = 0.1;

/**
 * Peaks over threshold: a generalised Pareto distribution fitted, by probability-weighted
 * moments (Hosking and Wallis, 1987), to the excesses of the largest 10 % of `normalScores`
 * (at least 10) over the next score down, read at `targetFar`. Scores whose tail is heavier
 * than a log-normal's (an autoencoder's top-k errors are) are extrapolated past the largest
 * one, where the log-normal fit can fall below it. NaN when there are too few scores or the
 * fit fails (a tail too heavy for the estimator, xi >= 1).
 */
export function paretoTailThreshold(
  normalScores: Float64Array,
  targetFar: number = DEFAULT_TARGET_FAR,
): number {
  checkFar(targetFar);
  if (targetFar === 0) return Number.POSITIVE_INFINITY;
  const n = normalScores.length;
  const k = Math.max(MIN_EXCEEDANCES, Math.round(EXCEEDANCE_SHARE * n));
  if (n < 2 * k) return Number.NaN;
  const sorted = Float64Array.from(normalScores).sort();
  const u = sorted[n - k - 1] as number;
  const excess = sorted.subarray(n - k).map((v) => v - u);
  let a0 = 0;
  let a1 = 0;
  excess.forEach((y, i) => {
    a0 += y / k;
    a1 += (((k - 1 - i) / (k - 1)) * y) / k; // y * (1 - F(y)), F empirical
  });
  const d = a0 - 2 * a1;
  if (!(d > 0 && a0 > 0)) return Number.NaN;
  const xi = 2 - a0 / d;
  const sigma = (2 * a0 * a1) / d;
  if (!(xi < 1 && sigma > 0)) return Number.NaN;
  const r = (targetFar * n) / k; // the target as a share of the exceedances
  if (r >= 1) return u;
  return Math.abs(xi) < 1e-9 ? u - sigma * Math.log(r) : u + (sigma / xi) * (r ** -xi - 1);
}

/** Below this many expected alarms in the validation set the empirical quantile is too coarse. */
export const MIN_EXPECTED_ALARMS = 10;

export interface Calibration {
  threshold: number;
  /**
   * "empirical" when the scores resolve the target; else "extreme-tail": the largest of the
   * empirical, log-normal and Pareto thresholds. ("lognormal-tail", the largest of the first
   * two, is what models before the Pareto fit say.)
   */
  method: "empirical" | "lognormal-tail" | "extreme-tail";
  empirical: number;
  /** The log-normal tail threshold. */
  tail: number;
  /** The generalised Pareto tail threshold, when it could be fitted. */
  pareto?: number;
}

/**
 * The model's threshold: the empirical one when the scores hold at least MIN_EXPECTED_ALARMS
 * alarms at the target rate, else the largest of the empirical, the log-normal tail and the
 * Pareto tail thresholds, so that too few scores err towards fewer false alarms.
 */
export function calibrateThreshold(
  normalScores: Float64Array,
  targetFar: number = DEFAULT_TARGET_FAR,
): Calibration {
  const empirical = thresholdForFalseAlarmRate(normalScores, targetFar);
  const tail = tailThreshold(normalScores, targetFar);
  if (normalScores.length * targetFar >= MIN_EXPECTED_ALARMS || !Number.isFinite(tail)) {
    return {
      threshold: empirical,
      method: "empirical",
      empirical,
      tail: Number.isFinite(tail) ? tail : empirical,
    };
  }
  const pareto = paretoTailThreshold(normalScores, targetFar);
  const fitted = Number.isFinite(pareto);
  return {
    threshold: Math.max(empirical, tail, fitted ? pareto : empirical),
    method: "extreme-tail",
    empirical,
    tail,
    ...(fitted ? { pareto } : {}),
  };
}
