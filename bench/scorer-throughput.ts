import { rmSync } from "node:fs";
import { join } from "node:path";
import { Registry } from "prom-client";
import { EmbeddedNats } from "../src/bus/embedded-nats.js";
import { NatsBus, STREAMS } from "../src/bus/nats-bus.js";
import { encodeMessage, type WindowRecord, windowsSubject } from "../src/contracts/index.js";
import { type AlertObservation, AlertState } from "../src/scorer/alert-state.js";
import { explain } from "../src/scorer/explain.js";
import { ModelRegistry } from "../src/scorer/registry.js";
import { Sampler } from "../src/scorer/sampler.js";
import { Scorer } from "../src/scorer/scorer.js";
import { createSilentLogger } from "../src/telemetry/logger.js";
import { createBusMetrics, createScorerMetrics } from "../src/telemetry/metrics.js";
import { AGENT, benign, writeCapture } from "../test/helpers/agent-windows.js";
import { prng } from "../training/random.js";
import { trainModel } from "../training/train.js";
import { type Percentiles, percentiles, procCpuMs, sleep, until } from "./lib/proc.js";
import { COMMON_SYSCALLS } from "./lib/syscalls.js";

const HOST = "bench-host";
const FAMILIES = ["autoencoder", "next-syscall"] as const;
const BATCHES = [1, 64] as const;
export const BATCH_DELAY_MS = 20;
export const TRAIN_WINDOWS = 800;
export const LIGHT_RATE = 20;
/** 1,000 agents at the default 5 s window; the publisher shares this process's event loop. */
const LOADED_RATE = 200;
const PACED_SECONDS = 5;

const logger = createSilentLogger();
const now = () => performance.now();
const log = (s: string) => process.stderr.write(`bench:scorer: ${s}\n`);

/** A benign window of test/helpers/agent-windows.ts with ~200 distinct trigrams, skewed. */
function realisticWindow(i: number, random: () => number, agentId: string): WindowRecord {
  const w = benign(i, random);
  const pick = () => COMMON_SYSCALLS[Math.floor(COMMON_SYSCALLS.length * random() ** 2)] as string;
  const grams = new Map<string, number>();
  while (grams.size < 200) {
    grams.set(`${pick()},${pick()},${pick()}`, 1 + Math.floor(200 * random() ** 3));
  }
  const ngrams = [...grams].map(([k, c]) => [...k.split(","), c]);
  const total = ngrams.reduce((n, g) => n + (g[3] as number), 0);
  return { ...w, host: HOST, agentId, seq: i, syscalls: { n: 3, total, ngrams } };
}

interface Part1Run {
  family: string;
  batch: number;
  drain: { windows: number; perSecond: number; cpuMsPerWindow: number; natsCpuMsPerWindow: number };
  handle: { windows: number; perSecond: number; cpuMsPerWindow: number };
  light: { rate: number } & Percentiles;
  loaded: { rate: number } & Percentiles;
  alerts: number;
}

interface Part1Setup {
  server: EmbeddedNats;
  pub: NatsBus;
  sub: NatsBus;
}

/** One scorer as service.ts builds it, with ONNX Runtime on one thread. */
async function startBenchScorer(
  s: Part1Setup,
  modelsDir: string,
  durable: string,
  batch: number,
  onScored: (w: WindowRecord) => void,
) {
  const metrics = createScorerMetrics(new Registry());
  const registry = new ModelRegistry({
    modelsDir,
    reloadIntervalMs: 60_000,
    logger,
    metrics,
    threads: 1,
  });
  await registry.start();
  const state = new AlertState({ resolveAfterWindows: 3, resendIntervalMs: 60_000 });
  let alerts = 0;
  const scorer = await Scorer.start(
    { durable, batch: { maxWindows: batch, maxDelayMs: BATCH_DELAY_MS } },
    {
      bus: s.sub,
      registry,
      sampler: new Sampler({ defaultRate: 1, rates: {} }),
      explain,
      alerts: {
        observe(o: AlertObservation) {
          onScored(o.window);
          const action = state.observe(o);
          if (action.kind === "fire") alerts++;
          return action;
        },
        sweep: () => state.sweep(),
      },
      metrics,
      logger,
    },
  );
  return {
    scorer,
    alerts: () => alerts,
    async stop() {
      await scorer.stop();
      await registry.stop();
      await s.sub.manager.consumers.delete(STREAMS.windows, durable).catch(() => false);
    },
  };
}

async function publishAll(s: Part1Setup, windows: WindowRecord[], tag: string) {
  for (let i = 0; i < windows.length; i += 64) {
    await Promise.all(
      windows
        .slice(i, i + 64)
        .map((w) =>
          s.pub.publish(
            "window",
            windowsSubject(w.agentType, w.host),
            encodeMessage(w),
            `${tag}.${w.agentId}.${w.seq}`,
          ),
        ),
    );
  }
}

