import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import {
  AUTO_INSTANCE_BIT,
  EventFlags,
  FrameReader,
  FrameType,
  formatAddr,
  isAutoInstance,
  MAX_FRAME_LEN,
  WIRE_LAYOUT,
  type WireItem,
} from "../../src/sensor/wire.js";
import {
  drainEndFrame,
  encodeEvent,
  encodeFrame,
  eventFrame,
  flowsFrame,
  jsonFrame,
  makeChdir,
  makeExec,
  makeExit,
  makeFork,
  makeNet,
  makeOpen,
  makePriv,
  makeStats,
  ngramsFrame,
  statsFrame,
} from "../helpers/wire-builders.js";

const EXEC = WIRE_LAYOUT.vigil_exec_event.fields;
const NET = WIRE_LAYOUT.vigil_net_event.fields;

function decodeAll(chunks: Buffer[], ngramN = 3): WireItem[] {
  const reader = new FrameReader({ ngramN });
  const items = chunks.flatMap((c) => reader.push(c));
  reader.end();
  return items;
}

function decodeOne(frame: Buffer, ngramN = 3): WireItem {
  const items = decodeAll([frame], ngramN);
  assert.equal(items.length, 1);
  return items[0] as WireItem;
}

function assertWireError(fn: () => unknown, offset: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isVigilError(e, ErrorCodes.WIRE_DECODE), String(e));
    assert.match(e.message, new RegExp(`offset ${offset}\\b`));
    return true;
  });
}

const EVENTS = [
  makeExec({
    ts: 2 ** 53 - 1,
    instance: AUTO_INSTANCE_BIT + 7,
    flags: EventFlags.TRACKED | EventFlags.AUTO_MATCHED,
    cgroupId: 0xffff_ffff_ffff_fff0n,
    match: 3,
    comm: "claude",
    filename: "/usr/bin/node",
    argv: ["node", "--flag", "", "résumé.js"],
  }),
  makeExit({ exitCode: -1 }),
  makeFork({ childPid: 99 }),
  makeOpen({ dfd: 5, openFlags: 0o2101, mode: 0o644, syscallNr: 2, path: "rel/ätive" }),
  makeNet({ op: "accept", family: "inet6", addr: "2001:db8::1", port: 8080, protocol: "udp" }),
  makePriv({ syscallNr: 105, args: [0n, 2n ** 64n - 1n, 42n] }),
  makeChdir({ fd: 7, path: "" }),
];

const AGGREGATES: WireItem[] = [
  {
    kind: "ngrams",
    seq: 12,
    records: [
      { instance: 1, sys: [0, 0, 1], count: 2 ** 40 },
      { instance: 2, sys: [59, 0, 0], count: 1 },
    ],
  },
  {
    kind: "flows",
    seq: 13,
    records: [
      {
        instance: 1,
        family: "inet",
        port: 53,
        protocol: "udp",
        addr: "10.0.0.1",
        bytesOut: 1,
        bytesIn: 2,
        sends: 3,
        recvs: 4,
      },
      {
        instance: 1,
        family: "inet6",
        port: 0,
        protocol: 0,
        addr: "",
        bytesOut: 0,
        bytesIn: 2 ** 52,
        sends: 0,
        recvs: 1,
      },
    ],
  },
  makeStats({
    drops: {
      ngram_map_full: 1,
      flow_map_full: 2,
      ringbuf_full: 3,
      string_unreadable: 4,
      task_storage: 5,
    },
    events: 100,
    nrTracked: -1,
    hooksAttached: false,
  }),
  { kind: "json", value: { type: "hello", version: 1, features: ["ringbuf"] } },
  { kind: "drain-end", seq: 13, tsNs: 123_456_789 },
];

function encodeAggregate(item: WireItem): Buffer {
  switch (item.kind) {
    case "ngrams":
      return ngramsFrame(item);
    case "flows":
      return flowsFrame(item);
    case "stats":
      return statsFrame(item);
    case "json":
      return jsonFrame(item.value);
    case "drain-end":
      return drainEndFrame(item);
    default:
      throw new Error(`not an aggregate: ${item.kind}`);
  }
}

const ALL: WireItem[] = [...EVENTS, ...AGGREGATES];
const STREAM = Buffer.concat([...EVENTS.map(eventFrame), ...AGGREGATES.map(encodeAggregate)]);

