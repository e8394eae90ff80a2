/**
 * npm run bench:model: what a model costs. Featurization per window, autoencoder training time
 * per 10k windows (cpu and wasm backends), ONNX Runtime scoring throughput and latency at batch 1
 * and 256, the next-syscall model's scoring per window, and model sizes. Prints a table and
 * writes bench/results/model.json. It reports; it never asserts.
 */
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import type { WindowRecord } from "../src/contracts/index.js";
import { buildFeatureSpec, featurize } from "../src/features/index.js";
import { exportOnnx } from "../src/model/onnx-export.js";
import { OnnxModelRunner } from "../src/model/onnx-runner.js";
import {
  autoencoderParams,
  buildAutoencoder,
  buildNextSyscall,
  nextSyscallParams,
} from "../src/model/tfjs-models.js";
import { SYSCALL_NAMES } from "../src/sensor/syscall-names.js";
import { makeWindow } from "../test/helpers/messages.js";
import { prng } from "../training/random.js";
import { type TfBackend, useBackend } from "../training/util.js";
import { machineInfo, writeResults } from "./lib/results.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const RESULTS = join(REPO, "bench", "results", "model.json");
const WINDOWS = 10_000;
const EPOCHS = 5;
const HIDDEN = [64, 16, 64];

const now = () => performance.now();
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;

/** Windows like a coding agent's: ~200 distinct trigrams from a skewed syscall mix. */
function realisticWindows(n: number, seed: number): WindowRecord[] {
  const random = prng(seed);
  const names = (SYSCALL_NAMES.x86_64.filter(Boolean) as string[]).slice(0, 120);
  const pick = () => names[Math.floor(names.length * random() ** 3)] as string;
  const out: WindowRecord[] = [];
  for (let i = 0; i < n; i++) {
    const grams = new Map<string, number>();
    for (let g = 0; g < 200; g++)
      grams.set(`${pick()},${pick()},${pick()}`, 1 + Math.floor(200 * random() ** 2));
    const ngrams = [...grams].map(([k, c]) => [...k.split(","), c]);
    out.push(
      makeWindow(i, {
        syscalls: { n: 3, total: ngrams.reduce((a, g) => a + (g[3] as number), 0), ngrams },
      }),
    );
  }
  return out;
}

async function trainSeconds(backend: TfBackend, x: Float32Array[], log: (s: string) => void) {
  const used = await useBackend(backend, log);
  const inputSize = x[0]?.length ?? 0;
  const model = buildAutoencoder(inputSize, HIDDEN, 1);
  model.compile({ optimizer: tf.train.adam(0.003), loss: "meanSquaredError" });
  const flat = new Float32Array(x.length * inputSize);
  for (const [i, row] of x.entries()) flat.set(row, i * inputSize);
  const t = tf.tensor2d(flat, [x.length, inputSize]);
  const start = now();
  await model.fit(t, t, { epochs: EPOCHS, batchSize: 64, shuffle: false, verbose: 0 });
  const seconds = (now() - start) / 1000;
  t.dispose();
  return { backend: used, seconds, model };
}

