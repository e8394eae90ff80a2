/**
 * Captures and replays of one agent type's windows: the training data set and the way to put
 * a recorded day back on the bus. A capture is a directory of gzip JSONL files (one window per
 * line, 50,000 per file) and a manifest.json written last, which names every file with its
 * window count, size and sha256. Reading verifies every file and every line before anything is
 * handed out, so a damaged capture is refused as a whole, naming the file and line.
 */
import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { release } from "node:os";
import { basename, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { createGunzip, createGzip } from "node:zlib";
import { type Consumer, DeliverPolicy } from "@nats-io/jetstream";
import { z } from "zod";
import {
  decodeMessage,
  describeIssues,
  encodeMessage,
  WINDOW_SCHEMA,
  type WindowRecord,
  windowsFilter,
  windowsSubject,
} from "../contracts/index.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";
import { type NatsBus, STREAMS } from "./nats-bus.js";

export const CAPTURE_SCHEMA = "vigil.capture.v1" as const;
export const MANIFEST_FILE = "manifest.json";
export const WINDOWS_PER_FILE = 50_000;

const FILE_NAME = /^windows-\d{4,}\.jsonl\.gz$/;
const count = z.number().int().nonnegative();

export const captureManifestSchema = z.object({
  schema: z.literal(CAPTURE_SCHEMA),
  id: z.string().min(1),
  agentType: z.string().min(1),
  windowSchema: z.literal(WINDOW_SCHEMA),
  /** Every host that contributed a window, sorted. */
  hosts: z.array(z.string()),
  /** os.release() of the host that ran the capture. */
  kernel: z.string(),
  createdAt: z.string().datetime(),
  /** Earliest window start and latest window end; null for a capture without windows. */
  timeRange: z.object({ start: z.string().datetime(), end: z.string().datetime() }).nullable(),
  counts: z.object({ windows: count, invalid: count }),
  files: z.array(
    z.object({
      name: z.string().regex(FILE_NAME),
      windows: count,
      bytes: count,
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ),
});

export type CaptureManifest = z.infer<typeof captureManifestSchema>;
export type CaptureFile = CaptureManifest["files"][number];

export interface CaptureProgress {
  windows: number;
  invalid: number;
}

export interface CaptureOptions {
  agentType: string;
  /** Must not exist or be an empty directory. */
  out: string;
  /** Stop after this long (from when the consumer is ready). */
  durationMs?: number;
  /** Stop after this many valid windows. */
  maxWindows?: number;
  /** Aborting ends the capture cleanly: the manifest is still written. */
  signal?: AbortSignal;
  /** Windows per file before the next file starts (default WINDOWS_PER_FILE). */
  windowsPerFile?: number;
  /** Default: the out directory's name. */
  id?: string;
  /** Called once the consumer exists: windows published from now on are captured. */
  onReady?: () => void;
  /** Called after every message. */
  onProgress?: (p: CaptureProgress) => void;
}

const invalid = (message: string, cause?: unknown) =>
  new VigilError(ErrorCodes.CAPTURE_INVALID, message, {
    hint: "take the capture again, or restore it from a copy; a capture is only used whole",
    ...(cause === undefined ? {} : { cause }),
  });

/** Gzip JSONL written under a temporary name and renamed once complete and synced. */
class JsonlGzWriter {
  windows = 0;
  private bytes = 0;
  private readonly hash = createHash("sha256");
  private readonly gzip = createGzip();
  private readonly done: Promise<void>;

  constructor(
    private readonly dir: string,
    readonly name: string,
  ) {
    const tap = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.hash.update(chunk);
        this.bytes += chunk.byteLength;
        cb(null, chunk);
      },
    });
    this.done = pipeline(this.gzip, tap, createWriteStream(this.partialPath));
    this.done.catch(() => {}); // surfaced by finish() or the next write
  }

  private get partialPath(): string {
    return join(this.dir, `${this.name}.partial`);
  }

  async write(line: string): Promise<void> {
    this.windows++;
    if (!this.gzip.write(`${line}\n`)) {
      await Promise.race([new Promise((r) => this.gzip.once("drain", r)), this.done]);
    }
  }

  async finish(): Promise<CaptureFile> {
    this.gzip.end();
    await this.done;
    const fh = await open(this.partialPath, "r");
    await fh.sync().finally(() => fh.close());
    await rename(this.partialPath, join(this.dir, this.name));
    return {
      name: this.name,
      windows: this.windows,
      bytes: this.bytes,
      sha256: this.hash.digest("hex"),
    };
  }

  async discard(): Promise<void> {
    this.gzip.destroy();
    await this.done.catch(() => {});
    await rm(this.partialPath, { force: true });
  }
}

