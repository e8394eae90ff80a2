/**
 * `vigil train --agent-type T --data DIR [DIR...]`: trains and calibrates one agent type's model
 * from captures and writes models/<T>/<version>/. Progress per epoch on stderr, a summary at
 * the end on stdout.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ErrorCodes, VigilError } from "../errors.js";

const HELP = `usage: vigil train --agent-type T --data DIR [DIR...] [options]

Trains the model families on the captured windows of one agent type (an autoencoder over
each window's features and a next-syscall model over its n-gram counts), keeps the one that
best separates the latest 20 % of the windows from synthetic anomalies, calibrates its alarm
threshold on those same held-out windows, and writes model.onnx + manifest.json.

  --agent-type T     the agent type to train (windows of other types are ignored)
  --data DIR...      capture directories written by 'vigil capture' (one or more)
  --out DIR          default models/<T>/<version>, version = UTC time like 2026-11-25T1200Z
  --seed N           seed for weights and shuffling (default 0); same data + seed = same model
  --target-far R     false-alarm rate the threshold is calibrated to (default 0.001)
  --family F         auto (default: chosen by measurement), autoencoder or next-syscall
  --epochs N         autoencoder training epochs (default 60)
  --calibration-folds N
                     the threshold is set on every baseline window scored by a model that did
                     not learn it: the validation windows, and the fit windows in N-1 blocks,
                     each scored by the chosen model retrained without it (default 5; 1: the
                     validation windows alone, N times faster)
  --exclude-flagged-by MODEL_DIR
                     leave out windows that this earlier model of the type flags, so a model
                     never learns from what was alarmed on`;

/** 2026-11-25T12:00:00.000Z -> 2026-11-25T1200Z */
export function defaultVersion(now: Date): string {
  const iso = now.toISOString();
  return `${iso.slice(0, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}Z`;
}

function usage(message: string): VigilError {
  return new VigilError(ErrorCodes.USAGE, message, {
    hint: "run 'vigil train --help' for the options",
  });
}

function number(name: string, text: string, ok: (n: number) => boolean): number {
  const n = Number(text);
  if (text.trim() === "" || !ok(n)) throw usage(`--${name} "${text}" is not valid`);
  return n;
}

function bar(done: number, total: number, width = 30): string {
  const filled = Math.round((done / Math.max(1, total)) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}

export async function trainCommand(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    throw usage((e as Error).message.split("\n")[0] ?? "bad options");
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const agentType = values["agent-type"];
  if (agentType === undefined || agentType === "") throw usage("vigil train needs --agent-type");
  // `--data a b c`: parseArgs takes the first value; the rest arrive as positionals.
  const dataDirs = [...(values.data ?? []), ...positionals];
  if (dataDirs.length === 0) throw usage("vigil train needs --data DIR [DIR...]");
  const seed = number("seed", values.seed, (n) => Number.isSafeInteger(n) && n >= 0);
  const targetFar = number("target-far", values["target-far"], (n) => n >= 0 && n < 1);
  const epochs =
    values.epochs === undefined
      ? undefined
      : number("epochs", values.epochs, (n) => Number.isSafeInteger(n) && n >= 1);
  const folds = number(
    "calibration-folds",
    values["calibration-folds"],
    (n) => Number.isSafeInteger(n) && n >= 1,
  );
  const family = values.family;
  if (family !== "auto" && family !== "autoencoder" && family !== "next-syscall") {
    throw usage(`--family "${family}" is not auto, autoencoder or next-syscall`);
  }
  const version = defaultVersion(new Date());
  const out = values.out ?? join("models", agentType, version);

  const { trainModel } = await import("../../training/train.js");
  const err = (line: string) => process.stderr.write(`vigil train: ${line}\n`);
  const tty = process.stderr.isTTY === true;
  const result = await trainModel(
    {
      agentType,
      dataDirs,
      out,
      seed,
      targetFar,
      calibrationFolds: folds,
      family,
      ...(epochs === undefined ? {} : { epochs }),
      ...(values["exclude-flagged-by"] ? { excludeFlaggedBy: values["exclude-flagged-by"] } : {}),
      onEpoch: (epoch, total, loss) => {
        const line = `${bar(epoch, total)} epoch ${epoch}/${total} loss ${loss.toFixed(4)}`;
        if (tty) process.stderr.write(`\r${line}${epoch === total ? "\n" : ""}`);
        else err(line);
      },
    },
    err,
  );
  const m = result.manifest;
  const rows: [string, string][] = [
    ["model", result.dir],
    ["windows fit / validation", `${m.data.windows.fit} / ${m.data.windows.validation}`],
    [
      "family",
      `${m.family} (${m.selection.method === "measured" ? "chosen by measurement" : "--family"})`,
    ],
    ...Object.entries(m.selection.candidates).map(([name, c]): [string, string] => [
      `  ${name}`,
      `AUC ${c.auc.toFixed(3)} vs synthetic anomalies, false alarms at 90 % detection ${(c.farAtDr90 * 100).toFixed(1)} %`,
    ]),
    ["features", String(m.inputSize)],
    [
      "threshold",
      `${m.threshold.toPrecision(6)} (${m.calibration.method}, on ${m.calibration.windows ?? m.data.windows.validation} out-of-sample scores)`,
    ],
    ["target false-alarm rate", String(m.targetFalseAlarmRate)],
    ["validation score p50", m.scoreStats.validation.p50.toPrecision(6)],
    ["validation score p99", m.scoreStats.validation.p99.toPrecision(6)],
    ["training seconds", result.trainSeconds.toFixed(1)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n")}\n`);
  return 0;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      "agent-type": { type: "string" },
      data: { type: "string", multiple: true },
      out: { type: "string" },
      seed: { type: "string", default: "0" },
      "target-far": { type: "string", default: "0.001" },
      "calibration-folds": { type: "string", default: "5" },
      epochs: { type: "string" },
      family: { type: "string", default: "auto" },
      "exclude-flagged-by": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
}
