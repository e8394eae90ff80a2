/**
 * `vigil eval scenarios [--quick] [--json]`: agents and attacks under the live sensor and the
 * real pipeline (training/scenario-eval.ts); prints a summary or JSON and writes report.md,
 * timelines.svg and evaluation.json.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ErrorCodes, VigilError } from "../errors.js";
import { exitOnSignals } from "./signals.js";

const HELP = `usage: vigil eval scenarios [--quick] [--json] [--out DIR] [--seed N] [--keep-data]

Runs Vigil for real (vigil run: the eBPF sensor, NATS, the scorer, a local Alertmanager) and
realistic agents (coding, research, data) driven by a scripted chat-completions endpoint on
loopback, in a throwaway sandbox: captures each type's baseline, trains, then runs held-out
benign sessions and sessions with an attack injected at a random point. Reports, per attack,
whether and how fast it was detected and, per agent type, false alarms. Needs root.

  --quick       a few minutes: short sessions, each attack once (the test suite runs this)
                (default: the full run, about an hour: 30 minutes of benign sessions per type,
                every attack on every type)
  --out DIR     where report.md, timelines.svg and evaluation.json go (default ./eval-scenarios)
  --json        print the evaluation's summary as JSON
  --seed N      seed of the sessions, attacks and models (default 0)
  --keep-data   also keep the data in DIR/data: each type's baseline capture and model, and
                heldout.jsonl (every held-out session: its windows, alerts and attack start)`;

export async function evalScenariosCommand(argv: string[]): Promise<number> {
  let values: {
    quick: boolean;
    json: boolean;
    out: string;
    seed: string;
    "keep-data": boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        out: { type: "string", default: "eval-scenarios" },
        seed: { type: "string", default: "0" },
        "keep-data": { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    throw new VigilError(ErrorCodes.USAGE, (e as Error).message.split("\n")[0] ?? "bad options", {
      hint: "run 'vigil eval scenarios --help' for the options",
    });
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new VigilError(ErrorCodes.USAGE, `--seed "${values.seed}" is not an integer >= 0`, {
      hint: "--seed 0",
    });
  }
  const { evaluateScenarios, FULL, QUICK } = await import("../../training/scenario-eval.js");
  const { writeScenarioReport } = await import("../../training/scenario-report.js");
  const log = (line: string) => process.stderr.write(`vigil eval: ${line}\n`);
  const scratch = mkdtempSync(join(tmpdir(), "vigil-eval-scenarios-"));
  const removeScratch = () => rmSync(scratch, { recursive: true, force: true });
  process.once("exit", removeScratch);
  exitOnSignals("eval scenarios");
  try {
    const e = await evaluateScenarios({
      ...(values.quick ? QUICK : FULL),
      dir: scratch,
      seed,
      log,
    });
    const out = resolve(values.out);
    writeScenarioReport(out, e, { quick: values.quick });
    if (values["keep-data"]) {
      const data = join(out, "data");
      rmSync(data, { recursive: true, force: true });
      const parts = [["captures"], ["heldout.jsonl"], ["pipeline", "models"]];
      for (const part of parts) {
        cpSync(join(scratch, ...part), join(data, part.at(-1) as string), { recursive: true });
      }
      log(`data kept in ${data} (captures/, models/, heldout.jsonl)`);
    }
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify({ totals: e.totals, types: e.types, attacks: e.attacks })}\n`,
      );
    } else {
      const t = e.totals;
      const lines = [
        `attacks detected: ${t.detected} of ${t.attacks} (within 2 windows: ${t.detectedWithin2Windows})`,
        ...e.attacks.map(
          (a) =>
            `  ${a.agentType.padEnd(15)} ${a.attack.padEnd(18)} ${a.detected ? `detected after ${a.windowsToDetection} windows, ${a.secondsToDetection?.toFixed(1)} s: ${a.summary}` : "MISSED"}`,
        ),
        ...Object.entries(e.types).map(
          ([type, s]) =>
            `${type}: ${s.benign.alerts} false alarms in ${(s.benign.hours * 60).toFixed(1)} min of benign sessions, window FPR ${(s.benign.windowFpr * 100).toFixed(2)} %, AUC ${s.auc.toFixed(3)}`,
        ),
        `report: ${out}/report.md, ${out}/timelines.svg`,
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
    }
    return 0;
  } finally {
    process.off("exit", removeScratch);
    removeScratch();
  }
}
