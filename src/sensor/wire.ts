/**
 * Decoder for the native helper's stdout: a stream of frames laid out by bpf/include/vigil.h.
 *
 * This is the sensor's hot path (tens of thousands of events/s), so decoding reads fixed
 * offsets straight out of the chunk Buffers and allocates only the result objects. Every offset
 * comes from WIRE_LAYOUT (./wire-layout.ts), which test/unit/wire-layout.test.ts checks against
 * the C compiler's view of vigil.h: when the header changes, that test names the field that moved.
 *
 * Errors are split by what they break. A bad frame header means the stream can no longer be
 * split into frames, so FrameReader throws VIGIL_ERR_WIRE_DECODE and the caller restarts the
 * helper. A bad payload inside a well-framed frame (unknown event type, short event, bad JSON)
 * only loses that item: it comes back as `{ kind: "invalid" }` for the caller to count.
 *
 * Importers need only this module: it re-exports wire-layout.ts and wire-types.ts.
 */
import { ErrorCodes, VigilError } from "../errors.js";
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  DROP_REASON_NAMES,
  type DropReasonName,
  EventFlags,
  EventType,
  FRAME_HEADER_SIZE,
  FrameType,
  MAX_FRAME_LEN,
  WIRE_LAYOUT,
  WIRE_LIMITS,
} from "./wire-layout.js";
import type {
  Family,
  FlowRecord,
  FlowsFrame,
  InvalidItem,
  InvalidReason,
  NetOpName,
  NgramRecord,
  NgramsFrame,
  Protocol,
  StatsFrame,
  WireEvent,
  WireItem,
} from "./wire-types.js";

export * from "./wire-layout.js";
export type * from "./wire-types.js";

export interface FrameReaderOptions {
  /** Configured n-gram length, 1..WIRE_LIMITS.NGRAM_MAX: the key does not say how many slots are used. */
  ngramN: number;
}

const HDR = WIRE_LAYOUT.vigil_event_header.fields;
const EXEC = WIRE_LAYOUT.vigil_exec_event.fields;
const EXIT = WIRE_LAYOUT.vigil_exit_event.fields;
const FORK = WIRE_LAYOUT.vigil_fork_event.fields;
const OPEN = WIRE_LAYOUT.vigil_open_event.fields;
const NET = WIRE_LAYOUT.vigil_net_event.fields;
const PRIV = WIRE_LAYOUT.vigil_priv_event.fields;
const CHDIR = WIRE_LAYOUT.vigil_chdir_event.fields;
const BATCH = WIRE_LAYOUT.vigil_batch_header;
const NGRAM_REC = WIRE_LAYOUT.vigil_ngram_record;
const NGRAM_KEY = WIRE_LAYOUT.vigil_ngram_key.fields;
const FLOW_REC = WIRE_LAYOUT.vigil_flow_record;
const FLOW_KEY = WIRE_LAYOUT.vigil_flow_key.fields;
const FLOW_VAL = WIRE_LAYOUT.vigil_flow_value.fields;
const STATS = WIRE_LAYOUT.vigil_stats;
const DRAIN = WIRE_LAYOUT.vigil_drain_end;

/** sizeof the struct for each event type, indexed by type; undefined = unknown type. */
const EVENT_SIZE: (number | undefined)[] = [];
EVENT_SIZE[EventType.EXEC] = WIRE_LAYOUT.vigil_exec_event.size;
EVENT_SIZE[EventType.EXIT] = WIRE_LAYOUT.vigil_exit_event.size;
EVENT_SIZE[EventType.FORK] = WIRE_LAYOUT.vigil_fork_event.size;
EVENT_SIZE[EventType.OPEN] = WIRE_LAYOUT.vigil_open_event.size;
EVENT_SIZE[EventType.NET] = WIRE_LAYOUT.vigil_net_event.size;
EVENT_SIZE[EventType.PRIV] = WIRE_LAYOUT.vigil_priv_event.size;
EVENT_SIZE[EventType.CHDIR] = WIRE_LAYOUT.vigil_chdir_event.size;

const NET_OPS: readonly (NetOpName | undefined)[] = [
  undefined,
  "connect",
  "accept",
  "bind",
  "listen",
];

const TWO_32 = 0x1_0000_0000;

// u64 counters stay below 2^53 by contract; two u32 reads avoid a BigInt per field.
function u64(b: Buffer, o: number): number {
  return b.readUInt32LE(o) + b.readUInt32LE(o + 4) * TWO_32;
}

