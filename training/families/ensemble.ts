/**
 * Family "ensemble": several families scored on one common scale. A seeded fraction of the
 * TRAINING traces is held out; each member is fitted on the rest and scores the held-out
 * normal traces, and from then on any score of that member is read against those held-out
 * normal scores (its empirical percentile, or a robust z-score). The ensemble score is the
 * mean (or max) of the members' calibrated scores. Nothing here sees validation or attack data.
 */

import { ErrorCodes, VigilError } from "../../src/errors.js";
import { prng } from "../random.js";
import type { TraceFamily } from "./family.js";
import { createKnnFamily } from "./knn.js";
import { createNgramLmFamily } from "./ngram-lm.js";

/**
 * Makes a fresh, unfitted member. Factories rather than instances because `fit` is not
 * idempotent for every family (ngram-lm adds to its counts), and refitting needs a clean one.
 */
export type MemberFactory = () => TraceFamily | Promise<TraceFamily>;

export interface EnsembleOptions {
  /**
   * Default: knn (syscall-set novelty) and ngram-lm (sequence surprise). next-syscall can be
   * added with a factory that imports it lazily; it costs two ~3-minute fits (calibrate, refit)
   * and did not raise AUC on ADFA-LD (0.851-0.861 with three members).
   */
  members?: MemberFactory[];
  /** How calibrated member scores combine. */
  combine?: "mean" | "max";
  /** percentile: mid-rank among held-out normal scores, in [0, 1]; z: (s - median) / IQR. */
  normalise?: "percentile" | "z";
  /** Fraction of the training traces held out for calibration. */
  holdOut?: number;
  /**
   * After calibrating, refit fresh members on all training traces and keep the held-out
   * calibration. Cheap for knn and ngram-lm, slow for next-syscall.
   */
  refit?: boolean;
}

export function defaultEnsembleOptions(): Required<EnsembleOptions> {
  return {
    members: [createKnnFamily, () => createNgramLmFamily()],
    combine: "mean",
    normalise: "percentile",
    holdOut: 0.2,
    refit: true,
  };
}

export function createEnsembleFamily(input: MemberFactory[] | EnsembleOptions = {}): TraceFamily {
  const o = { ...defaultEnsembleOptions(), ...(Array.isArray(input) ? { members: input } : input) };
  if (o.members.length === 0) {
    throw new VigilError(ErrorCodes.CONFIG_INVALID, "ensemble needs at least one member", {
      hint: "leave members out for the default knn + ngram-lm",
    });
  }
  if (!(o.holdOut > 0 && o.holdOut < 1)) {
    throw new VigilError(ErrorCodes.CONFIG_INVALID, `ensemble holdOut=${o.holdOut} not in (0,1)`, {
      hint: "0.2 holds out a fifth of the training traces (the default)",
    });
  }
  let fitted: { family: TraceFamily; reference: Float64Array }[] = [];
  let calibrationTraces = 0;

  return {
    name: "ensemble",
    async fit(train, { seed, log = () => {} }) {
      const { rest, held } = split(train, o.holdOut, seed);
      if (held.length < 2 || rest.length === 0) {
        throw new VigilError(
          ErrorCodes.CONFIG_INVALID,
          `ensemble: ${train.length} training traces are too few to hold out ${o.holdOut}`,
          { hint: "give at least 10 training traces" },
        );
      }
      calibrationTraces = held.length;
      fitted = [];
      for (const make of o.members) {
        let family = await make();
        await family.fit(rest, { seed, log });
        const reference = (await family.score(held)).sort();
        if (o.refit) {
          family = await make();
          await family.fit(train, { seed, log });
        }
        fitted.push({ family, reference });
      }
      log(
        `ensemble: ${fitted.map((m) => m.family.name).join(" + ")} calibrated on ${held.length} held-out training traces`,
      );
    },
    async score(traces) {
      const out = new Float64Array(traces.length);
      if (o.combine === "max") out.fill(Number.NEGATIVE_INFINITY);
      for (const { family, reference } of fitted) {
        const raw = await family.score(traces);
        const calibrate = o.normalise === "z" ? robustZ(reference) : percentile(reference);
        for (let i = 0; i < traces.length; i++) {
          const c = calibrate(raw[i] as number);
          out[i] =
            o.combine === "max"
              ? Math.max(out[i] as number, c)
              : (out[i] as number) + c / fitted.length;
        }
      }
      return out;
    },
    describe() {
      return {
        members: fitted.map((m) => ({ family: m.family.name, ...m.family.describe() })),
        combine: o.combine,
        normalise: o.normalise,
        holdOut: o.holdOut,
        calibrationTraces,
        refit: o.refit,
      };
    },
  };
}

/** A seeded split of the training traces: `fraction` of them held out. */
function split<T>(train: readonly T[], fraction: number, seed: number): { rest: T[]; held: T[] } {
  const order = train.map((_, i) => i);
  const random = prng(seed ^ 0x2545f491);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const cut = Math.round(train.length * fraction);
  const held = order.slice(0, cut).sort((a, b) => a - b);
  const heldSet = new Set(held);
  return {
    rest: train.filter((_, i) => !heldSet.has(i)),
    held: held.map((i) => train[i] as T),
  };
}

/** Mid-rank empirical CDF against sorted reference scores: ties count half. */
export function percentile(sorted: Float64Array): (s: number) => number {
  return (s) => (lowerBound(sorted, s) + upperBound(sorted, s)) / (2 * sorted.length);
}

/** (s - median) / IQR of the reference, the IQR floored so a flat reference cannot divide by 0. */
export function robustZ(sorted: Float64Array): (s: number) => number {
  const q = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
  const median = q(0.5);
  const iqr = Math.max(q(0.75) - q(0.25), 1e-9 * Math.max(1, Math.abs(median)));
  return (s) => (s - median) / iqr;
}

function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
