/**
 * Capture and replay against a real nats-server: what is captured comes back identical when
 * replayed, invalid windows are counted and left out, and a damaged capture is refused as a
 * whole with the file (and line) named.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { DeliverPolicy } from "@nats-io/jetstream";
import { Registry } from "prom-client";
import {
  type CaptureManifest,
  captureWindows,
  readCapture,
  replayCapture,
  writeCapture,
} from "../../src/bus/capture.js";
import { EmbeddedNats } from "../../src/bus/embedded-nats.js";
import { NatsBus, STREAMS } from "../../src/bus/nats-bus.js";
import {
  encodeMessage,
  WINDOW_SCHEMA,
  type WindowRecord,
  windowSchema,
  windowsFilter,
  windowsSubject,
} from "../../src/contracts/index.js";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { createBusMetrics } from "../../src/telemetry/metrics.js";

const logger = createSilentLogger();
const T0 = Date.parse("2024-05-01T12:00:00.000Z");

/** A window that satisfies windowSchema; i varies the instance, sequence and n-grams. */
function makeWindow(agentType: string, i: number, o: { host?: string; gapMs?: number } = {}) {
  const start = T0 + i * (o.gapMs ?? 5000);
  const w: WindowRecord = {
    schema: WINDOW_SCHEMA,
    host: o.host ?? `host-${i % 2}`,
    agentType,
    agentId: `agent-${i % 3}`,
    pid: 1000 + (i % 3),
    seq: i,
    start: new Date(start).toISOString(),
    end: new Date(start + (o.gapMs ?? 5000)).toISOString(),
    final: false,
    syscalls: {
      n: 3,
      total: 10 + i,
      ngrams: [
        ["openat", "read", "close", 4 + i],
        ["read", "write", i % 2 === 0 ? "close" : "fsync", 1],
      ],
    },
    execs: [
      {
        path: "/usr/bin/git",
        argv: ["git", "status"],
        pid: 2000 + i,
        ppid: 1000,
        uid: 1000,
        count: 1,
      },
    ],
    files: [{ path: "/work/main.py", class: "workspace", op: "read", count: i + 1 }],
    net: [
      {
        direction: "out",
        protocol: "tcp",
        family: "inet",
        address: "127.0.0.1",
        port: 443,
        connections: 1,
        bytesOut: 100 * i,
        bytesIn: 200,
        sends: 2,
        recvs: 3,
      },
    ],
    privilege: [],
    processes: { started: 1, exited: 0, live: 1 },
    drops: {},
    truncated: {},
  };
  return windowSchema.parse(w);
}

let nats: EmbeddedNats;
let bus: NatsBus;
const root = mkdtempSync(join(tmpdir(), "vigil-capture-"));
let dirs = 0;
const newDir = () => join(root, `capture-${++dirs}`);