function s64(b: Buffer, o: number): number {
  return b.readUInt32LE(o) + b.readInt32LE(o + 4) * TWO_32;
}

/** Bytes [o, o + min(len, max)) up to the first NUL; the kernel's len is not trusted. */
function cstr(b: Buffer, o: number, max: number, len: number): string {
  let end = o + Math.min(len, max);
  for (let i = o; i < end; i++) {
    if (b[i] === 0) {
      end = i;
      break;
    }
  }
  return o === end ? "" : b.toString("utf8", o, end);
}

// argv_len may or may not count the last argument's NUL; either way it is not an argument.
function argvList(b: Buffer, o: number, len: number): string[] {
  let end = o + Math.min(len, WIRE_LIMITS.ARGV_MAX);
  if (end === o) return [];
  if (b[end - 1] === 0) end--;
  return b.toString("utf8", o, end).split("\0");
}

/**
 * Whether the kernel cut the last argument: it flags TRUNCATED (for the filename or argv) and
 * copies VIGIL_ARGV_MAX bytes of argv; a last byte that is not a NUL is mid-argument. A cut that
 * falls just after a NUL dropped whole arguments, but left none in pieces.
 */
function argvCut(b: Buffer, o: number, len: number, flags: number): boolean {
  if ((flags & EventFlags.TRUNCATED) === 0 || len < WIRE_LIMITS.ARGV_MAX) return false;
  return b[o + WIRE_LIMITS.ARGV_MAX - 1] !== 0;
}

function familyName(f: number): Family {
  return f === AF_INET ? "inet" : f === AF_INET6 ? "inet6" : f === AF_UNIX ? "unix" : f;
}

function protocolName(p: number): Protocol {
  switch (p) {
    case 6:
      return "tcp";
    case 17:
      return "udp";
    case 1:
      return "icmp";
    case 58:
      return "icmpv6";
    case 132:
      return "sctp";
    default:
      return p;
  }
}