/** Publishes `n` windows at `rate`/s and returns publish -> scored latencies (ms). */
async function paced(
  s: Part1Setup,
  modelsDir: string,
  batch: number,
  make: (i: number) => WindowRecord,
  rate: number,
  n: number,
  tag: string,
): Promise<number[]> {
  const sent = new Map<string, number>();
  const lat: number[] = [];
  const bench = await startBenchScorer(s, modelsDir, `${tag}-d`, batch, (w) => {
    const t = sent.get(`${w.agentId}.${w.seq}`);
    if (t !== undefined) lat.push(now() - t);
  });
  try {
    const start = now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < n; ) {
      const due = Math.min(n, Math.floor(((now() - start) / 1000) * rate) + 1);
      for (; i < due; i++) {
        const w = make(i);
        sent.set(`${w.agentId}.${w.seq}`, now());
        pending.push(
          s.pub.publish(
            "window",
            windowsSubject(w.agentType, w.host),
            encodeMessage(w),
            `${tag}.${w.seq}`,
          ),
        );
      }
      await sleep(2);
    }
    await Promise.all(pending);
    await until(() => lat.length >= n, 15_000, 20);
  } finally {
    await bench.stop();
  }
  return lat;
}

export interface Part1 {
  trainSeconds: Record<string, number>;
  runs: Part1Run[];
}

export async function part1(root: string, windows: number): Promise<Part1> {
  log(`part 1: training both families on ${TRAIN_WINDOWS} realistic windows`);
  const rnd = prng(1);
  const capture = join(root, "capture");
  writeCapture(
    capture,
    Array.from({ length: TRAIN_WINDOWS }, (_, i) => ({
      ...realisticWindow(i, rnd, `a${i % 20}`),
      host: "web-1",
      agentType: AGENT,
    })),
  );
  const modelsDirs: Record<string, string> = {};
  const trainSeconds: Record<string, number> = {};
  for (const family of FAMILIES) {
    const dir = join(root, `models-${family}`);
    const t = await trainModel(
      {
        agentType: AGENT,
        dataDirs: [capture],
        out: join(dir, AGENT, "v1"),
        seed: 0,
        family,
        epochs: 20,
        backend: "wasm",
        nextSyscall: { epochs: 10 },
      },
      () => {},
    );
    trainSeconds[family] = t.trainSeconds;
    modelsDirs[family] = dir;
    log(`  ${family}: trained in ${t.trainSeconds.toFixed(1)} s`);
  }

  const store = join(root, "nats");
  const server = await EmbeddedNats.start({ storeDir: store });
  const s: Part1Setup = {
    server,
    pub: await NatsBus.open({ servers: [server.url] }, createBusMetrics(new Registry()), logger),
    sub: await NatsBus.open({ servers: [server.url] }, createBusMetrics(new Registry()), logger),
  };
  const runs: Part1Run[] = [];
  try {
    let tagN = 0;
    for (const family of FAMILIES) {
      for (const batch of BATCHES) {
        const modelsDir = modelsDirs[family] as string;
        const tag = () => `r${tagN++}`;
        const r = prng(100 + tagN);
        const make = (prefix: string) => (i: number) =>
          realisticWindow(i, r, `${prefix}-${i % 20}`);
        log(`part 1: ${family}, batch ${batch}`);

        // drain: a stream full of windows, consumed as fast as the scorer can
        await s.pub.manager.streams.purge(STREAMS.windows);
        await publishAll(
          s,
          Array.from({ length: windows }, (_, i) => make("d")(i)),
          tag(),
        );
        let scored = 0;
        const cpu0 = process.cpuUsage();
        const nats0 = procCpuMs(server.pid);
        const t0 = now();
        const drain = await startBenchScorer(s, modelsDir, tag(), batch, () => scored++);
        await until(() => scored >= windows, 120_000, 5);
        const drainMs = now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const natsMs = procCpuMs(server.pid) - nats0;

        // handle(): the same scorer, no bus, `batch` windows in flight
        const handled = Array.from({ length: windows }, (_, i) => make("h")(i));
        const hCpu0 = process.cpuUsage();
        const h0 = now();
        for (let i = 0; i < handled.length; i += batch) {
          await Promise.all(handled.slice(i, i + batch).map((w) => drain.scorer.handle(w)));
        }
        const handleMs = now() - h0;
        const hCpu = process.cpuUsage(hCpu0);
        const alerts = drain.alerts();
        await drain.stop();
        const drainRate = (scored * 1000) / drainMs;

        await s.pub.manager.streams.purge(STREAMS.windows);
        const light = await paced(
          s,
          modelsDir,
          batch,
          make("l"),
          LIGHT_RATE,
          LIGHT_RATE * PACED_SECONDS,
          tag(),
        );
        const loaded = await paced(
          s,
          modelsDir,
          batch,
          make("p"),
          LOADED_RATE,
          LOADED_RATE * PACED_SECONDS,
          tag(),
        );
        runs.push({
          family,
          batch,
          drain: {
            windows: scored,
            perSecond: drainRate,
            cpuMsPerWindow: (cpu.user + cpu.system) / 1000 / scored,
            natsCpuMsPerWindow: natsMs / scored,
          },
          handle: {
            windows: handled.length,
            perSecond: (handled.length * 1000) / handleMs,
            cpuMsPerWindow: (hCpu.user + hCpu.system) / 1000 / handled.length,
          },
          light: { rate: LIGHT_RATE, ...percentiles(light) },
          loaded: { rate: LOADED_RATE, ...percentiles(loaded) },
          alerts,
        });
      }
    }
  } finally {
    await s.pub.close();
    await s.sub.close();
    await server.stop();
    rmSync(store, { recursive: true, force: true });
  }
  return { trainSeconds, runs };
}
