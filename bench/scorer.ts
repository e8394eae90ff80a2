/**
 * `npm run bench:scorer`: what the scorer does per core, how long an anomalous action takes to
 * become an Alertmanager alert with the live sensor, and how much memory `vigil run` holds.
 *
 * Part 1, scoring per core. Models of both families are trained here with `trainModel` on a
 * capture of realistic windows (~200 distinct syscall trigrams, execs, files, network). Windows
 * then go the scorer's real path: published on an embedded nats-server, consumed by
 * `Scorer.start` (parts built as src/scorer/service.ts builds them: ModelRegistry on the models
 * directory with ONNX Runtime on ONE thread, Sampler at rate 1, explain, AlertState). A window
 * counts as scored when the scorer hands it to the alert state (after ONNX and explanation).
 * For batch 1 and the default 64: the drain rate of a full stream, the CPU it costs, the same
 * through `Scorer.handle` without the bus, and publish -> scored latency at a light and at a
 * loaded rate.
 *
 * Part 2, detection latency with the live sensor. `vigil run` (embedded NATS, eBPF sensor,
 * scorer, Alertmanager outbox) runs as a child with 1 s windows. Benign agents of type
 * bench-agent (short-lived `vigil exec` instances of a shell loop over a temp workspace) run
 * until learning mode has trained and promoted a model. Then each trial starts a new instance
 * of that type that does the same benign work, connects to a loopback listener on a new port
 * with curl (or nc) and reads a fake ~/.ssh key in a throwaway HOME; the time from the
 * listener's accept to the alert (matched by agent_id) in Alertmanager's GET /api/v2/alerts,
 * polled every 20 ms, is the detection latency. Target: p99 <= window + 1 s.
 *
 * Part 3, memory: VmRSS of the `vigil run` process idle, after learning and after the trials,
 * its children (nats-server, vigil-bpf), and a `vigil scorer` process alone.
 *
 * It reports; it never asserts. Results: bench/results/scorer.json.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { machineInfo, writeResults } from "./lib/results.js";
import { type Part2, part2, WINDOW_SECONDS } from "./scorer-live.js";
import {
  BATCH_DELAY_MS,
  LIGHT_RATE,
  type Part1,
  part1,
  TRAIN_WINDOWS,
} from "./scorer-throughput.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const RESULTS = join(REPO, "bench", "results", "scorer.json");

// ---------- report ----------

const fmt = (v: number | undefined, d = 1) =>
  v === undefined || Number.isNaN(v)
    ? "-"
    : v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

function table(title: string, head: string[], rows: string[][]) {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i] ?? 0) : c.padStart(w[i] ?? 0))).join(" | ")} |`;
  process.stdout.write(
    `\n${title}\n${line(head)}\n|${w.map((n) => "-".repeat(n + 2)).join("|")}|\n`,
  );
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
}

function report(p1: Part1 | undefined, p2: Part2 | undefined) {
  if (p1) {
    table(
      "Part 1: scoring per core (ONNX Runtime 1 thread; node main thread; nats-server on loopback)",
      [
        "family, batch",
        "drain windows/s",
        "CPU ms/window (node | nats)",
        "handle() windows/s",
        `p50 / p99 ms at ${LIGHT_RATE}/s`,
        "p50 / p99 ms loaded (rate)",
        "alerts",
      ],
      p1.runs.map((r) => [
        `${r.family}, ${r.batch}`,
        fmt(r.drain.perSecond, 0),
        `${fmt(r.drain.cpuMsPerWindow, 3)} | ${fmt(r.drain.natsCpuMsPerWindow, 3)}`,
        fmt(r.handle.perSecond, 0),
        `${fmt(r.light.p50, 2)} / ${fmt(r.light.p99, 2)}`,
        `${fmt(r.loaded.p50, 2)} / ${fmt(r.loaded.p99, 2)} (${r.loaded.rate}/s)`,
        String(r.alerts),
      ]),
    );
  }
  if (p2) {
    const ok = p2.trials.filter((t) => t.outcome === "alerted").length;
    table(
      `Part 2: detection latency, live sensor, window ${p2.windowSeconds} s (action -> alert in Alertmanager)`,
      ["", "value"],
      [
        ["model (learned by vigil run)", `${p2.model?.family ?? "-"} ${p2.model?.version ?? ""}`],
        ["learning took", `${fmt(p2.learnSeconds, 0)} s`],
        ["anomalous action", p2.anomaly],
        ["trials alerted / run", `${ok} / ${p2.trials.length}`],
        [
          "latency p50 / p90 / p99 / max",
          `${fmt(p2.latency.p50, 0)} / ${fmt(p2.latency.p90, 0)} / ${fmt(p2.latency.p99, 0)} / ${fmt(p2.latency.max, 0)} ms`,
        ],
        [
          "  action -> end of its window, p50 / p99",
          `${fmt(p2.toWindowEnd.p50, 0)} / ${fmt(p2.toWindowEnd.p99, 0)} ms`,
        ],
        [
          "  window end -> in Alertmanager, p50 / p99",
          `${fmt(p2.afterWindowEnd.p50, 0)} / ${fmt(p2.afterWindowEnd.p99, 0)} ms`,
        ],
        [
          "trials alerted before the action",
          String(p2.trials.filter((t) => t.alertedBeforeAction).length),
        ],
        [
          "alerts fired during the trials: all / by trials",
          `${p2.falseAlarms.firesDuringTrials} / ${p2.falseAlarms.trialsAlerted} (${p2.falseAlarms.benignInstances} benign instances ran)`,
        ],
        [
          "target: p99 <= window + 1 s",
          `${p2.targetMs} ms: ${p2.latency.p99 <= p2.targetMs ? "met" : "NOT met"}`,
        ],
      ],
    );
    const kids = (m: Record<string, number>) =>
      Object.entries(m)
        .map(([k, v]) => `${k} ${fmt(v, 0)}`)
        .join(", ");
    table(
      "Part 3: RSS (VmRSS, MiB)",
      ["process", "MiB"],
      [
        ["vigil run (node: sensor + scorer), idle", fmt(p2.rss.idleMiB, 0)],
        ["vigil run, model loaded, 2 benign agents", fmt(p2.rss.afterLearningMiB, 0)],
        ["vigil run, after the trials", fmt(p2.rss.afterTrialsMiB, 0)],
        ["its children, idle", kids(p2.rss.childrenIdleMiB)],
        ["its children, after the trials", kids(p2.rss.childrenAfterMiB)],
        ["vigil scorer alone (one model, backlog drained)", fmt(p2.rss.scorerOnlyMiB, 0)],
      ],
    );
    for (const n of p2.notes) process.stdout.write(`note: ${n}\n`);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      windows: { type: "string", default: "3000" },
      trials: { type: "string", default: "18" },
      parts: { type: "string", default: "1,2" },
    },
  });
  const parts = new Set((values.parts ?? "").split(","));
  const root = mkdtempSync(join(tmpdir(), "vigil-bench-scorer-"));
  const cleanup = () => rmSync(root, { recursive: true, force: true, maxRetries: 2 });
  process.once("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  try {
    const p1 = parts.has("1") ? await part1(join(root, "p1"), Number(values.windows)) : undefined;
    const p2 = parts.has("2") ? await part2(join(root, "p2"), Number(values.trials)) : undefined;
    process.stdout.write(
      `\nbench:scorer (${machineInfo().cpu}, ${availableParallelism()} CPUs, node ${process.version})\n`,
    );
    report(p1, p2);
    writeResults(
      RESULTS,
      {
        bench: "scorer",
        date: new Date().toISOString(),
        machine: machineInfo(),
        params: {
          drainWindows: Number(values.windows),
          batchMaxDelayMs: BATCH_DELAY_MS,
          onnxThreads: 1,
          trainWindows: TRAIN_WINDOWS,
          windowSeconds: WINDOW_SECONDS,
          trials: Number(values.trials),
        },
        ...(p1 ? { scoring: p1 } : {}),
        ...(p2 ? { detection: p2 } : {}),
      },
      REPO,
    );
    process.stdout.write("(written to bench/results/scorer.json)\n");
    return 0;
  } finally {
    cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench:scorer failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
