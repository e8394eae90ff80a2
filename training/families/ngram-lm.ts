/**
 * Family "ngram-lm": a count-based next-syscall language model. P(next | previous n-1) from
 * counts on normal traces, with stupid backoff to shorter contexts or interpolated Kneser-Ney
 * smoothing; a trace scores its mean surprise, -log P per syscall. Unseen syscalls and contexts
 * cost a lot, which is the point.
 */
import { ErrorCodes, VigilError } from "../../src/errors.js";
import type { TraceFamily } from "./family.js";

export interface NgramLmOptions {
  /** Longest n-gram counted (context = n - 1 syscalls). */
  n?: number;
  /** Stupid backoff only: multiplier applied each time it backs off to a shorter context. */
  backoff?: number;
  /** Smallest probability any syscall gets, so one unseen name cannot dominate as +Infinity. */
  floor?: number;
  /**
   * "kneser-ney" (default): interpolated Kneser-Ney (Chen & Goodman 1998), one absolute
   * discount per order from count-of-counts, traces padded with n-1 start symbols.
   * "stupid": stupid backoff (Brants et al. 2007), cheaper, scores not normalised.
   */
  smoothing?: NgramSmoothing;
}

export type NgramSmoothing = "stupid" | "kneser-ney";

export function defaultNgramLmOptions(): Required<NgramLmOptions> {
  return { n: 6, backoff: 0.4, floor: 1e-6, smoothing: "kneser-ney" };
}

export function createNgramLmFamily(options: NgramLmOptions = {}): TraceFamily {
  const o = { ...defaultNgramLmOptions(), ...options };
  if (!Number.isInteger(o.n) || o.n < 1 || o.n > 32) {
    throw new VigilError(ErrorCodes.CONFIG_INVALID, `ngram-lm n=${o.n} is not an integer 1..32`, {
      hint: "use n between 2 and 8 (6 is the default)",
    });
  }
  if (!(o.backoff > 0 && o.backoff <= 1) || !(o.floor > 0 && o.floor < 1)) {
    throw new VigilError(
      ErrorCodes.CONFIG_INVALID,
      "ngram-lm backoff must be in (0,1], floor in (0,1)",
      {
        hint: "the defaults are backoff 0.4, floor 1e-6",
      },
    );
  }
  if (o.smoothing !== "stupid" && o.smoothing !== "kneser-ney") {
    throw new VigilError(ErrorCodes.CONFIG_INVALID, `ngram-lm smoothing=${o.smoothing}`, {
      hint: 'smoothing is "stupid" (the default) or "kneser-ney"',
    });
  }
  if (o.smoothing === "kneser-ney") return kneserNeyFamily(o);
  const { ids, encode } = encoder();
  // gram (length 1..n) -> count; context (length 1..n-1) -> times followed by some syscall.
  const grams = new Map<string, number>();
  const contexts = new Map<string, number>();
  let tokens = 0;

  const logProb = (s: string, i: number): number => {
    let weight = 1;
    const maxCtx = Math.min(o.n - 1, i);
    for (let k = maxCtx; k >= 1; k--) {
      const c = grams.get(s.slice(i - k, i + 1));
      if (c !== undefined) {
        const ctx = contexts.get(s.slice(i - k, i)) as number;
        return Math.log(Math.max(o.floor, (weight * c) / ctx));
      }
      weight *= o.backoff;
    }
    const c = grams.get(s[i] as string) ?? 0;
    return Math.log(Math.max(o.floor, (weight * c) / Math.max(1, tokens)));
  };

  return {
    name: "ngram-lm",
    async fit(train) {
      for (const trace of train) {
        const s = encode(trace, true);
        tokens += s.length;
        for (let i = 0; i < s.length; i++) {
          for (let k = 1; k <= o.n && k <= i + 1; k++) {
            const g = s.slice(i - k + 1, i + 1);
            grams.set(g, (grams.get(g) ?? 0) + 1);
            if (k > 1) {
              const ctx = s.slice(i - k + 1, i);
              contexts.set(ctx, (contexts.get(ctx) ?? 0) + 1);
            }
          }
        }
      }
    },
    async score(traces) {
      const out = new Float64Array(traces.length);
      traces.forEach((trace, t) => {
        const s = encode(trace, false);
        let surprise = 0;
        for (let i = 0; i < s.length; i++) surprise -= logProb(s, i);
        out[t] = s.length === 0 ? 0 : surprise / s.length;
      });
      return out;
    },
    describe() {
      return { ...o, vocabulary: ids.size, ngrams: grams.size, trainTokens: tokens };
    },
  };
}