before(async () => {
  nats = await EmbeddedNats.start({ storeDir: join(root, "nats") });
  bus = await NatsBus.open({ servers: [nats.url] }, createBusMetrics(new Registry()), logger);
});
after(async () => {
  await bus?.close();
  await nats?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** Runs a capture of `agentType` and publishes `payloads` once its consumer is ready. */
async function capture(
  agentType: string,
  payloads: { subject: string; data: Uint8Array }[],
  maxWindows: number,
  windowsPerFile?: number,
): Promise<{ dir: string; manifest: CaptureManifest }> {
  const dir = newDir();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  const running = captureWindows(
    bus,
    {
      agentType,
      out: dir,
      maxWindows,
      durationMs: 10_000,
      onReady: () => ready(),
      ...(windowsPerFile === undefined ? {} : { windowsPerFile }),
    },
    logger,
  );
  await isReady;
  for (const p of payloads) await bus.publish("window", p.subject, p.data);
  return { dir, manifest: await running };
}

const asPayload = (w: WindowRecord) => ({
  subject: windowsSubject(w.agentType, w.host),
  data: encodeMessage(w),
});

function assertRefused(e: unknown, pattern: RegExp): true {
  assert.ok(isVigilError(e, ErrorCodes.CAPTURE_INVALID), `expected CAPTURE_INVALID, got ${e}`);
  assert.match(e.message, pattern);
  return true;
}

describe("capture and replay (nats-server)", () => {
  test("capture - replay gives back identical records, in order", async () => {
    const agentType = "coding-agent";
    const windows = Array.from({ length: 40 }, (_, i) => makeWindow(agentType, i));
    // Another agent type on the same stream must not end up in the capture.
    const other = makeWindow("other-agent", 99);
    const payloads = windows.map(asPayload);
    payloads.splice(10, 0, asPayload(other));
    // 16 windows per file: three files, the last one partly filled.
    const { dir, manifest } = await capture(agentType, payloads, windows.length, 16);

    assert.equal(manifest.schema, "vigil.capture.v1");
    assert.equal(manifest.windowSchema, WINDOW_SCHEMA);
    assert.equal(manifest.agentType, agentType);
    assert.deepEqual(manifest.counts, { windows: 40, invalid: 0 });
    assert.deepEqual(manifest.hosts, ["host-0", "host-1"]);
    assert.deepEqual(manifest.timeRange, {
      start: windows[0]?.start,
      end: windows[39]?.end,
    });
    assert.deepEqual(
      manifest.files.map((f) => [f.name, f.windows]),
      [
        ["windows-0001.jsonl.gz", 16],
        ["windows-0002.jsonl.gz", 16],
        ["windows-0003.jsonl.gz", 8],
      ],
    );
    assert.deepEqual(readdirSync(dir).sort(), [
      "manifest.json",
      "windows-0001.jsonl.gz",
      "windows-0002.jsonl.gz",
      "windows-0003.jsonl.gz",
    ]);
    for (const f of manifest.files) {
      const bytes = readFileSync(join(dir, f.name));
      assert.equal(f.bytes, bytes.byteLength);
      assert.equal(f.sha256, createHash("sha256").update(bytes).digest("hex"));
    }
    const onDisk = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    assert.deepEqual(onDisk, manifest);

    const { records } = await readCapture(dir);
    assert.deepEqual(records, windows);

    // A fresh consumer from the current end of the stream sees exactly what replay publishes.
    const info = await bus.manager.streams.info(STREAMS.windows);
    const consumer = await bus.jetstream.consumers.get(STREAMS.windows, {
      filter_subjects: windowsFilter(agentType),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: info.state.last_seq + 1,
    });
    const result = await replayCapture(bus, dir, { speed: 0 }, logger);
    assert.equal(result.published, 40);
    const replayed: unknown[] = [];
    const messages = await consumer.fetch({ max_messages: 40, expires: 5000 });
    for await (const m of messages) replayed.push(m.json());
    assert.deepEqual(replayed, records);

    // A second replay of the same capture is not swallowed by the duplicate window.
    const again = await replayCapture(bus, dir, { speed: 0 }, logger);
    assert.equal(again.published, 40);
    const after2 = await bus.manager.streams.info(STREAMS.windows);
    assert.equal(after2.state.last_seq, info.state.last_seq + 80);
    await consumer.delete().catch(() => {});
  });

  test("capture - an invalid window is counted, not captured", async () => {
    const agentType = "invalid-agent";
    const windows = Array.from({ length: 5 }, (_, i) => makeWindow(agentType, i));
    const bad = { ...makeWindow(agentType, 5), syscalls: { n: 9, total: 1, ngrams: [] } };
    const payloads = windows.map(asPayload);
    payloads.splice(2, 0, {
      subject: windowsSubject(agentType, "host-0"),
      data: encodeMessage(bad),
    });
    payloads.splice(4, 0, {
      subject: windowsSubject(agentType, "host-0"),
      data: new TextEncoder().encode("{not json"),
    });
    const { dir, manifest } = await capture(agentType, payloads, windows.length);
    assert.deepEqual(manifest.counts, { windows: 5, invalid: 2 });
    assert.deepEqual((await readCapture(dir)).records, windows);
  });

  test("writeCapture - windows in hand become a capture that reads back verified and equal", async () => {
    const agentType = "harness-agent";
    const windows = Array.from({ length: 7 }, (_, i) =>
      makeWindow(agentType, i, { host: `h-${i % 2}` }),
    );
    const dir = newDir();
    const manifest = await writeCapture(dir, agentType, windows);
    assert.deepEqual(manifest.counts, { windows: 7, invalid: 0 });
    assert.deepEqual(manifest.hosts, ["h-0", "h-1"]);
    assert.equal(manifest.timeRange?.start, windows[0]?.start);
    assert.equal(manifest.timeRange?.end, windows[6]?.end);
    assert.deepEqual((await readCapture(dir)).records, windows);
    await assert.rejects(writeCapture(dir, agentType, windows), (e: unknown) =>
      isVigilError(e, ErrorCodes.USAGE),
    );
  });

  test("capture - refuses an out directory that is not empty", async () => {
    const dir = newDir();
    mkdirSync(dir);
    writeFileSync(join(dir, "notes.txt"), "someone else's file\n");
    await assert.rejects(
      captureWindows(bus, { agentType: "x", out: dir, maxWindows: 1 }, logger),
      (e: unknown) => isVigilError(e, ErrorCodes.USAGE) && e.hint !== undefined,
    );
  });

  test("readCapture - refuses a flipped byte, naming the file; nothing is replayed", async () => {
    const agentType = "corrupt-agent";
    const windows = Array.from({ length: 5 }, (_, i) => makeWindow(agentType, i));
    const { dir } = await capture(agentType, windows.map(asPayload), windows.length);
    const file = join(dir, "windows-0001.jsonl.gz");
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0xff;
    writeFileSync(file, bytes);
    await assert.rejects(readCapture(dir), (e) =>
      assertRefused(e, /^windows-0001\.jsonl\.gz: sha256 mismatch \(expected [0-9a-f]{64}, got/),
    );
    const before = (await bus.manager.streams.info(STREAMS.windows)).state.last_seq;
    await assert.rejects(replayCapture(bus, dir, { speed: 0 }, logger), (e) =>
      assertRefused(e, /sha256 mismatch/),
    );
    assert.equal((await bus.manager.streams.info(STREAMS.windows)).state.last_seq, before);
  });

  test("readCapture - refuses a schema-violating line with a valid hash, naming file:line", async () => {
    const agentType = "schema-agent";
    const windows = Array.from({ length: 3 }, (_, i) => makeWindow(agentType, i));
    const { dir } = await capture(agentType, windows.map(asPayload), windows.length);
    const bad = { ...windows[1], syscalls: { n: 9, total: 1, ngrams: [] } };
    const lines = [windows[0], bad, windows[2]].map((w) => JSON.stringify(w));
    const gz = gzipSync(`${lines.join("\n")}\n`);
    writeFileSync(join(dir, "windows-0001.jsonl.gz"), gz);
    const manifestPath = join(dir, "manifest.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as CaptureManifest;
    const [f] = manifest.files;
    assert.ok(f);
    f.sha256 = createHash("sha256").update(gz).digest("hex");
    f.bytes = gz.byteLength;
    writeFileSync(manifestPath, JSON.stringify(manifest));
    await assert.rejects(readCapture(dir), (e) =>
      assertRefused(e, /^windows-0001\.jsonl\.gz:2: syscalls\.n: /),
    );

    /** Replaces the file and makes the manifest's hash and size match it. */
    const replace = (content: Buffer) => {
      writeFileSync(join(dir, "windows-0001.jsonl.gz"), content);
      f.sha256 = createHash("sha256").update(content).digest("hex");
      f.bytes = content.byteLength;
      writeFileSync(manifestPath, JSON.stringify(manifest));
    };
    replace(gzipSync(`${lines[0]}\n${lines[2]}\n{oops\n`));
    await assert.rejects(readCapture(dir), (e) => assertRefused(e, /^windows-0001\.jsonl\.gz:3: /));
    replace(Buffer.from("not gzip at all\n"));
    await assert.rejects(readCapture(dir), (e) =>
      assertRefused(e, /^windows-0001\.jsonl\.gz: cannot decompress/),
    );
    replace(gzipSync(`${lines[0]}\n${lines[2]}\n`));
    await assert.rejects(readCapture(dir), (e) =>
      assertRefused(e, /^windows-0001\.jsonl\.gz: 2 windows, the manifest says 3/),
    );
  });

  test("readCapture - refuses a missing or invalid manifest", async () => {
    const dir = newDir();
    await assert.rejects(readCapture(dir), (e) => assertRefused(e, /manifest/));
    const agentType = "manifest-agent";
    const { dir: d2 } = await capture(agentType, [asPayload(makeWindow(agentType, 0))], 1);
    const manifestPath = join(d2, "manifest.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
    manifest.files[0].name = "../../etc/passwd";
    writeFileSync(manifestPath, JSON.stringify(manifest));
    await assert.rejects(readCapture(d2), (e) => assertRefused(e, /files\.0\.name/));
  });

  test("replay - paces by the gaps between windows divided by speed", async () => {
    const agentType = "paced-agent";
    const windows = Array.from({ length: 4 }, (_, i) =>
      makeWindow(agentType, i, { host: "h", gapMs: 1000 }),
    );
    const { dir } = await capture(agentType, windows.map(asPayload), windows.length);
    const t = performance.now();
    const r = await replayCapture(bus, dir, { speed: 10 }, logger);
    const elapsed = performance.now() - t;
    assert.equal(r.published, 4);
    const expected = (3 * 1000) / 10;
    assert.ok(elapsed >= 0.8 * expected, `replay took ${elapsed} ms, expected about ${expected}`);
  });

  test("replay - an abort stops between windows", async () => {
    const agentType = "aborted-agent";
    const windows = Array.from({ length: 4 }, (_, i) =>
      makeWindow(agentType, i, { host: "h", gapMs: 60_000 }),
    );
    const { dir } = await capture(agentType, windows.map(asPayload), windows.length);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 100);
    const r = await replayCapture(bus, dir, { speed: 1, signal: abort.signal }, logger);
    assert.deepEqual(
      { published: r.published, aborted: r.aborted },
      { published: 1, aborted: true },
    );
  });

  test("capture - ends at the duration with an empty, valid capture", async () => {
    const dir = newDir();
    const manifest = await captureWindows(
      bus,
      { agentType: "quiet-agent", out: dir, durationMs: 200 },
      logger,
    );
    assert.deepEqual(manifest.counts, { windows: 0, invalid: 0 });
    assert.equal(manifest.timeRange, null);
    assert.deepEqual(manifest.files, []);
    assert.deepEqual((await readCapture(dir)).records, []);
  });
});
