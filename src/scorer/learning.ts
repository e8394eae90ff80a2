/**
 * Learning mode: an agent type with no model is learned from its own windows. Each window
 * offered is appended to <dataDir>/learning/<agentType>/ in capture format (gzip JSONL files
 * and a manifest.json, as `vigil capture` writes them), so what was accepted survives a
 * restart and `vigil train` reads it like any capture. Once a type has minWindows windows
 * spanning minDurationSeconds (by window times), it is trained once into
 * <modelsDir>/<agentType>/<version>, pinned in <modelsDir>/<agentType>/current, and the
 * registry picks it up. The data then moves to <dataDir>/learned/<agentType>/<version>/: it is
 * the model's provenance, and a restart does not learn the type again.
 *
 * File discipline: windows are appended to one open file as one gzip member each (a gzip file
 * may hold many members). When a training starts that file is sealed (listed in the manifest
 * with its sha256) and new windows go to the next file, which the manifest does not list, so
 * the trainer reads a stable capture while windows keep arriving. On start every file is
 * read again, a torn last line (a crash mid-append) is cut off, and every file is sealed.
 *
 * A failed training is logged, counted, and tried again only once the type has twice as many
 * windows as when it failed: more data is the one thing likely to change the outcome.
 */
import { createHash } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { release } from "node:os";
import { dirname, join } from "node:path";
import { constants, gunzipSync, gzipSync } from "node:zlib";
import {
  CAPTURE_SCHEMA,
  type CaptureFile,
  type CaptureManifest,
  MANIFEST_FILE,
} from "../bus/capture.js";
import { defaultVersion } from "../cli/train-command.js";
import {
  agentTypeDir,
  decodeMessage,
  isAgentType,
  versionDir,
  WINDOW_SCHEMA,
  type WindowRecord,
} from "../contracts/index.js";
import { MODEL_MANIFEST_FILE } from "../model/manifest.js";
import type { Logger } from "../telemetry/logger.js";
import type { ScorerMetrics } from "../telemetry/metrics.js";
import { CURRENT_FILE, describeModelError } from "./registry.js";
import { trainInChildProcess } from "./train-child.js";

/** One training: read the capture in `dataDir`, write the model directory `out`. */
export interface TrainJob {
  agentType: string;
  dataDir: string;
  out: string;
  seed: number;
  /** Aborted when learning mode stops; a trainer that can stop early should. */
  signal?: AbortSignal;
}

export type TrainFunction = (job: TrainJob) => Promise<void>;

/** Where one agent type is in learning, for /status. */
export type LearningStatus =
  | {
      state: "learning";
      windows: number;
      neededWindows: number;
      /** From the earliest window start to the latest window end. */
      seconds: number;
      neededSeconds: number;
      /** 0..1: the lesser of the window and the duration progress. */
      progress: number;
    }
  | { state: "training"; windows: number }
  | { state: "failed"; error: string; windows: number; retryAtWindows: number }
  | { state: "promoted"; version: string };

export interface LearningModeOptions {
  dataDir: string;
  modelsDir: string;
  minWindows: number;
  minDurationSeconds: number;
  logger: Logger;
  metrics: Pick<ScorerMetrics, "learned">;
  /** Default: `vigil train` in a child process (trainInChildProcess). */
  train?: TrainFunction;
  /** Seed for every training (default 0): the same data gives the same model. */
  seed?: number;
}

const FILE = /^windows-(\d{4,})\.jsonl\.gz$/;

interface TypeData {
  type: string;
  dir: string;
  /** Sealed files, in the manifest. */
  sealed: CaptureFile[];
  /** The file being appended to (not in the manifest), once it has windows. */
  open: { name: string; windows: number } | undefined;
  nextFile: number;
  windows: number;
  hosts: Set<string>;
  start: number;
  end: number;
  /** Appends and seals, one at a time. */
  chain: Promise<void>;
  training: boolean;
  failed: { error: string; retryAtWindows: number } | undefined;
  promoted: string | undefined;
}

export class LearningMode {
  private readonly types = new Map<string, TypeData>();
  private readonly trainings = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly train: TrainFunction;
  private stopped = false;

  constructor(private readonly o: LearningModeOptions) {
    this.train = o.train ?? trainInChildProcess({ logger: o.logger });
  }

  private get learningRoot(): string {
    return join(this.o.dataDir, "learning");
  }

  /** Picks up the windows accepted before a restart; trains the types that have enough. */
  async start(): Promise<void> {
    await mkdir(this.learningRoot, { recursive: true });
    for (const type of (await readdir(this.learningRoot)).sort()) {
      if (!isAgentType(type)) {
        this.o.logger.warn("learning: ignoring a directory that is not an agent type", {
          dir: join(this.learningRoot, type),
        });
        continue;
      }
      if (!(await stat(agentTypeDir(this.learningRoot, type))).isDirectory()) continue;
      const d = this.data(type);
      d.chain = d.chain.then(async () => {
        await this.recover(d);
        this.o.logger.info("learning data picked up", {
          agentType: type,
          windows: d.windows,
          files: d.sealed.length,
        });
        this.maybeTrain(d);
      });
      await d.chain;
    }
  }

