import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  calibrateThreshold,
  falseAlarmRate,
  paretoTailThreshold,
  scoreStats,
  thresholdForFalseAlarmRate,
} from "../../training/calibrate.js";
import { prng } from "../../training/random.js";

/** Exponential(rate 1) samples by inversion: P(X > t) = exp(-t). */
function exponential(seed: number, n: number): Float64Array {
  const random = prng(seed);
  return Float64Array.from({ length: n }, () => -Math.log(1 - random()));
}

describe("thresholdForFalseAlarmRate", () => {
  test("calibration meets its target on synthetic data with a known distribution", () => {
    const target = 0.001;
    const scores = exponential(1, 100_000);
    const threshold = thresholdForFalseAlarmRate(scores, target);
    // The analytic (1 - target) quantile of Exp(1) is -ln(target) = 6.9078. The sample quantile's
    // standard error is sqrt(p(1-p)/n)/f(q) = sqrt(0.001*0.999/1e5)/0.001 ~ 0.1; allow 4 sigma.
    const analytic = -Math.log(target);
    assert.ok(
      Math.abs(threshold - analytic) < 0.4,
      `threshold ${threshold} vs analytic ${analytic}`,
    );
    // On its own data the realised rate never exceeds the target.
    assert.ok(falseAlarmRate(scores, threshold) <= target);
    // On a fresh sample: expected ~0.001 with binomial sd ~1e-4; 4x the target is far outside
    // any plausible fluctuation, and 0.25x catches a threshold that is far too high.
    const fresh = falseAlarmRate(exponential(2, 100_000), threshold);
    console.log(
      `threshold ${threshold.toFixed(3)} (analytic ${analytic.toFixed(3)}), fresh false-alarm rate ${fresh}`,
    );
    assert.ok(fresh > target / 4 && fresh < target * 4, `fresh false-alarm rate ${fresh}`);
  });

  test("is the smallest threshold meeting the target; ties at the threshold do not alarm", () => {
    const scores = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(thresholdForFalseAlarmRate(scores, 0.1), 9); // only 10 above
    assert.equal(thresholdForFalseAlarmRate(scores, 0.2), 8);
    assert.equal(thresholdForFalseAlarmRate(scores, 0.05), 10); // no alarm allowed -> max
    assert.equal(thresholdForFalseAlarmRate(scores, 0), 10);
    const ties = Float64Array.from([1, 1, 1, 5, 5, 5, 5, 5, 5, 5]);
    const t = thresholdForFalseAlarmRate(ties, 0.3);
    assert.equal(t, 5);
    assert.equal(falseAlarmRate(ties, t), 0);
  });

  test("refuses an empty sample, non-finite scores and a rate outside [0, 1)", () => {
    assert.throws(() => thresholdForFalseAlarmRate(new Float64Array(0)), RangeError);
    assert.throws(() => thresholdForFalseAlarmRate(Float64Array.from([1, Number.NaN])), RangeError);
    assert.throws(() => thresholdForFalseAlarmRate(Float64Array.from([1]), 1), RangeError);
    assert.throws(() => thresholdForFalseAlarmRate(Float64Array.from([1]), -0.1), RangeError);
  });
});

describe("scoreStats", () => {
  test("matches the known moments and quantiles", () => {
    const s = scoreStats(Float64Array.from({ length: 101 }, (_, i) => i));
    assert.equal(s.count, 101);
    assert.equal(s.mean, 50);
    assert.equal(s.p50, 50);
    assert.equal(s.p90, 90);
    assert.equal(s.p99, 99);
    assert.ok(Math.abs(s.p999 - 99.9) < 1e-9);
    assert.equal(s.max, 100);
    assert.ok(Math.abs(s.std - Math.sqrt((101 * 101 - 1) / 12)) < 1e-9);
    const e = scoreStats(exponential(3, 100_000));
    assert.ok(Math.abs(e.mean - 1) < 0.02 && Math.abs(e.std - 1) < 0.03);
    assert.ok(Math.abs(e.p50 - Math.LN2) < 0.02);
  });
});

test("calibrateThreshold - a small validation set gets the log-normal tail; a large one the empirical quantile", () => {
  // Log-normal scores: ln(s) ~ N(0, 0.5). The 0.1 % quantile is exp(3.09 * 0.5) = 4.69.
  const random = (() => {
    let x = 123456789;
    return () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 4294967296;
    };
  })();
  const gaussian = () =>
    Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const draw = (n: number) => Float64Array.from({ length: n }, () => Math.exp(0.5 * gaussian()));
  const small = calibrateThreshold(draw(300), 0.001);
  assert.equal(small.method, "extreme-tail");
  assert.ok(Math.abs(small.tail - 4.69) < 0.8, `tail ${small.tail}`);
  assert.ok(small.pareto !== undefined && Number.isFinite(small.pareto));
  assert.equal(small.threshold, Math.max(small.empirical, small.tail, small.pareto));
  const large = calibrateThreshold(draw(20_000), 0.001);
  assert.equal(large.method, "empirical");
  assert.ok(Math.abs(large.threshold - 4.69) < 0.6, `empirical ${large.threshold}`);
  // Fresh scores from the same distribution alarm at about the target with the small-set threshold.
  const fresh = draw(100_000);
  const far = falseAlarmRate(fresh, small.threshold);
  assert.ok(far < 0.004, `fresh false-alarm rate ${far}`);
});

test("paretoTailThreshold - recovers the 0.1 % quantile of Pareto-tailed and exponential scores", () => {
  const random = prng(99);
  // Generalised Pareto, xi 0.3, sigma 1: the 1 - q quantile is (q^-xi - 1) / xi; at 0.1 %, 23.1.
  const gpd = Float64Array.from({ length: 5000 }, () => ((1 - random()) ** -0.3 - 1) / 0.3);
  const heavy = paretoTailThreshold(gpd, 0.001);
  assert.ok(Math.abs(heavy - 23.1) < 0.35 * 23.1, `GPD: ${heavy}`);
  // From 500 scores (n * 0.1 % < 10) the empirical threshold is about their maximum (20.3 here,
  // under the truth); the Pareto fit still lands near 23.1, and calibration takes the largest.
  const c = calibrateThreshold(gpd.subarray(0, 500), 0.001);
  assert.ok(c.empirical < 23.1 && Math.abs((c.pareto ?? 0) - 23.1) < 0.35 * 23.1, `${c.pareto}`);
  assert.equal(c.threshold, Math.max(c.empirical, c.tail, c.pareto ?? 0));
  // Exponential (xi 0): ln(1000) = 6.91.
  const exp = Float64Array.from({ length: 5000 }, () => -Math.log(1 - random()));
  const light = paretoTailThreshold(exp, 0.001);
  assert.ok(Math.abs(light - 6.91) < 1.5, `exponential: ${light}`);
  // Too few scores to fit: NaN, and calibration falls back to the other two.
  assert.ok(Number.isNaN(paretoTailThreshold(exp.subarray(0, 15), 0.001)));
  const few = calibrateThreshold(exp.subarray(0, 15), 0.001);
  assert.equal(few.pareto, undefined);
  assert.equal(few.threshold, Math.max(few.empirical, few.tail));
});
