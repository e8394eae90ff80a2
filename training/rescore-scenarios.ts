/**
 * Re-scores a kept scenario evaluation (`vigil eval scenarios --keep-data --out DIR`) without
 * running the agents again: trains each type's model anew from DIR/data/captures (with the
 * options given) or takes the kept one, then replays the scorer's decision on every held-out
 * window: anomalous when the score passes the threshold or the window carries risky novelty.
 * Prints, per type, the benign windows that would alert and, per attack, the first alerting
 * window. A development tool for changing training or alerting and seeing the effect in a
 * minute.
 *
 *   node --import tsx training/rescore-scenarios.ts DIR [--retrain] [--seed N]
 *     [--baseline OTHER_DIR]... [--min-std X] [--target-far X]
 *
 * --baseline (with --retrain, repeatable) trains on the baseline captures of the kept
 * evaluations named instead of DIR's own: with two or more, the effect of a bigger baseline,
 * measured on DIR's held-out sessions, which no model saw.
 */
import { createReadStream, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import type { WindowRecord } from "../src/contracts/index.js";
import { WindowModel } from "../src/model/window-model.js";
import { riskyNovelty } from "../src/scorer/explain.js";
import { RecentNovelty } from "../src/scorer/recent-novelty.js";
import { trainModel } from "./train.js";

interface HeldOut {
  sessionId: string;
  agentType: string;
  attack?: string;
  attackAt?: number;
  windows: WindowRecord[];
}

async function* sessions(file: string): AsyncGenerator<HeldOut> {
  const lines = createInterface({
    input: createReadStream(file),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of lines) if (line.trim()) yield JSON.parse(line) as HeldOut;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      retrain: { type: "boolean", default: false },
      seed: { type: "string", default: "0" },
      baseline: { type: "string", multiple: true },
      "min-std": { type: "string" },
      "target-far": { type: "string" },
    },
  });
  const data = join(positionals[0] ?? "eval-scenarios", "data");
  if (!existsSync(join(data, "heldout.jsonl"))) {
    throw new Error(`${data}/heldout.jsonl not found: run vigil eval scenarios --keep-data first`);
  }
  const byType = new Map<string, HeldOut[]>();
  for await (const s of sessions(join(data, "heldout.jsonl"))) {
    byType.set(s.agentType, [...(byType.get(s.agentType) ?? []), s]);
  }
  const scratch = mkdtempSync(join(tmpdir(), "vigil-rescore-"));
  try {
    for (const [type, list] of byType) {
      let dir = join(data, "models", type, "eval");
      if (values.retrain) {
        dir = join(scratch, type);
        await trainModel(
          {
            agentType: type,
            dataDirs: (values.baseline ?? [positionals[0] ?? "eval-scenarios"]).map((d) =>
              join(d, "data", "captures", type),
            ),
            out: dir,
            seed: Number(values.seed),
            minWindows: 50,
            ...(values["min-std"] === undefined ? {} : { minStd: Number(values["min-std"]) }),
            ...(values["target-far"] === undefined
              ? {}
              : { targetFar: Number(values["target-far"]) }),
          },
          () => {},
        );
      }
      const model = await WindowModel.open(dir);
      try {
        const m = model.manifest;
        let benign = 0;
        let maxBenign = 0;
        let overHalf = 0;
        const falseAlarms: string[] = [];
        console.log(`${type}: ${m.selection.chosen}, threshold ${m.threshold.toPrecision(4)}`);
        for (const s of list) {
          const windows = [...s.windows].sort((a, b) => a.seq - b.seq);
          const scores = await model.scores(windows);
          // As the scorer sees them, in order: each window with what its neighbour completes.
          const recent = new RecentNovelty();
          const novelties = windows.map((w) => recent.novelty(m.novelty, w));
          windows.forEach((w, i) => {
            const ratio = (scores[i] ?? 0) / m.threshold;
            const novel = novelties[i] ?? [];
            const risky = riskyNovelty(novel);
            const alerting = ratio > 1 || risky;
            const during = s.attackAt !== undefined && Date.parse(w.end) >= s.attackAt;
            if (!during) {
              benign++;
              maxBenign = Math.max(maxBenign, ratio);
              if (ratio > 0.5) overHalf++;
            }
            if (alerting && !during) {
              falseAlarms.push(
                `  FALSE ${s.sessionId} #${w.seq}: ratio ${ratio.toFixed(2)}${risky ? " risky" : ""} ${novel.map((n) => `${n.kind}=${n.value}`).join(", ")}`,
              );
            }
          });
          if (s.attack !== undefined) {
            const first = windows.findIndex(
              (w, i) =>
                Date.parse(w.end) >= (s.attackAt ?? 0) &&
                ((scores[i] ?? 0) > m.threshold || riskyNovelty(novelties[i] ?? [])),
            );
            const k = windows.filter(
              (w, i) => Date.parse(w.end) >= (s.attackAt ?? 0) && i <= first,
            ).length;
            const peak = Math.max(
              0,
              ...windows.map((w, i) =>
                Date.parse(w.end) >= (s.attackAt ?? 0) ? (scores[i] ?? 0) / m.threshold : 0,
              ),
            );
            console.log(
              `  ${s.attack.padEnd(18)} ${first < 0 ? "MISSED" : `window ${k}`} (peak ratio ${peak.toFixed(2)})`,
            );
          }
        }
        console.log(
          `  ${falseAlarms.length} false alarm windows of ${benign} benign (highest score ${maxBenign.toFixed(2)}× the threshold, ${overHalf} over 0.5×)`,
        );
        for (const f of falseAlarms) console.log(f);
      } finally {
        await model.close();
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error((e as Error).stack ?? e);
  process.exitCode = 1;
});