/** IPv4 dotted quad or RFC 5952 IPv6 at b[o..o+16); "" when all zero or not an IP family. */
export function formatAddr(b: Buffer, o: number, family: number): string {
  if (family === AF_INET) {
    const a = b.readUInt32BE(o);
    return a === 0 ? "" : `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
  }
  if (family !== AF_INET6) return "";
  const g: number[] = new Array(8);
  let bestAt = -1;
  let bestLen = 1; // RFC 5952 4.2.2: a single zero group is not compressed
  let runAt = -1;
  for (let i = 0; i < 8; i++) {
    const v = b.readUInt16BE(o + 2 * i);
    g[i] = v;
    if (v !== 0) {
      runAt = -1;
      continue;
    }
    if (runAt < 0) runAt = i;
    if (i - runAt + 1 > bestLen) {
      bestAt = runAt;
      bestLen = i - runAt + 1;
    }
  }
  if (bestAt === 0 && bestLen === 8) return "";
  // RFC 5952 5: IPv4-mapped addresses keep the dotted quad.
  if (bestAt === 0 && bestLen === 5 && g[5] === 0xffff) {
    return `::ffff:${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]}`;
  }
  const hex = (from: number, to: number) =>
    g
      .slice(from, to)
      .map((v) => v.toString(16))
      .join(":");
  return bestAt < 0 ? hex(0, 8) : `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

function invalid(
  reason: InvalidReason,
  detail: string,
  frameType: number,
  offset: number,
): InvalidItem {
  return { kind: "invalid", reason, detail, frameType, offset };
}

function decodeEvent(b: Buffer, p: number, n: number, at: number): WireEvent | InvalidItem {
  if (n < WIRE_LAYOUT.vigil_event_header.size) {
    return invalid("short_event", `event payload of ${n} bytes`, FrameType.EVENT, at);
  }
  const type = b.readUInt16LE(p + HDR.type);
  const size = EVENT_SIZE[type];
  if (size === undefined) {
    return invalid("unknown_event_type", `event type ${type}`, FrameType.EVENT, at);
  }
  if (n < size) {
    return invalid("short_event", `event type ${type}: ${n} < ${size} bytes`, FrameType.EVENT, at);
  }
  const ts = u64(b, p + HDR.ts_ns);
  const instance = b.readUInt32LE(p + HDR.instance);
  const pid = b.readUInt32LE(p + HDR.pid);
  const tid = b.readUInt32LE(p + HDR.tid);
  const flags = b.readUInt16LE(p + HDR.flags);
  switch (type) {
    case EventType.EXEC:
      return {
        kind: "exec",
        ts,
        instance,
        pid,
        tid,
        flags,
        cgroupId: b.readBigUInt64LE(p + EXEC.cgroup_id),
        ppid: b.readUInt32LE(p + EXEC.ppid),
        uid: b.readUInt32LE(p + EXEC.uid),
        match: b.readUInt32LE(p + EXEC.match),
        comm: cstr(b, p + EXEC.comm, WIRE_LIMITS.COMM_LEN, WIRE_LIMITS.COMM_LEN),
        filename: cstr(
          b,
          p + EXEC.filename,
          WIRE_LIMITS.PATH_MAX,
          b.readUInt16LE(p + EXEC.filename_len),
        ),
        argv: argvList(b, p + EXEC.argv, b.readUInt16LE(p + EXEC.argv_len)),
        truncated: (flags & EventFlags.TRUNCATED) !== 0,
        argvCut: argvCut(b, p + EXEC.argv, b.readUInt16LE(p + EXEC.argv_len), flags),
      };
    case EventType.EXIT:
      return {
        kind: "exit",
        ts,
        instance,
        pid,
        tid,
        flags,
        exitCode: b.readInt32LE(p + EXIT.exit_code),
      };
    case EventType.FORK:
      return {
        kind: "fork",
        ts,
        instance,
        pid,
        tid,
        flags,
        childPid: b.readUInt32LE(p + FORK.child_pid),
      };
    case EventType.OPEN:
      return {
        kind: "open",
        ts,
        instance,
        pid,
        tid,
        flags,
        dfd: b.readInt32LE(p + OPEN.dfd),
        openFlags: b.readUInt32LE(p + OPEN.flags),
        mode: b.readUInt32LE(p + OPEN.mode),
        syscallNr: b.readUInt16LE(p + OPEN.syscall_nr),
        path: cstr(b, p + OPEN.path, WIRE_LIMITS.PATH_MAX, b.readUInt16LE(p + OPEN.path_len)),
      };
    case EventType.NET: {
      const op = b.readUInt16LE(p + NET.op);
      const family = b.readUInt16LE(p + NET.family);
      return {
        kind: "net",
        ts,
        instance,
        pid,
        tid,
        flags,
        fd: b.readInt32LE(p + NET.fd),
        op: NET_OPS[op] ?? op,
        family: familyName(family),
        port: b.readUInt16LE(p + NET.port),
        protocol: protocolName(b.readUInt16LE(p + NET.protocol)),
        sockType: b.readUInt16LE(p + NET.sock_type),
        addr: formatAddr(b, p + NET.addr, family),
        unixPath:
          family === AF_UNIX
            ? cstr(b, p + NET.unix_path, WIRE_LIMITS.UNIX_PATH_MAX, WIRE_LIMITS.UNIX_PATH_MAX)
            : "",
      };
    }
    case EventType.PRIV:
      return {
        kind: "priv",
        ts,
        instance,
        pid,
        tid,
        flags,
        syscallNr: b.readUInt32LE(p + PRIV.syscall_nr),
        args: [
          b.readBigUInt64LE(p + PRIV.args),
          b.readBigUInt64LE(p + PRIV.args + 8),
          b.readBigUInt64LE(p + PRIV.args + 16),
        ],
      };
    default: // EventType.CHDIR, the only size left in EVENT_SIZE
      return {
        kind: "chdir",
        ts,
        instance,
        pid,
        tid,
        flags,
        fd: b.readInt32LE(p + CHDIR.fd),
        path: cstr(b, p + CHDIR.path, WIRE_LIMITS.PATH_MAX, b.readUInt16LE(p + CHDIR.path_len)),
      };
  }
}

/** Returns the record count, or an InvalidItem when the payload cannot hold it. */
function batchCount(b: Buffer, p: number, n: number, recSize: number, type: number, at: number) {
  if (n < BATCH.size) return invalid("short_payload", `batch payload of ${n} bytes`, type, at);
  const count = b.readUInt32LE(p + BATCH.fields.count);
  const need = BATCH.size + count * recSize;
  if (n < need) {
    return invalid("short_payload", `batch of ${count} records: ${n} < ${need} bytes`, type, at);
  }
  return count;
}

function decodeNgrams(b: Buffer, p: number, n: number, at: number, ngramN: number) {
  const count = batchCount(b, p, n, NGRAM_REC.size, FrameType.NGRAMS, at);
  if (typeof count !== "number") return count;
  const records: NgramRecord[] = new Array(count);
  let r = p + BATCH.size;
  for (let i = 0; i < count; i++, r += NGRAM_REC.size) {
    const k = r + NGRAM_REC.fields.key;
    const sys: number[] = new Array(ngramN);
    for (let j = 0; j < ngramN; j++) sys[j] = b.readUInt16LE(k + NGRAM_KEY.sys + 2 * j);
    records[i] = {
      instance: b.readUInt32LE(k + NGRAM_KEY.instance),
      sys,
      count: u64(b, r + NGRAM_REC.fields.count),
    };
  }
  const frame: NgramsFrame = { kind: "ngrams", seq: u64(b, p + BATCH.fields.seq), records };
  return frame;
}

function decodeFlows(b: Buffer, p: number, n: number, at: number) {
  const count = batchCount(b, p, n, FLOW_REC.size, FrameType.FLOWS, at);
  if (typeof count !== "number") return count;
  const records: FlowRecord[] = new Array(count);
  let r = p + BATCH.size;
  for (let i = 0; i < count; i++, r += FLOW_REC.size) {
    const k = r + FLOW_REC.fields.key;
    const v = r + FLOW_REC.fields.value;
    const family = b.readUInt16LE(k + FLOW_KEY.family);
    records[i] = {
      instance: b.readUInt32LE(k + FLOW_KEY.instance),
      family: familyName(family),
      port: b.readUInt16LE(k + FLOW_KEY.port),
      protocol: protocolName(b.readUInt8(k + FLOW_KEY.protocol)),
      addr: formatAddr(b, k + FLOW_KEY.addr, family),
      bytesOut: u64(b, v + FLOW_VAL.bytes_out),
      bytesIn: u64(b, v + FLOW_VAL.bytes_in),
      sends: u64(b, v + FLOW_VAL.sends),
      recvs: u64(b, v + FLOW_VAL.recvs),
    };
  }
  const frame: FlowsFrame = { kind: "flows", seq: u64(b, p + BATCH.fields.seq), records };
  return frame;
}

function decodeStats(b: Buffer, p: number, n: number, at: number): StatsFrame | InvalidItem {
  if (n < STATS.size) return invalid("short_payload", `stats of ${n} bytes`, FrameType.STATS, at);
  const f = STATS.fields;
  // Slots past the named reasons are reserved and always 0, so they are not reported.
  const drops = {} as Record<DropReasonName, number>;
  for (let i = 0; i < DROP_REASON_NAMES.length; i++) {
    drops[DROP_REASON_NAMES[i] as DropReasonName] = u64(b, p + f.drops + 8 * i);
  }
  return {
    kind: "stats",
    tsNs: u64(b, p + f.ts_ns),
    drops,
    events: u64(b, p + f.events),
    nrTracked: s64(b, p + f.nr_tracked),
    hooksAttached: b.readUInt32LE(p + f.hooks_attached) !== 0,
  };
}

function decodePayload(
  type: number,
  b: Buffer,
  p: number,
  n: number,
  at: number,
  ngramN: number,
): WireItem {
  switch (type) {
    case FrameType.EVENT:
      return decodeEvent(b, p, n, at);
    case FrameType.NGRAMS:
      return decodeNgrams(b, p, n, at, ngramN);
    case FrameType.FLOWS:
      return decodeFlows(b, p, n, at);
    case FrameType.STATS:
      return decodeStats(b, p, n, at);
    case FrameType.JSON:
      try {
        return { kind: "json", value: JSON.parse(b.toString("utf8", p, p + n)) };
      } catch (e) {
        return invalid("invalid_json", (e as Error).message, type, at);
      }
    default: // FrameType.DRAIN_END: the header check let no other type through
      if (n < DRAIN.size) return invalid("short_payload", `drain end of ${n} bytes`, type, at);
      return {
        kind: "drain-end",
        seq: u64(b, p + DRAIN.fields.seq),
        tsNs: u64(b, p + DRAIN.fields.ts_ns),
      };
  }
}

const FH = WIRE_LAYOUT.vigil_frame_header.fields;

/**
 * Splits the helper's stdout into frames and decodes them. Feed it every chunk in order;
 * `push` returns the items whose frames completed in that chunk. Frames may straddle chunks:
 * the partial tail is kept as a list of chunk views and copied once, when its frame completes.
 *
 * `push` throws VigilError(WIRE_DECODE) when a frame header is impossible (len < 8,
 * len > MAX_FRAME_LEN, unknown frame type). The stream cannot be resynchronised after that, so
 * the reader stays failed and rethrows on every later call: make a new reader for the next
 * helper process.
 */
export class FrameReader {
  private readonly ngramN: number;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** Length of the pending frame once its header is complete, else 0. */
  private need = 0;
  private consumed = 0;
  private failure: VigilError | undefined;

  constructor(options: FrameReaderOptions) {
    const n = options.ngramN;
    if (!Number.isInteger(n) || n < 1 || n > WIRE_LIMITS.NGRAM_MAX) {
      throw new VigilError(
        ErrorCodes.CONFIG_INVALID,
        `ngramN must be 1..${WIRE_LIMITS.NGRAM_MAX}, got ${n}`,
        {
          hint: `set the n-gram length to an integer from 1 to ${WIRE_LIMITS.NGRAM_MAX}`,
        },
      );
    }
    this.ngramN = n;
  }

  /** Stream offset of the first byte not yet decoded (bytes of completed frames). */
  get offset(): number {
    return this.consumed;
  }

  /** Bytes held for a frame that has not completed yet. */
  get pendingBytes(): number {
    return this.pendingLen;
  }

  push(chunk: Buffer): WireItem[] {
    if (this.failure) throw this.failure;
    const out: WireItem[] = [];
    let pos = 0;
    if (this.pendingLen > 0) {
      this.pending.push(chunk);
      this.pendingLen += chunk.length;
      if (this.need === 0) {
        if (this.pendingLen < FRAME_HEADER_SIZE) return out;
        const head = Buffer.concat(this.pending, FRAME_HEADER_SIZE);
        this.need = this.checkHeader(head, 0);
      }
      if (this.pendingLen < this.need) return out;
      // Before this chunk the frame was incomplete, so it ends inside this chunk.
      const frame = Buffer.allocUnsafe(this.need);
      let at = 0;
      for (let i = 0; i < this.pending.length - 1; i++) {
        at += (this.pending[i] as Buffer).copy(frame, at);
      }
      pos = this.need - at;
      chunk.copy(frame, at, 0, pos);
      out.push(this.decode(frame, 0, this.need));
      this.pending = [];
      this.pendingLen = 0;
      this.need = 0;
    }
    while (chunk.length - pos >= FRAME_HEADER_SIZE) {
      const len = this.checkHeader(chunk, pos);
      if (chunk.length - pos < len) {
        this.need = len;
        break;
      }
      out.push(this.decode(chunk, pos, len));
      pos += len;
    }
    if (pos < chunk.length) {
      this.pending.push(chunk.subarray(pos));
      this.pendingLen = chunk.length - pos;
    }
    return out;
  }

  /** Call at end of stream: throws if it stopped inside a frame (the helper died mid-write). */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.pendingLen > 0) {
      this.fail(`stream ended inside a frame: ${this.pendingLen} bytes`);
    }
  }

  private decode(b: Buffer, p: number, len: number): WireItem {
    const type = b.readUInt16LE(p + FH.type);
    const item = decodePayload(
      type,
      b,
      p + FRAME_HEADER_SIZE,
      len - FRAME_HEADER_SIZE,
      this.consumed,
      this.ngramN,
    );
    this.consumed += len;
    return item;
  }

  /** Validates the header at b[p..p+8) of the frame starting at `this.consumed`; returns len. */
  private checkHeader(b: Buffer, p: number): number {
    const len = b.readUInt32LE(p + FH.len);
    const type = b.readUInt16LE(p + FH.type);
    if (len < FRAME_HEADER_SIZE || len > MAX_FRAME_LEN) {
      this.fail(`frame length ${len} out of range ${FRAME_HEADER_SIZE}..${MAX_FRAME_LEN}`);
    }
    if (type < FrameType.EVENT || type > FrameType.DRAIN_END) {
      this.fail(`unknown frame type ${type}`);
    }
    return len;
  }

  private fail(what: string): never {
    this.failure = new VigilError(
      ErrorCodes.WIRE_DECODE,
      `helper stream: ${what} at byte offset ${this.consumed}`,
      {
        hint: "if this repeats, rebuild the helper and the service from the same bpf/include/vigil.h",
      },
    );
    throw this.failure;
  }
}
