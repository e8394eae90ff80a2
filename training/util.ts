/** Small pieces every training family shares: seeded randomness and the tfjs backend. */
import * as tf from "@tensorflow/tfjs";

export type TfBackend = "cpu" | "wasm";

/**
 * Makes `wanted` the tfjs backend; wasm may fail to initialise (no binary, no SIMD), in which
 * case training continues on cpu, slower but identical in semantics. Returns the one in use.
 */
export async function useBackend(wanted: TfBackend, log: (line: string) => void): Promise<string> {
  if (wanted === "wasm") await import("@tensorflow/tfjs-backend-wasm");
  if (tf.getBackend() !== wanted) {
    const ok = await tf.setBackend(wanted).catch(() => false);
    if (!ok) {
      log(`tfjs backend ${wanted} failed to initialise; training on cpu`);
      await tf.setBackend("cpu");
    }
  }
  await tf.ready();
  return tf.getBackend();
}

/** mulberry32: a seeded uniform [0, 1) source, so shuffles repeat for a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates in place. */
export function shuffle(a: Uint32Array, random: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i] ?? 0;
    a[i] = a[j] ?? 0;
    a[j] = t;
  }
}