/**
 * Syscall names become one UTF-16 code unit each (1..) so n-gram keys are short strings; at
 * scoring, unseen names share U+FFFF, which never occurs in training counts.
 */
function encoder() {
  const ids = new Map<string, string>();
  const encode = (trace: readonly string[], grow: boolean): string => {
    let s = "";
    for (const name of trace) {
      let id = ids.get(name);
      if (id === undefined) {
        if (!grow) {
          s += "\uffff";
          continue;
        }
        id = String.fromCharCode(ids.size + 1);
        ids.set(name, id);
      }
      s += id;
    }
    return s;
  };
  return { ids, encode };
}

/** Start-of-trace symbol, U+0000: never a syscall id. */
const START = "\u0000";

/**
 * Interpolated Kneser-Ney: the top order uses raw counts, lower orders continuation counts
 * (how many distinct syscalls precede a gram), each order discounted by D = n1 / (n1 + 2 n2)
 * and interpolated down to a uniform distribution over the vocabulary plus "unknown".
 */
function kneserNeyFamily(o: Required<NgramLmOptions>): TraceFamily {
  const { ids, encode } = encoder();
  // gram (length 1..n) -> raw count (length n) or continuation count (shorter).
  const value = new Map<string, number>();
  // context (length 0..n-1) -> [sum of its grams' values, distinct next syscalls].
  const context = new Map<string, [number, number]>();
  const discount = new Float64Array(o.n + 1);
  let tokens = 0;
  const pad = START.repeat(o.n - 1);

  const prob = (s: string, i: number): number => {
    // s is padded, so position i always has n-1 symbols of context.
    let p = 1 / (ids.size + 1);
    for (let k = 1; k <= o.n; k++) {
      const h = s.slice(i - k + 1, i);
      const ctx = context.get(h);
      if (ctx === undefined) continue;
      const [total, types] = ctx;
      const d = discount[k] ?? 0;
      const c = value.get(h + s[i]) ?? 0;
      p = (Math.max(c - d, 0) + d * types * p) / total;
    }
    return p;
  };

  return {
    name: "ngram-lm",
    async fit(train) {
      const top = new Map<string, number>();
      for (const trace of train) {
        const s = pad + encode(trace, true);
        tokens += trace.length;
        for (let i = o.n - 1; i < s.length; i++) {
          const g = s.slice(i - o.n + 1, i + 1);
          top.set(g, (top.get(g) ?? 0) + 1);
        }
      }
      // Continuation counts: each distinct gram of length k+1 adds one to its k-suffix.
      let level = top;
      for (let k = o.n; k >= 1; k--) {
        const lower = new Map<string, number>();
        const counts = [0, 0, 0];
        for (const [g, v] of level) {
          value.set(g, v);
          if (v <= 2) counts[v] = (counts[v] ?? 0) + 1;
          const h = g.slice(0, -1);
          const ctx = context.get(h) ?? [0, 0];
          ctx[0] += v;
          ctx[1]++;
          context.set(h, ctx);
          if (k > 1) lower.set(g.slice(1), (lower.get(g.slice(1)) ?? 0) + 1);
        }
        const [, n1 = 0, n2 = 0] = counts;
        discount[k] = n1 + n2 > 0 ? n1 / (n1 + 2 * n2) : 0.75;
        level = lower;
      }
    },
    async score(traces) {
      const out = new Float64Array(traces.length);
      traces.forEach((trace, t) => {
        const s = pad + encode(trace, false);
        let surprise = 0;
        for (let i = o.n - 1; i < s.length; i++)
          surprise -= Math.log(Math.max(o.floor, prob(s, i)));
        out[t] = trace.length === 0 ? 0 : surprise / trace.length;
      });
      return out;
    },
    describe() {
      return {
        ...o,
        discounts: Array.from(discount.subarray(1)),
        vocabulary: ids.size,
        ngrams: value.size,
        trainTokens: tokens,
      };
    },
  };
}
