/**
 * ADFA-LD loader: every trace as syscall *names* (the files hold i386 numbers), in a
 * deterministic order (sorted file names), optionally a deterministic subset for quick runs.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ErrorCodes, VigilError } from "../src/errors.js";
import { prng } from "./random.js";

export interface AdfaLdData {
  /** Normal traces: the only data a model may learn from. */
  train: string[][];
  /** Normal traces held out: the negatives. */
  validation: string[][];
  /** Attack traces: the positives; family is the folder name without its run number. */
  attack: { family: string; trace: string[] }[];
}

export interface AdfaLdLimit {
  train?: number;
  validation?: number;
  attack?: number;
}

export interface AdfaLdOptions {
  /** At most this many traces per split, picked by a seeded shuffle (then sorted again). */
  limit?: AdfaLdLimit;
  /** Seed of the subset; default 0. The full data does not depend on it. */
  seed?: number;
}

const LAYOUT_HINT =
  "point --path at an ADFA-LD folder holding syscalls-i386.tsv, Training_Data_Master/*.txt, " +
  "Validation_Data_Master/*.txt and Attack_Data_Master/<Family>_<k>/*.txt";

export function loadAdfaLd(dir: string, options: AdfaLdOptions = {}): AdfaLdData {
  const names = readSyscallTable(join(dir, "syscalls-i386.tsv"));
  const seed = options.seed ?? 0;
  const read = (file: string) => parseTrace(file, names);

  const trainFiles = subset(listTxt(join(dir, "Training_Data_Master")), options.limit?.train, seed);
  const validationFiles = subset(
    listTxt(join(dir, "Validation_Data_Master")),
    options.limit?.validation,
    seed + 1,
  );
  const attackRoot = join(dir, "Attack_Data_Master");
  const attackFiles: { family: string; file: string }[] = [];
  for (const run of listDir(attackRoot)) {
    const runDir = join(attackRoot, run);
    if (!statSync(runDir).isDirectory()) continue;
    const family = run.replace(/_\d+$/, "");
    for (const file of listTxt(runDir)) attackFiles.push({ family, file });
  }
  if (attackFiles.length === 0) {
    throw new VigilError(ErrorCodes.USAGE, `no attack traces under ${attackRoot}`, {
      hint: LAYOUT_HINT,
    });
  }
  return {
    train: trainFiles.map(read),
    validation: validationFiles.map(read),
    attack: subset(attackFiles, options.limit?.attack, seed + 2).map((a) => ({
      family: a.family,
      trace: read(a.file),
    })),
  };
}

/** number -> name; a number missing from the table becomes `sys_<n>`. */
function readSyscallTable(file: string): Map<string, string> {
  const table = new Map<string, string>();
  for (const line of readText(file).split("\n").slice(1)) {
    const [nr, name] = line.trim().split("\t");
    if (nr && name) table.set(nr, name);
  }
  return table;
}

function parseTrace(file: string, names: Map<string, string>): string[] {
  const text = readText(file).trim();
  if (text === "") return [];
  return text.split(/\s+/).map((nr) => names.get(nr) ?? `sys_${nr}`);
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new VigilError(ErrorCodes.USAGE, `cannot read ${file}`, { hint: LAYOUT_HINT, cause: e });
  }
}

function listDir(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new VigilError(ErrorCodes.USAGE, `ADFA-LD folder ${dir} does not exist`, {
      hint: LAYOUT_HINT,
    });
  }
  return readdirSync(dir).sort();
}

function listTxt(dir: string): string[] {
  const files = listDir(dir)
    .filter((f) => f.endsWith(".txt"))
    .map((f) => join(dir, f));
  if (files.length === 0) {
    throw new VigilError(ErrorCodes.USAGE, `no .txt traces in ${dir}`, { hint: LAYOUT_HINT });
  }
  return files;
}

/** A seeded shuffle's first `limit` items, back in their original (sorted) order. */
function subset<T>(items: T[], limit: number | undefined, seed: number): T[] {
  if (limit === undefined || limit >= items.length) return items;
  const rand = prng(seed);
  const idx = items.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
  }
  return idx
    .slice(0, Math.max(0, limit))
    .sort((a, b) => a - b)
    .map((i) => items[i] as T);
}
