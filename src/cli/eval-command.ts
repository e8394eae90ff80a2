/**
 * `vigil eval adfa-ld --path DIR`: the ADFA-LD protocol (fit on normal training traces, score
 * validation and attack traces) for each chosen model family; prints a table or JSON and
 * writes report.md + roc.svg.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { type AdfaLdLimit, loadAdfaLd } from "../../training/adfa-ld.js";
import { evaluateAdfaLd } from "../../training/evaluate.js";
import type { TraceFamily } from "../../training/families/family.js";
import { createKnnFamily } from "../../training/families/knn.js";
import { createNgramLmFamily } from "../../training/families/ngram-lm.js";
import { writeReport } from "../../training/report.js";
import { ErrorCodes, VigilError } from "../errors.js";

/**
 * Every family `eval` can run. The neural families are imported lazily so that other commands
 * (and count-only evaluations) never load tfjs or onnxruntime.
 */
const FAMILIES: Record<string, () => Promise<TraceFamily>> = {
  "ngram-lm": async () => createNgramLmFamily(),
  knn: async () => createKnnFamily(),
  "next-syscall": async () =>
    (await import("../../training/families/next-syscall.js")).createNextSyscallFamily(),
  autoencoder: async () =>
    (await import("../../training/families/autoencoder.js")).createAutoencoderFamily(),
  ensemble: async () =>
    (await import("../../training/families/ensemble.js")).createEnsembleFamily(),
};

const HELP = `usage: vigil eval adfa-ld --path DIR [options]
       vigil eval scenarios [--quick] [--json]   (see vigil eval scenarios --help)
       vigil eval atomics --atomics DIR [--agent NAME] [--technique T] [--quick]
                                                 (see vigil eval atomics --help)

Fits each model family on ADFA-LD's normal training traces only, scores the validation
(normal) and attack traces, and reports ROC AUC and the false-alarm rate at 90 % detection.

  --path DIR        the ADFA-LD folder (Training_Data_Master, Validation_Data_Master,
                    Attack_Data_Master, syscalls-i386.tsv)
  --families LIST   comma-separated, default all: ${Object.keys(FAMILIES).join(",")}
  --out DIR         where report.md and roc.svg go (default ./eval-report)
  --json            print {"families": {name: {auc, far_at_dr90}}, "best": name} only
  --seed N          seed for fitting and for --limit subsets (default 0)
  --limit N | T,V,A at most N traces per split, or T training, V validation, A attack traces
                    (a seeded subset, for quick runs; not comparable with published numbers)`;

export async function evalCommand(argv: string[]): Promise<number> {
  if (argv[0] === "atomics") {
    const { evalAtomicsCommand } = await import("./eval-atomics-command.js");
    return evalAtomicsCommand(argv.slice(1));
  }
  if (argv[0] === "scenarios") {
    const { evalScenariosCommand } = await import("./eval-scenarios-command.js");
    return evalScenariosCommand(argv.slice(1));
  }
  const { values, positionals } = (() => {
    try {
      return parseArgs({
        args: argv,
        options: {
          path: { type: "string" },
          families: { type: "string" },
          out: { type: "string", default: "eval-report" },
          json: { type: "boolean", default: false },
          seed: { type: "string", default: "0" },
          limit: { type: "string" },
          help: { type: "boolean", short: "h" },
        },
        allowPositionals: true,
        strict: true,
      });
    } catch (e) {
      throw new VigilError(ErrorCodes.USAGE, (e as Error).message.split("\n")[0] ?? "bad options", {
        hint: "run 'vigil eval --help' for the options",
      });
    }
  })();
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const [dataset, ...extra] = positionals;
  if (dataset !== "adfa-ld" || extra.length > 0) {
    throw new VigilError(
      ErrorCodes.USAGE,
      `vigil eval needs one dataset name: adfa-ld or scenarios`,
      {
        hint: "vigil eval adfa-ld --path /data/ADFA-LD, or vigil eval scenarios --quick",
      },
    );
  }
  if (values.path === undefined) {
    throw new VigilError(ErrorCodes.USAGE, "vigil eval adfa-ld needs --path", {
      hint: "vigil eval adfa-ld --path /data/ADFA-LD",
    });
  }
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new VigilError(ErrorCodes.USAGE, `--seed "${values.seed}" is not an integer >= 0`, {
      hint: "--seed 0",
    });
  }
  const names = (values.families ?? Object.keys(FAMILIES).join(","))
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const unknown = names.filter((n) => !Object.hasOwn(FAMILIES, n));
  if (names.length === 0 || unknown.length > 0) {
    throw new VigilError(
      ErrorCodes.USAGE,
      `unknown model families: ${unknown.join(", ") || "(none given)"}`,
      {
        hint: `choose from ${Object.keys(FAMILIES).join(", ")}`,
      },
    );
  }
  const limit = values.limit === undefined ? undefined : parseLimit(values.limit);

  const log = (line: string) => process.stderr.write(`vigil eval: ${line}\n`);
  const data = loadAdfaLd(values.path, limit === undefined ? { seed } : { limit, seed });
  log(
    `${data.train.length} training, ${data.validation.length} validation, ${data.attack.length} attack traces`,
  );
  const families: TraceFamily[] = [];
  for (const name of new Set(names))
    families.push(await (FAMILIES[name] as () => Promise<TraceFamily>)());
  const evaluation = await evaluateAdfaLd(families, data, { seed, log });
  const outDir = resolve(values.out);
  writeReport(outDir, evaluation, {
    dataset: values.path,
    seed,
    ...(limit === undefined ? {} : { limit }),
  });

  if (values.json) {
    const summary = Object.fromEntries(
      Object.entries(evaluation.families).map(([n, r]) => [
        n,
        { auc: r.auc, far_at_dr90: r.far_at_dr90 },
      ]),
    );
    process.stdout.write(`${JSON.stringify({ families: summary, best: evaluation.best })}\n`);
  } else {
    const rows = Object.entries(evaluation.families).map(([n, r]) =>
      [
        n.padEnd(14),
        r.auc.toFixed(3).padStart(6),
        `${(100 * r.far_at_dr90).toFixed(1)} %`.padStart(14),
        `${(r.fitSeconds + r.scoreSeconds).toFixed(1)} s`.padStart(10),
        n === evaluation.best ? "  best" : "",
      ].join(""),
    );
    process.stdout.write(
      `${"family".padEnd(14)}${"AUC".padStart(6)}${"FAR@90% det.".padStart(14)}${"time".padStart(10)}\n` +
        `${rows.join("\n")}\n` +
        `published: STIDE AUC ~0.83 / ~23 %; LSTM ensemble AUC 0.928 / 16 % (all six attack families)\n` +
        `report: ${outDir}/report.md, ${outDir}/roc.svg\n`,
    );
  }
  return 0;
}

function parseLimit(text: string): AdfaLdLimit {
  const parts = text.split(",").map((s) => Number(s.trim()));
  const ok =
    (parts.length === 1 || parts.length === 3) &&
    parts.every((n) => Number.isSafeInteger(n) && n > 0);
  if (!ok) {
    throw new VigilError(
      ErrorCodes.USAGE,
      `--limit "${text}" is not N or T,V,A (positive integers)`,
      {
        hint: "--limit 500, or --limit 200,600,120 for training, validation, attack",
      },
    );
  }
  const [t, v, a] = parts.length === 1 ? [parts[0], parts[0], parts[0]] : parts;
  return { train: t as number, validation: v as number, attack: a as number };
}