  /** Stops trainings (a child process is killed) and waits for pending writes. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await Promise.allSettled([...this.types.values()].map((d) => d.chain));
    await Promise.allSettled([...this.trainings]);
  }

  /**
   * Keeps the window for its type's training; resolves once it is on disk. Never rejects:
   * a write that fails is logged and the window is not kept.
   */
  offer(w: WindowRecord): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const d = this.data(w.agentType);
    const next = d.chain.then(async () => {
      if (d.promoted !== undefined || this.stopped) return;
      await this.append(d, w);
      this.maybeTrain(d);
    });
    d.chain = next.catch((e: unknown) => {
      this.o.logger.limited("error", `learning:write:${d.type}`, "learning window not kept", {
        agentType: d.type,
        error: (e as Error).message,
      });
    });
    return d.chain;
  }

  /** Every type learning mode has seen, and where it is. */
  status(): Record<string, LearningStatus> {
    const out: Record<string, LearningStatus> = {};
    for (const [type, d] of this.types) {
      if (d.promoted !== undefined) {
        out[type] = { state: "promoted", version: d.promoted };
      } else if (d.training) {
        out[type] = { state: "training", windows: d.windows };
      } else if (d.failed) {
        out[type] = { state: "failed", windows: d.windows, ...d.failed };
      } else {
        const seconds = d.windows > 0 ? Math.max(0, (d.end - d.start) / 1000) : 0;
        const { minWindows, minDurationSeconds } = this.o;
        const progress = Math.min(
          1,
          minWindows > 0 ? d.windows / minWindows : 1,
          minDurationSeconds > 0 ? seconds / minDurationSeconds : 1,
        );
        out[type] = {
          state: "learning",
          windows: d.windows,
          neededWindows: minWindows,
          seconds,
          neededSeconds: minDurationSeconds,
          progress,
        };
      }
    }
    return out;
  }

  /** Resolves when no training is running (tests; a clean shutdown uses stop()). */
  async idle(): Promise<void> {
    while (this.trainings.size > 0) await Promise.allSettled([...this.trainings]);
  }

  private data(type: string): TypeData {
    let d = this.types.get(type);
    if (d === undefined) {
      const dir = agentTypeDir(this.learningRoot, type);
      d = {
        type,
        dir,
        sealed: [],
        open: undefined,
        nextFile: 1,
        windows: 0,
        hosts: new Set(),
        start: Number.POSITIVE_INFINITY,
        end: Number.NEGATIVE_INFINITY,
        chain: mkdir(dir, { recursive: true }).then(() => {}),
        training: false,
        failed: undefined,
        promoted: undefined,
      };
      this.types.set(type, d);
    }
    return d;
  }

  private count(d: TypeData, w: WindowRecord): void {
    d.windows++;
    d.hosts.add(w.host);
    d.start = Math.min(d.start, Date.parse(w.start));
    d.end = Math.max(d.end, Date.parse(w.end));
  }

  private async append(d: TypeData, w: WindowRecord): Promise<void> {
    if (d.open === undefined) {
      d.open = { name: fileName(d.nextFile++), windows: 0 };
    }
    await writeFile(join(d.dir, d.open.name), gzipSync(`${JSON.stringify(w)}\n`), { flag: "a" });
    d.open.windows++;
    this.count(d, w);
  }

  /** Lists the open file in the manifest; the next window starts a new file. */
  private async seal(d: TypeData): Promise<void> {
    if (d.open !== undefined && d.open.windows > 0) {
      const bytes = await readFile(join(d.dir, d.open.name));
      d.sealed.push({
        name: d.open.name,
        windows: d.open.windows,
        bytes: bytes.byteLength,
        sha256: createHash("sha256").update(bytes).digest("hex"),
      });
    }
    d.open = undefined;
    await this.writeManifest(d);
  }

  private async writeManifest(d: TypeData): Promise<void> {
    const sealedWindows = d.sealed.reduce((n, f) => n + f.windows, 0);
    const manifest: CaptureManifest = {
      schema: CAPTURE_SCHEMA,
      id: `learning-${d.type}`,
      agentType: d.type,
      windowSchema: WINDOW_SCHEMA,
      hosts: [...d.hosts].sort(),
      kernel: release(),
      createdAt: new Date().toISOString(),
      timeRange:
        d.windows === 0
          ? null
          : { start: new Date(d.start).toISOString(), end: new Date(d.end).toISOString() },
      counts: { windows: sealedWindows, invalid: 0 },
      files: d.sealed,
    };
    await writeAtomic(join(d.dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  }

  /** Reads every file of a type's data again, cuts torn tails, and seals them all. */
  private async recover(d: TypeData): Promise<void> {
    const names = (await readdir(d.dir)).sort();
    for (const name of names) {
      if (name.endsWith(".partial")) await rm(join(d.dir, name), { force: true });
    }
    for (const name of names) {
      const m = FILE.exec(name);
      if (m === null) continue;
      d.nextFile = Math.max(d.nextFile, Number(m[1]) + 1);
      const path = join(d.dir, name);
      const raw = await readFile(path);
      const { windows, clean } = decodeLenient(raw);
      for (const w of windows) this.count(d, w);
      if (!clean) {
        this.o.logger.warn("learning data: a torn or invalid tail was cut off", {
          agentType: d.type,
          file: name,
          kept: windows.length,
        });
      }
      if (windows.length === 0) {
        await rm(path, { force: true });
        continue;
      }
      const bytes = clean ? raw : gzipSync(windows.map((w) => `${JSON.stringify(w)}\n`).join(""));
      if (!clean) await writeAtomic(path, bytes);
      d.sealed.push({
        name,
        windows: windows.length,
        bytes: bytes.byteLength,
        sha256: createHash("sha256").update(bytes).digest("hex"),
      });
    }
    await this.writeManifest(d);
  }

  /** Starts a training when the type has enough data and none is running or just failed. */
  private maybeTrain(d: TypeData): void {
    if (this.stopped || d.training || d.promoted !== undefined) return;
    if (d.failed && d.windows < d.failed.retryAtWindows) return;
    const seconds = d.windows > 0 ? (d.end - d.start) / 1000 : 0;
    if (d.windows < this.o.minWindows || seconds < this.o.minDurationSeconds) return;
    d.training = true;
    const job = this.runTraining(d).finally(() => {
      d.training = false;
      this.trainings.delete(job);
    });
    this.trainings.add(job);
  }

  private async runTraining(d: TypeData): Promise<void> {
    const windows = d.windows;
    const log = this.o.logger;
    try {
      // Runs after the append that called maybeTrain, before any later one.
      const sealed = d.chain.then(() => this.seal(d));
      d.chain = sealed.catch(() => {}); // a failed seal fails this training, not later writes
      await sealed;
      const version = await this.newVersion(d.type);
      const out = versionDir(agentTypeDir(this.o.modelsDir, d.type), version);
      log.info("learning: training", { agentType: d.type, windows, version });
      await this.train({
        agentType: d.type,
        dataDir: d.dir,
        out,
        seed: this.o.seed ?? 0,
        signal: this.abort.signal,
      });
      const written = await stat(join(out, MODEL_MANIFEST_FILE)).catch(() => undefined);
      if (!written?.isFile()) {
        throw new Error(`the training finished but wrote no model to ${out}`);
      }
      // Move the data out of learning before pinning, so that a crash in between does not
      // train the type again (the registry uses the newest version without `current` too).
      const promote = d.chain.then(async () => {
        const learned = versionDir(agentTypeDir(join(this.o.dataDir, "learned"), d.type), version);
        await mkdir(dirname(learned), { recursive: true });
        await rename(d.dir, learned);
        d.promoted = version;
        const typeDir = agentTypeDir(this.o.modelsDir, d.type);
        await writeAtomic(join(typeDir, CURRENT_FILE), `${version}\n`);
      });
      d.chain = promote.catch(() => {});
      await promote;
      this.o.metrics.learned.inc({ agent_type: d.type, result: "promoted" });
      log.info("learning: model promoted", { agentType: d.type, version, windows });
    } catch (e) {
      if (this.stopped) return;
      const error = describeModelError(e);
      d.failed = { error, retryAtWindows: Math.max(windows * 2, this.o.minWindows) };
      this.o.metrics.learned.inc({ agent_type: d.type, result: "failed" });
      log.error("learning: training failed", {
        agentType: d.type,
        windows,
        error,
        retryAtWindows: d.failed.retryAtWindows,
      });
    }
  }

  /** The UTC-minute version, with -2, -3... if that directory exists already. */
  private async newVersion(type: string): Promise<string> {
    const base = defaultVersion(new Date());
    for (let i = 1; ; i++) {
      const v = i === 1 ? base : `${base}-${i}`;
      if (
        (await stat(join(agentTypeDir(this.o.modelsDir, type), v)).catch(() => undefined)) ===
        undefined
      ) {
        return v;
      }
    }
  }
}

function fileName(n: number): string {
  return `windows-${String(n).padStart(4, "0")}.jsonl.gz`;
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.partial-${process.pid}`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * The valid windows of a gzip JSONL file, up to the first damage: a member cut short by a
 * crash decompresses as far as it goes, and a partial or invalid line ends the file.
 */
function decodeLenient(raw: Buffer): { windows: WindowRecord[]; clean: boolean } {
  let text: string;
  let clean = true;
  try {
    text = gunzipSync(raw).toString("utf8");
  } catch {
    clean = false;
    try {
      text = gunzipSync(raw, { finishFlush: constants.Z_SYNC_FLUSH }).toString("utf8");
    } catch {
      return { windows: [], clean: false };
    }
  }
  const windows: WindowRecord[] = [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  else clean = false;
  for (const line of lines) {
    const decoded = decodeMessage("window", Buffer.from(line, "utf8"), Number.POSITIVE_INFINITY);
    if (!decoded.ok) {
      clean = false;
      break;
    }
    windows.push(decoded.value);
  }
  return { windows, clean };
}