describe("wire", () => {
  it("wire - round-trips every event and frame kind", () => {
    assert.deepEqual(decodeAll([STREAM]), ALL);
  });

  it("wire - decodes a stream split at every byte position", () => {
    // A small stream keeps this O(n^2) check quick while crossing every header and field edge.
    const small = Buffer.concat([
      eventFrame(makeFork()),
      eventFrame(makeExit({ exitCode: 256 })),
      drainEndFrame({ seq: 1, tsNs: 2 }),
    ]);
    const expected = decodeAll([small]);
    for (let i = 0; i <= small.length; i++) {
      assert.deepEqual(decodeAll([small.subarray(0, i), small.subarray(i)]), expected, `at ${i}`);
    }
  });

  it("wire - decodes the full stream fed one byte at a time and in odd-sized chunks", () => {
    const bytes = Array.from(STREAM, (_, i) => STREAM.subarray(i, i + 1));
    assert.deepEqual(decodeAll(bytes), ALL);
    for (const size of [3, 7, 100, 577, 4096]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < STREAM.length; i += size) chunks.push(STREAM.subarray(i, i + size));
      assert.deepEqual(decodeAll(chunks), ALL, `chunk size ${size}`);
    }
  });

  it("wire - keeps kernel-allocated instances unsigned", () => {
    const item = decodeOne(eventFrame(makeFork({ instance: AUTO_INSTANCE_BIT + 7 })));
    assert.equal(item.kind === "fork" && item.instance, 2 ** 31 + 7);
    assert.equal(isAutoInstance(2 ** 31 + 7), true);
    assert.equal(isAutoInstance(7), false);
  });

  it("wire - decodes many frames in one chunk", () => {
    const frames = Array.from({ length: 2000 }, (_, i) => eventFrame(makeFork({ childPid: i })));
    const items = decodeAll([Buffer.concat(frames)]);
    assert.equal(items.length, 2000);
    assert.deepEqual(
      items.map((it) => (it.kind === "fork" ? it.childPid : -1)),
      frames.map((_, i) => i),
    );
  });

  it("wire - tracks the stream offset and pending bytes", () => {
    const reader = new FrameReader({ ngramN: 2 });
    const frame = eventFrame(makeFork());
    reader.push(Buffer.concat([frame, frame.subarray(0, 5)]));
    assert.equal(reader.offset, frame.length);
    assert.equal(reader.pendingBytes, 5);
    assertWireError(() => reader.end(), frame.length);
  });

  it("wire - an unknown event type yields invalid and decoding continues", () => {
    const bad = encodeEvent(makeFork());
    bad.writeUInt16LE(99, WIRE_LAYOUT.vigil_event_header.fields.type);
    const before = eventFrame(makeExit());
    const items = decodeAll([Buffer.concat([before, encodeFrame(1, bad), eventFrame(makeFork())])]);
    assert.deepEqual(
      items.map((i) => i.kind),
      ["exit", "invalid", "fork"],
    );
    assert.deepEqual(items[1], {
      kind: "invalid",
      reason: "unknown_event_type",
      detail: "event type 99",
      frameType: FrameType.EVENT,
      offset: before.length,
    });
  });

  it("wire - an event shorter than its struct yields invalid", () => {
    const full = encodeEvent(makeOpen());
    for (const len of [0, 10, full.length - 1]) {
      const item = decodeOne(encodeFrame(FrameType.EVENT, full.subarray(0, len)));
      assert.equal(item.kind === "invalid" && item.reason, "short_event", `len ${len}`);
    }
  });

  it("wire - bad JSON and short aggregate payloads yield invalid", () => {
    const cases: [Buffer, string][] = [
      [encodeFrame(FrameType.JSON, Buffer.from("{not json")), "invalid_json"],
      [encodeFrame(FrameType.STATS, Buffer.alloc(10)), "short_payload"],
      [encodeFrame(FrameType.DRAIN_END, Buffer.alloc(8)), "short_payload"],
      [encodeFrame(FrameType.NGRAMS, Buffer.alloc(4)), "short_payload"],
    ];
    // A well-framed batch whose count promises one more byte than the frame holds.
    const batch = ngramsFrame({ seq: 1, records: [{ instance: 1, sys: [1], count: 1 }] });
    const cut = Buffer.from(batch.subarray(0, batch.length - 1));
    cut.writeUInt32LE(cut.length, WIRE_LAYOUT.vigil_frame_header.fields.len);
    cases.push([cut, "short_payload"]);
    for (const [frame, reason] of cases) {
      const item = decodeOne(frame);
      assert.equal(item.kind === "invalid" && item.reason, reason, frame.toString("hex"));
    }
  });

  it("wire - a corrupt frame header throws WIRE_DECODE with the stream offset", () => {
    const good = eventFrame(makeFork());
    const header = (len: number, type: number) => {
      const h = Buffer.alloc(8);
      h.writeUInt32LE(len, 0);
      h.writeUInt16LE(type, 4);
      return h;
    };
    for (const bad of [header(7, 1), header(MAX_FRAME_LEN + 1, 1), header(8, 0), header(8, 7)]) {
      const reader = new FrameReader({ ngramN: 3 });
      assertWireError(() => reader.push(Buffer.concat([good, good, bad])), 2 * good.length);
      // The stream cannot be resynchronised, so the reader stays failed.
      assertWireError(() => reader.push(good), 2 * good.length);
    }
    // Detected from the header alone, before the (never arriving) 16 MiB body.
    const split = new FrameReader({ ngramN: 3 });
    const huge = header(0xffff_ffff, 1);
    split.push(huge.subarray(0, 3));
    assertWireError(() => split.push(huge.subarray(3)), 0);
  });

  it("wire - accepts a frame of exactly MAX_FRAME_LEN", () => {
    const body = Buffer.from(`{"pad":"${"x".repeat(MAX_FRAME_LEN - 8 - 10)}"}`);
    assert.equal(body.length, MAX_FRAME_LEN - 8);
    const item = decodeOne(encodeFrame(FrameType.JSON, body));
    assert.equal(item.kind, "json");
  });

  it("wire - rejects an n-gram length outside 1..4", () => {
    for (const ngramN of [0, 5, 2.5]) {
      assert.throws(
        () => new FrameReader({ ngramN }),
        (e) => isVigilError(e, ErrorCodes.CONFIG_INVALID),
      );
    }
  });

  it("wire - returns exactly n syscalls per n-gram, zeros included", () => {
    const frame = ngramsFrame({ seq: 1, records: [{ instance: 3, sys: [0, 0, 0, 0], count: 5 }] });
    for (const n of [1, 2, 4]) {
      const item = decodeOne(frame, n);
      assert.deepEqual(item.kind === "ngrams" && item.records[0]?.sys, new Array(n).fill(0));
    }
  });

  it("wire - renders IPv4 and IPv6 addresses, RFC 5952 style", () => {
    const cases: [number, string, string][] = [
      [2, "7f000001", "127.0.0.1"],
      [2, "00000000", ""],
      [10, "0".repeat(32), ""],
      [10, `${"0".repeat(31)}1`, "::1"],
      [10, "20010db8000000000000000000000001", "2001:db8::1"],
      [10, "20010db8000000000001000000000001", "2001:db8::1:0:0:1"],
      [10, "20010db8000000010001000100010001", "2001:db8:0:1:1:1:1:1"],
      [10, "20010db8000000000001000000000000", "2001:db8:0:0:1::"],
      [10, "fe800000000000000000000000000000", "fe80::"],
      [10, "00000000000000000000ffffc0000201", "::ffff:192.0.2.1"],
      [10, "20010db8aaaabbbbccccddddeeeeffff", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"],
      [1, "7f000001", ""],
    ];
    for (const [family, hex, text] of cases) {
      const b = Buffer.alloc(20);
      Buffer.from(hex.padEnd(32, "0"), "hex").copy(b, 4);
      assert.equal(formatAddr(b, 4, family), text, hex);
    }
  });

  it("wire - decodes IPv4, IPv6 and unix socket events", () => {
    const events = [
      makeNet({ family: "inet", addr: "127.0.0.1", port: 80 }),
      makeNet({ family: "inet6", addr: "::ffff:10.1.2.3", op: "bind" }),
      makeNet({ family: "unix", addr: "", unixPath: "@abstract", protocol: 0, op: "listen" }),
      makeNet({ family: 17, addr: "", protocol: 255, op: 9 }),
    ];
    assert.deepEqual(decodeAll(events.map(eventFrame)), events);
    // An IP event never reports the unix_path bytes, whatever the kernel left in them.
    const raw = encodeEvent(makeNet());
    raw.write("/leftover", NET.unix_path);
    const item = decodeOne(encodeFrame(FrameType.EVENT, raw));
    assert.equal(item.kind === "net" && item.unixPath, "");
  });

  it("wire - splits argv on NULs, keeping empty arguments", () => {
    const raw = encodeEvent(makeExec());
    const put = (bytes: string, len: number) => {
      raw.fill(0, EXEC.argv);
      raw.write(bytes, EXEC.argv, "latin1");
      raw.writeUInt16LE(len, EXEC.argv_len);
      const item = decodeOne(encodeFrame(FrameType.EVENT, raw));
      return item.kind === "exec" ? item.argv : undefined;
    };
    assert.deepEqual(put("sh\0-c\0\0echo hi\0", 15), ["sh", "-c", "", "echo hi"]);
    assert.deepEqual(put("sh\0-c\0\0echo hi", 14), ["sh", "-c", "", "echo hi"]);
    assert.deepEqual(put("a\0b\0", 2), ["a"]);
    assert.deepEqual(put("", 0), []);
    // argv_len beyond the buffer is clamped to VIGIL_ARGV_MAX, never read past the struct.
    assert.equal(put("x".repeat(256), 0xffff)?.[0]?.length, 256);
  });

  it("wire - cuts strings at their length or first NUL, whichever comes first", () => {
    const raw = encodeEvent(makeExec({ filename: "/usr/bin/env" }));
    raw.writeUInt16LE(4, EXEC.filename_len);
    let item = decodeOne(encodeFrame(FrameType.EVENT, raw));
    assert.equal(item.kind === "exec" && item.filename, "/usr");
    raw.writeUInt16LE(200, EXEC.filename_len);
    item = decodeOne(encodeFrame(FrameType.EVENT, raw));
    assert.equal(item.kind === "exec" && item.filename, "/usr/bin/env");
    raw.fill(0x41, EXEC.comm, EXEC.comm + 16);
    item = decodeOne(encodeFrame(FrameType.EVENT, raw));
    assert.equal(item.kind === "exec" && item.comm, "A".repeat(16));
  });

  it("wire - reports the truncated flag and cut strings", () => {
    const long = `/${"d".repeat(300)}`;
    const ev = makeExec({ filename: long, argv: ["x".repeat(300)], truncated: true });
    const item = decodeOne(eventFrame(ev));
    assert.ok(item.kind === "exec");
    assert.equal(item.truncated, true);
    assert.equal(item.flags & EventFlags.TRUNCATED, EventFlags.TRUNCATED);
    assert.equal(item.filename, long.slice(0, 256));
    assert.deepEqual(item.argv, ["x".repeat(256)]);
    assert.equal(item.argvCut, true);
    const plain = decodeOne(eventFrame(makeExec()));
    assert.equal(plain.kind === "exec" && plain.truncated, false);
    assert.equal(plain.kind === "exec" && plain.argvCut, false);
    // A long filename flags TRUNCATED too; a short argv is whole.
    const longName = decodeOne(eventFrame(makeExec({ filename: long, truncated: true })));
    assert.equal(longName.kind === "exec" && longName.argvCut, false);
    // Cut just after a NUL: the arguments kept are whole.
    const whole = decodeOne(
      eventFrame(makeExec({ argv: ["y".repeat(255), "dropped"], truncated: true })),
    );
    assert.deepEqual(whole.kind === "exec" && [whole.argv, whole.argvCut], [
      ["y".repeat(255)],
      false,
    ]);
  });

  it("wire - decodes lossy UTF-8 without throwing", () => {
    const raw = encodeEvent(makeOpen({ path: "" }));
    raw.set([0x2f, 0xff, 0xc3], WIRE_LAYOUT.vigil_open_event.fields.path);
    raw.writeUInt16LE(3, WIRE_LAYOUT.vigil_open_event.fields.path_len);
    const item = decodeOne(encodeFrame(FrameType.EVENT, raw));
    assert.equal(item.kind === "open" && item.path, "/\ufffd\ufffd");
  });
});