async function prepareOutDir(out: string): Promise<void> {
  const s = await stat(out).catch(() => undefined);
  if (s && !s.isDirectory()) {
    throw new VigilError(ErrorCodes.USAGE, `--out ${out} is a file, not a directory`, {
      hint: "give a new directory, e.g. datasets/<agent-type>/<date>/",
    });
  }
  if (s && (await readdir(out)).length > 0) {
    throw new VigilError(ErrorCodes.USAGE, `--out ${out} is not empty`, {
      hint: "give a new or empty directory: a capture never overwrites or mixes with another",
    });
  }
  await mkdir(out, { recursive: true });
}

/**
 * Records NEW windows of `agentType` from every host until the duration, the window count or
 * the abort signal ends it, then writes the manifest. Invalid messages are counted, not kept.
 */
export async function captureWindows(
  bus: NatsBus,
  o: CaptureOptions,
  logger: Logger,
): Promise<CaptureManifest> {
  const out = resolve(o.out);
  await prepareOutDir(out);
  let consumer: Consumer;
  try {
    consumer = await bus.jetstream.consumers.get(STREAMS.windows, {
      // A string (not an array) keeps this working on servers before 2.10.
      filter_subjects: windowsFilter(o.agentType),
      deliver_policy: DeliverPolicy.New,
    });
  } catch (cause) {
    throw new VigilError(
      ErrorCodes.NATS_CONNECT,
      `cannot read the ${STREAMS.windows} stream: ${(cause as Error).message}`,
      {
        hint: "check that the NATS server has JetStream enabled and that 'vigil run' made the streams",
        cause,
      },
    );
  }
  const messages = await consumer.consume({ max_messages: 512 });
  const limit = o.maxWindows ?? Number.POSITIVE_INFINITY;
  const stop = () => messages.stop();
  if (o.signal?.aborted || limit <= 0) stop();
  o.signal?.addEventListener("abort", stop, { once: true });
  const timer =
    o.durationMs === undefined ? undefined : setTimeout(stop, Math.max(0, o.durationMs));
  o.onReady?.();
  logger.info("capture started", { agentType: o.agentType, out });

  const files: CaptureFile[] = [];
  const hosts = new Set<string>();
  const progress: CaptureProgress = { windows: 0, invalid: 0 };
  let start: number | undefined;
  let end: number | undefined;
  let writer: JsonlGzWriter | undefined;
  try {
    for await (const m of messages) {
      if (progress.windows >= limit) continue; // draining what was already fetched
      const decoded = decodeMessage("window", m.data, bus.maxMessageBytes);
      if (!decoded.ok) {
        progress.invalid++;
        logger.limited("warn", `capture:${decoded.reason}`, "invalid window not captured", {
          reason: decoded.reason,
          detail: decoded.detail,
          subject: m.subject,
        });
      } else {
        const w = decoded.value;
        if (writer === undefined) {
          const n = String(files.length + 1).padStart(4, "0");
          writer = new JsonlGzWriter(out, `windows-${n}.jsonl.gz`);
        }
        await writer.write(JSON.stringify(w));
        progress.windows++;
        hosts.add(w.host);
        start = Math.min(start ?? Number.POSITIVE_INFINITY, Date.parse(w.start));
        end = Math.max(end ?? Number.NEGATIVE_INFINITY, Date.parse(w.end));
        if (writer.windows >= (o.windowsPerFile ?? WINDOWS_PER_FILE)) {
          files.push(await writer.finish());
          writer = undefined;
        }
        if (progress.windows >= limit) stop();
      }
      o.onProgress?.({ ...progress });
    }
    if (writer !== undefined) files.push(await writer.finish());
  } catch (e) {
    stop();
    await writer?.discard();
    throw e;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener("abort", stop);
    await consumer.delete().catch(() => {});
  }

  const manifest: CaptureManifest = {
    schema: CAPTURE_SCHEMA,
    id: o.id ?? basename(out),
    agentType: o.agentType,
    windowSchema: WINDOW_SCHEMA,
    hosts: [...hosts].sort(),
    kernel: release(),
    createdAt: new Date().toISOString(),
    timeRange:
      start === undefined || end === undefined
        ? null
        : { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
    counts: { ...progress },
    files,
  };
  await writeManifest(out, manifest);
  logger.info("capture written", { out, ...progress, files: files.length });
  return manifest;
}

/** The manifest, written last and atomically: a capture without one is incomplete. */
async function writeManifest(out: string, manifest: CaptureManifest): Promise<void> {
  const tmp = join(out, `${MANIFEST_FILE}.partial`);
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(`${JSON.stringify(manifest, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(out, MANIFEST_FILE));
}

/**
 * Writes windows already in hand as a capture, in the format `vigil capture` writes (for a
 * harness that picks the windows of its own sessions off the bus, which a capture by agent type
 * cannot: other instances of the type on the host would be mixed in).
 */
export async function writeCapture(
  out: string,
  agentType: string,
  windows: readonly WindowRecord[],
): Promise<CaptureManifest> {
  const dir = resolve(out);
  await prepareOutDir(dir);
  const files: CaptureFile[] = [];
  let writer: JsonlGzWriter | undefined;
  for (const w of windows) {
    writer ??= new JsonlGzWriter(
      dir,
      `windows-${String(files.length + 1).padStart(4, "0")}.jsonl.gz`,
    );
    await writer.write(JSON.stringify(w));
    if (writer.windows >= WINDOWS_PER_FILE) {
      files.push(await writer.finish());
      writer = undefined;
    }
  }
  if (writer !== undefined) files.push(await writer.finish());
  const starts = windows.map((w) => Date.parse(w.start));
  const ends = windows.map((w) => Date.parse(w.end));
  const manifest: CaptureManifest = {
    schema: CAPTURE_SCHEMA,
    id: basename(dir),
    agentType,
    windowSchema: WINDOW_SCHEMA,
    hosts: [...new Set(windows.map((w) => w.host))].sort(),
    kernel: release(),
    createdAt: new Date().toISOString(),
    timeRange:
      windows.length === 0
        ? null
        : {
            start: new Date(Math.min(...starts)).toISOString(),
            end: new Date(Math.max(...ends)).toISOString(),
          },
    counts: { windows: windows.length, invalid: 0 },
    files,
  };
  await writeManifest(dir, manifest);
  return manifest;
}

async function readManifest(dir: string): Promise<CaptureManifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new VigilError(ErrorCodes.CAPTURE_INVALID, `${path}: cannot read the manifest`, {
      hint: "give the directory 'vigil capture --out' wrote; a capture without manifest.json is incomplete",
      cause,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw invalid(`${path}: not valid JSON: ${(cause as Error).message}`, cause);
  }
  const parsed = captureManifestSchema.safeParse(json);
  if (!parsed.success) {
    const detail = describeIssues(parsed.error);
    throw invalid(`${path}: ${detail}`);
  }
  const m = parsed.data;
  const names = new Set(m.files.map((f) => f.name));
  if (names.size !== m.files.length) throw invalid(`${path}: a file is listed twice`);
  const total = m.files.reduce((n, f) => n + f.windows, 0);
  if (total !== m.counts.windows) {
    throw invalid(`${path}: files hold ${total} windows but counts.windows is ${m.counts.windows}`);
  }
  return m;
}

/** The windows of one file, in order, each checked against the window schema. */
async function* fileRecords(dir: string, file: CaptureFile): AsyncGenerator<WindowRecord> {
  const gunzip = createGunzip();
  const raw = createReadStream(join(dir, file.name));
  raw.on("error", (e) => gunzip.destroy(e));
  const lines = createInterface({ input: raw.pipe(gunzip), crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      const decoded = decodeMessage("window", Buffer.from(line, "utf8"), Number.POSITIVE_INFINITY);
      if (!decoded.ok) throw invalid(`${file.name}:${n}: ${decoded.detail}`);
      yield decoded.value;
    }
  } catch (e) {
    if (e instanceof VigilError) throw e;
    throw invalid(`${file.name}: cannot decompress: ${(e as Error).message}`, e);
  }
  if (n !== file.windows) {
    throw invalid(`${file.name}: ${n} windows, the manifest says ${file.windows}`);
  }
}

async function sha256Of(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/** Checks the manifest, every file's size and sha256, and every line; returns the manifest. */
export async function verifyCapture(dir: string): Promise<CaptureManifest> {
  const manifest = await readManifest(dir);
  for (const f of manifest.files) {
    const got = await sha256Of(join(dir, f.name)).catch((cause: unknown) => {
      throw invalid(`${f.name}: cannot read: ${(cause as Error).message}`, cause);
    });
    if (got.sha256 !== f.sha256) {
      throw invalid(`${f.name}: sha256 mismatch (expected ${f.sha256}, got ${got.sha256})`);
    }
    if (got.bytes !== f.bytes) {
      throw invalid(`${f.name}: ${got.bytes} bytes, the manifest says ${f.bytes}`);
    }
  }
  for (const f of manifest.files) for await (const _ of fileRecords(dir, f));
  return manifest;
}

/**
 * The windows of a verified capture, in capture order. Call verifyCapture first; the lines
 * are checked again as they are read.
 */
export async function* captureRecords(
  dir: string,
  manifest: CaptureManifest,
): AsyncGenerator<WindowRecord> {
  for (const f of manifest.files) yield* fileRecords(dir, f);
}

/** Verifies a capture and loads all of its windows (for tests and small captures). */
export async function readCapture(
  dir: string,
): Promise<{ manifest: CaptureManifest; records: WindowRecord[] }> {
  const manifest = await verifyCapture(dir);
  const records: WindowRecord[] = [];
  for await (const r of captureRecords(dir, manifest)) records.push(r);
  return { manifest, records };
}

export interface ReplayOptions {
  /** 1 = real time (default), 10 = ten times faster, 0 = as fast as the bus acks. */
  speed?: number;
  signal?: AbortSignal;
  onProgress?: (published: number) => void;
}

const PUBLISH_ATTEMPTS = 3;

/**
 * Verifies the capture, then publishes its windows in order to their live subjects, pacing by
 * the gaps between successive windows' ends divided by `speed`. Message ids are unique to this
 * replay run, so the stream's duplicate window never swallows a replay, while a retried
 * publish inside the run is still stored once. An abort stops between windows.
 */
export async function replayCapture(
  bus: NatsBus,
  dir: string,
  o: ReplayOptions,
  logger: Logger,
): Promise<{ published: number; runId: string; aborted: boolean }> {
  const speed = o.speed ?? 1;
  if (!(speed >= 0) || !Number.isFinite(speed)) {
    throw new VigilError(ErrorCodes.USAGE, `--speed ${speed} is not a number >= 0`, {
      hint: "1 = real time, 10 = ten times faster, 0 = as fast as possible",
    });
  }
  const manifest = await verifyCapture(dir);
  const runId = randomUUID();
  logger.info("replay started", { dir, id: manifest.id, windows: manifest.counts.windows, runId });
  const t0 = performance.now();
  let firstEnd: number | undefined;
  let latestEnd = Number.NEGATIVE_INFINITY;
  let published = 0;
  for await (const r of captureRecords(dir, manifest)) {
    if (o.signal?.aborted) break;
    const e = Date.parse(r.end);
    firstEnd ??= e;
    latestEnd = Math.max(latestEnd, e);
    if (speed > 0) {
      // Waiting for an absolute offset from the start keeps publish time from adding drift.
      const wait = t0 + (latestEnd - firstEnd) / speed - performance.now();
      if (wait > 0) {
        try {
          await sleep(wait, undefined, o.signal ? { signal: o.signal } : {});
        } catch {
          break; // aborted
        }
      }
    }
    const msgId = `replay:${manifest.id}:${runId}:${published}`;
    const data = encodeMessage(r);
    const subject = windowsSubject(r.agentType, r.host);
    for (let attempt = 1; ; attempt++) {
      try {
        await bus.publish("window", subject, data, msgId);
        break;
      } catch (err) {
        if (err instanceof VigilError || attempt >= PUBLISH_ATTEMPTS) throw err;
        logger.warn("replay publish failed; retrying", { error: (err as Error).message, attempt });
        await sleep(250 * attempt);
      }
    }
    published++;
    o.onProgress?.(published);
  }
  const aborted = o.signal?.aborted === true;
  logger.info("replay finished", { published, aborted, runId });
  return { published, runId, aborted };
}