async function main(): Promise<number> {
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`bench:model: ${WINDOWS} windows, autoencoder ${HIDDEN.join("-")}, ${EPOCHS} epochs`);
  const windows = realisticWindows(WINDOWS, 7);
  const spec = buildFeatureSpec(windows.slice(0, 2000), { topK: 512, hashBuckets: 64 });
  let start = now();
  const x = windows.map((w) => featurize(spec, w));
  const featurizeUs = ((now() - start) * 1000) / windows.length;
  const inputSize = spec.names.length;

  const training: Record<string, { seconds: number; perTenK: number }> = {};
  let trained: tf.LayersModel | undefined;
  for (const backend of ["cpu", "wasm"] as const) {
    log(`training on ${backend}`);
    const r = await trainSeconds(backend, x, log);
    training[r.backend] = { seconds: r.seconds, perTenK: (r.seconds * 10_000) / x.length };
    trained = r.model;
  }
  const mean = new Float32Array(inputSize);
  const std = new Float32Array(inputSize).fill(1);
  const bytes = exportOnnx(autoencoderParams(trained as tf.LayersModel, mean, std), {
    producerVersion: "bench",
  });
  const runner = await OnnxModelRunner.open(
    bytes,
    { family: "autoencoder", inputSize },
    { threads: 1 },
  );

  // batch 1: one call per window, as a scorer sees windows arrive
  const lat1: number[] = [];
  for (let i = 0; i < 50; i++) await runner.scoreAutoencoder([x[i] as Float32Array]);
  start = now();
  for (let i = 0; i < 2000; i++) {
    const t0 = now();
    await runner.scoreAutoencoder([x[i] as Float32Array]);
    lat1.push(now() - t0);
  }
  const batch1PerSecond = 2000 / ((now() - start) / 1000);
  // batch 256
  const lat256: number[] = [];
  start = now();
  let scored = 0;
  for (let i = 0; i + 256 <= x.length; i += 256) {
    const t0 = now();
    await runner.scoreAutoencoder(x.slice(i, i + 256));
    lat256.push(now() - t0);
    scored += 256;
  }
  const batch256PerSecond = scored / ((now() - start) / 1000);
  await runner.close();
  lat1.sort((a, b) => a - b);
  lat256.sort((a, b) => a - b);

  // next-syscall: one window's n-grams are the rows of one call
  const vocab = 150;
  const ns = buildNextSyscall(vocab, 2, 16, [128], 1);
  const nsBytes = exportOnnx(nextSyscallParams(ns), { producerVersion: "bench" });
  const nsRunner = await OnnxModelRunner.open(nsBytes, {
    family: "next-syscall",
    inputSize: vocab,
    context: 2,
  });
  const ids = new Map<string, number>();
  const id = (name: string) => {
    if (!ids.has(name)) ids.set(name, ids.size % vocab);
    return ids.get(name) as number;
  };
  const rowsOf = (w: WindowRecord) =>
    w.syscalls.ngrams.map((g) => ({
      context: [id(g[0] as string), id(g[1] as string)],
      next: id(g[2] as string),
      count: g[3] as number,
    }));
  const nsLat: number[] = [];
  for (let i = 0; i < 20; i++) await nsRunner.scoreNextSyscall(rowsOf(windows[i] as WindowRecord));
  start = now();
  for (let i = 0; i < 1000; i++) {
    const t0 = now();
    await nsRunner.scoreNextSyscall(rowsOf(windows[i] as WindowRecord));
    nsLat.push(now() - t0);
  }
  const nsPerSecond = 1000 / ((now() - start) / 1000);
  await nsRunner.close();
  nsLat.sort((a, b) => a - b);

  const fmt = (v: number, d = 1) =>
    v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  const rows: [string, string][] = [
    ["features per window", `${inputSize}`],
    ["featurize a window (~200 n-grams)", `${fmt(featurizeUs)} µs`],
    ...Object.entries(training).map(
      ([b, t]) =>
        [`train autoencoder, ${EPOCHS} epochs per 10k windows (${b})`, `${fmt(t.perTenK)} s`] as [
          string,
          string,
        ],
    ),
    ["autoencoder model.onnx", `${fmt(bytes.byteLength / 1024)} KiB`],
    ["score, batch 1 (windows/s, one core)", `${fmt(batch1PerSecond, 0)}`],
    ["  latency p50 / p99", `${fmt(pct(lat1, 0.5), 3)} / ${fmt(pct(lat1, 0.99), 3)} ms`],
    ["score, batch 256 (windows/s, one core)", `${fmt(batch256PerSecond, 0)}`],
    [
      "  latency per batch p50 / p99",
      `${fmt(pct(lat256, 0.5), 2)} / ${fmt(pct(lat256, 0.99), 2)} ms`,
    ],
    ["next-syscall model.onnx", `${fmt(nsBytes.byteLength / 1024)} KiB`],
    ["next-syscall score (windows/s, one core; 200 rows each)", `${fmt(nsPerSecond, 0)}`],
    ["  latency p50 / p99", `${fmt(pct(nsLat, 0.5), 3)} / ${fmt(pct(nsLat, 0.99), 3)} ms`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(
    `\nbench:model (${cpus()[0]?.model ?? "cpu"}, ${cpus().length} CPUs, node ${process.version})\n`,
  );
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)} | ${v}\n`);
  writeResults(
    RESULTS,
    {
      bench: "model",
      date: new Date().toISOString(),
      machine: machineInfo(),
      params: { windows: WINDOWS, epochs: EPOCHS, hidden: HIDDEN, topK: 512, hashBuckets: 64 },
      features: inputSize,
      featurizeUs,
      training,
      autoencoder: {
        onnxBytes: bytes.byteLength,
        batch1: { perSecond: batch1PerSecond, p50Ms: pct(lat1, 0.5), p99Ms: pct(lat1, 0.99) },
        batch256: {
          perSecond: batch256PerSecond,
          p50Ms: pct(lat256, 0.5),
          p99Ms: pct(lat256, 0.99),
        },
      },
      nextSyscall: {
        onnxBytes: nsBytes.byteLength,
        perSecond: nsPerSecond,
        p50Ms: pct(nsLat, 0.5),
        p99Ms: pct(nsLat, 0.99),
      },
    },
    REPO,
  );
  process.stdout.write(`(written to bench/results/model.json)\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench:model failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
