/**
 * Family "ngram-lm": a count-based next-syscall language model. P(next | previous n-1) from
 * counts on normal traces, with stupid backoff to shorter contexts; a trace scores its mean
 * surprise, -log P per syscall. Unseen syscalls and contexts cost a lot, which is the point.
 */
import { ErrorCodes, VigilError } from "../../src/errors.js";
import type { TraceFamily } from "./family.js";

export interface NgramLmOptions {
  /** Longest n-gram counted (context = n - 1 syscalls). */
  n?: number;
  /** Multiplier applied each time the model backs off to a shorter context. */
  backoff?: number;
  /** Smallest probability any syscall gets, so one unseen name cannot dominate as +Infinity. */
  floor?: number;
}

export function defaultNgramLmOptions(): Required<NgramLmOptions> {
  return { n: 6, backoff: 0.4, floor: 1e-6 };
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
  // Syscall names become one UTF-16 code unit each so n-gram keys are short strings.
  const ids = new Map<string, string>();
  // gram (length 1..n) -> count; context (length 1..n-1) -> times followed by some syscall.
  const grams = new Map<string, number>();
  const contexts = new Map<string, number>();
  let tokens = 0;

  const encode = (trace: readonly string[], grow: boolean): string => {
    let s = "";
    for (const name of trace) {
      let id = ids.get(name);
      if (id === undefined) {
        // Unseen names share one code that never occurs in training counts.
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
