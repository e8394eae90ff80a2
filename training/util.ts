/** Small pieces every training family shares: seeded randomness and the tfjs backend. */
import * as tf from "@tensorflow/tfjs";

export { prng, shuffle } from "./random.js";

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
