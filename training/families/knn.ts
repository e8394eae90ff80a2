/**
 * Family "knn": a trace is the binary bag of syscall names it uses, unit-normalised; its
 * score is 1 - cosine similarity to the nearest normal training trace. With binary vectors
 * cosine(A, B) = |A ∩ B| / sqrt(|A| |B|), so bitsets and popcounts do the work.
 */
import type { TraceFamily } from "./family.js";

export function createKnnFamily(): TraceFamily {
  const vocab = new Map<string, number>();
  let words = 0;
  // Distinct training bags only: duplicates cannot change a nearest-neighbour distance.
  let bags: { bits: Uint32Array; size: number }[] = [];

  const bitsOf = (trace: readonly string[]): { bits: Uint32Array; size: number } => {
    const bits = new Uint32Array(words);
    const seen = new Set<string>();
    for (const name of trace) {
      if (seen.has(name)) continue;
      seen.add(name);
      const id = vocab.get(name);
      if (id !== undefined) bits[id >>> 5] = (bits[id >>> 5] as number) | (1 << (id & 31));
    }
    // Names unseen in training still count in |A|: they lower every similarity.
    return { bits, size: seen.size };
  };

  return {
    name: "knn",
    async fit(train) {
      for (const trace of train)
        for (const name of trace) if (!vocab.has(name)) vocab.set(name, vocab.size);
      words = Math.ceil(vocab.size / 32);
      const unique = new Map<string, { bits: Uint32Array; size: number }>();
      for (const trace of train) {
        const b = bitsOf(trace);
        unique.set(Array.from(b.bits).join(","), b);
      }
      bags = [...unique.values()].filter((b) => b.size > 0);
    },
    async score(traces) {
      const out = new Float64Array(traces.length);
      traces.forEach((trace, t) => {
        const a = bitsOf(trace);
        let best = 0;
        if (a.size > 0) {
          for (const b of bags) {
            let common = 0;
            for (let w = 0; w < words; w++)
              common += popcount((a.bits[w] as number) & (b.bits[w] as number));
            const cos = common / Math.sqrt(a.size * b.size);
            if (cos > best) best = cos;
          }
        }
        out[t] = 1 - best;
      });
      return out;
    },
    describe() {
      return {
        features: "binary syscall-name unigrams",
        vocabulary: vocab.size,
        distinctTrainBags: bags.length,
      };
    },
  };
}

function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
