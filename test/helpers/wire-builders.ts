/**
 * Encoders for the helper's frame stream (bpf/include/vigil.h), for tests that need bytes as
 * the native helper would write them. They take the same shapes FrameReader returns, so a test
 * can assert `decode(encode(x))` deep-equals `x`, and they take every offset from WIRE_LAYOUT,
 * so they cannot drift from the decoder without wire-layout.test.ts noticing.
 *
 * Encoding is the inverse of decoding where the wire allows it: strings longer than their
 * buffer are cut (and exec's `truncated` sets VIGIL_F_TRUNCATED), names map back to numbers.
 */
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  type ChdirEvent,
  DROP_REASON_NAMES,
  type DrainEndFrame,
  EventFlags,
  EventType,
  type ExecEvent,
  type ExitEvent,
  type Family,
  type FlowsFrame,
  type ForkEvent,
  FRAME_HEADER_SIZE,
  FrameType,
  type NetEvent,
  type NetOpName,
  type NgramsFrame,
  type OpenEvent,
  type PrivEvent,
  type Protocol,
  type StatsFrame,
  WIRE_LAYOUT,
  WIRE_LIMITS,
  type WireEvent,
} from "../../src/sensor/wire.js";

const L = WIRE_LAYOUT;

/** A whole frame: vigil_frame_header (len includes the header) + payload. */
export function encodeFrame(type: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_SIZE + payload.length);
  b.writeUInt32LE(b.length, L.vigil_frame_header.fields.len);
  b.writeUInt16LE(type, L.vigil_frame_header.fields.type);
  payload.copy(b, FRAME_HEADER_SIZE);
  return b;
}

/** Writes `s` as UTF-8 into a char[max]; returns the bytes written (without NUL). */
function putString(b: Buffer, offset: number, max: number, s: string): number {
  return b.write(s, offset, max, "utf8");
}

function putU64(b: Buffer, offset: number, v: number | bigint): void {
  b.writeBigUInt64LE(BigInt(v), offset);
}

const OP_NUMBERS: Record<NetOpName, number> = { connect: 1, accept: 2, bind: 3, listen: 4 };
const FAMILY_NUMBERS = { inet: AF_INET, inet6: AF_INET6, unix: AF_UNIX } as const;
const PROTOCOL_NUMBERS = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132 } as const;

function familyNumber(f: Family): number {
  return typeof f === "number" ? f : FAMILY_NUMBERS[f];
}

function protocolNumber(p: Protocol): number {
  return typeof p === "number" ? p : PROTOCOL_NUMBERS[p];
}

/** 16 address bytes as vigil.h stores them: IPv4 in the first 4, network order; "" = zeros. */
export function encodeAddr(addr: string): Buffer {
  const out = Buffer.alloc(16);
  if (addr === "") return out;
  if (!addr.includes(":")) {
    for (const [i, part] of addr.split(".").entries()) out.writeUInt8(Number(part), i);
    return out;
  }
  let groups = addr;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(addr);
  if (dotted?.[1]) {
    const v4 = encodeAddr(dotted[1]);
    groups = `${addr.slice(0, -dotted[1].length)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`;
  }
  const [head = "", tail] = groups.split("::");
  const parse = (s: string) => (s === "" ? [] : s.split(":").map((g) => Number.parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const all = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  for (const [i, g] of all.entries()) out.writeUInt16BE(g, 2 * i);
  return out;
}

/** Payload of a FRAME_EVENT: the ring-buffer struct for `ev.kind`, zero-filled. */
export function encodeEvent(ev: WireEvent): Buffer {
  const h = L.vigil_event_header.fields;
  let b: Buffer;
  let type: number;
  let flags = ev.flags;
  switch (ev.kind) {
    case "exec": {
      const f = L.vigil_exec_event.fields;
      b = Buffer.alloc(L.vigil_exec_event.size);
      type = EventType.EXEC;
      flags = ev.truncated ? flags | EventFlags.TRUNCATED : flags & ~EventFlags.TRUNCATED;
      putU64(b, f.cgroup_id, ev.cgroupId);
      b.writeUInt32LE(ev.ppid, f.ppid);
      b.writeUInt32LE(ev.uid, f.uid);
      b.writeUInt32LE(ev.match, f.match);
      putString(b, f.comm, WIRE_LIMITS.COMM_LEN, ev.comm);
      b.writeUInt16LE(putString(b, f.filename, WIRE_LIMITS.PATH_MAX, ev.filename), f.filename_len);
      const argv = ev.argv.length === 0 ? "" : `${ev.argv.join("\0")}\0`;
      b.writeUInt16LE(putString(b, f.argv, WIRE_LIMITS.ARGV_MAX, argv), f.argv_len);
      break;
    }
    case "exit":
      b = Buffer.alloc(L.vigil_exit_event.size);
      type = EventType.EXIT;
      b.writeInt32LE(ev.exitCode, L.vigil_exit_event.fields.exit_code);
      break;
    case "fork":
      b = Buffer.alloc(L.vigil_fork_event.size);
      type = EventType.FORK;
      b.writeUInt32LE(ev.childPid, L.vigil_fork_event.fields.child_pid);
      break;
    case "open": {
      const f = L.vigil_open_event.fields;
      b = Buffer.alloc(L.vigil_open_event.size);
      type = EventType.OPEN;
      b.writeInt32LE(ev.dfd, f.dfd);
      b.writeUInt32LE(ev.openFlags, f.flags);
      b.writeUInt32LE(ev.mode, f.mode);
      b.writeUInt16LE(ev.syscallNr, f.syscall_nr);
      b.writeUInt16LE(putString(b, f.path, WIRE_LIMITS.PATH_MAX, ev.path), f.path_len);
      break;
    }
    case "net": {
      const f = L.vigil_net_event.fields;
      b = Buffer.alloc(L.vigil_net_event.size);
      type = EventType.NET;
      b.writeInt32LE(ev.fd, f.fd);
      b.writeUInt16LE(typeof ev.op === "number" ? ev.op : OP_NUMBERS[ev.op], f.op);
      b.writeUInt16LE(familyNumber(ev.family), f.family);
      b.writeUInt16LE(ev.port, f.port);
      b.writeUInt16LE(protocolNumber(ev.protocol), f.protocol);
      b.writeUInt16LE(ev.sockType, f.sock_type);
      encodeAddr(ev.addr).copy(b, f.addr);
      putString(b, f.unix_path, WIRE_LIMITS.UNIX_PATH_MAX, ev.unixPath);
      break;
    }
    case "priv": {
      const f = L.vigil_priv_event.fields;
      b = Buffer.alloc(L.vigil_priv_event.size);
      type = EventType.PRIV;
      b.writeUInt32LE(ev.syscallNr, f.syscall_nr);
      for (const [i, a] of ev.args.slice(0, WIRE_LIMITS.PRIV_ARGS).entries()) {
        putU64(b, f.args + 8 * i, a);
      }
      break;
    }
    case "chdir": {
      const f = L.vigil_chdir_event.fields;
      b = Buffer.alloc(L.vigil_chdir_event.size);
      type = EventType.CHDIR;
      b.writeInt32LE(ev.fd, f.fd);
      b.writeUInt16LE(putString(b, f.path, WIRE_LIMITS.PATH_MAX, ev.path), f.path_len);
      break;
    }
  }
  putU64(b, h.ts_ns, ev.ts);
  b.writeUInt32LE(ev.instance, h.instance);
  b.writeUInt32LE(ev.pid, h.pid);
  b.writeUInt32LE(ev.tid, h.tid);
  b.writeUInt16LE(type, h.type);
  b.writeUInt16LE(flags, h.flags);
  return b;
}

export function eventFrame(ev: WireEvent): Buffer {
  return encodeFrame(FrameType.EVENT, encodeEvent(ev));
}

function batch(seq: number, count: number, recordSize: number): Buffer {
  const b = Buffer.alloc(L.vigil_batch_header.size + count * recordSize);
  putU64(b, L.vigil_batch_header.fields.seq, seq);
  b.writeUInt32LE(count, L.vigil_batch_header.fields.count);
  return b;
}

/** Slots of `sys` past its length are written as 0, as the kernel leaves them. */
export function ngramsFrame(f: Omit<NgramsFrame, "kind">): Buffer {
  const R = L.vigil_ngram_record;
  const K = L.vigil_ngram_key.fields;
  const b = batch(f.seq, f.records.length, R.size);
  f.records.forEach((rec, i) => {
    const r = L.vigil_batch_header.size + i * R.size;
    putU64(b, r + R.fields.count, rec.count);
    b.writeUInt32LE(rec.instance, r + R.fields.key + K.instance);
    for (const [j, s] of rec.sys.slice(0, WIRE_LIMITS.NGRAM_MAX).entries()) {
      b.writeUInt16LE(s, r + R.fields.key + K.sys + 2 * j);
    }
  });
  return encodeFrame(FrameType.NGRAMS, b);
}

export function flowsFrame(f: Omit<FlowsFrame, "kind">): Buffer {
  const R = L.vigil_flow_record;
  const K = L.vigil_flow_key.fields;
  const V = L.vigil_flow_value.fields;
  const b = batch(f.seq, f.records.length, R.size);
  f.records.forEach((rec, i) => {
    const k = L.vigil_batch_header.size + i * R.size + R.fields.key;
    const v = L.vigil_batch_header.size + i * R.size + R.fields.value;
    b.writeUInt32LE(rec.instance, k + K.instance);
    b.writeUInt16LE(familyNumber(rec.family), k + K.family);
    b.writeUInt16LE(rec.port, k + K.port);
    b.writeUInt8(protocolNumber(rec.protocol), k + K.protocol);
    encodeAddr(rec.addr).copy(b, k + K.addr);
    putU64(b, v + V.bytes_out, rec.bytesOut);
    putU64(b, v + V.bytes_in, rec.bytesIn);
    putU64(b, v + V.sends, rec.sends);
    putU64(b, v + V.recvs, rec.recvs);
  });
  return encodeFrame(FrameType.FLOWS, b);
}

export function statsFrame(s: Omit<StatsFrame, "kind">): Buffer {
  const f = L.vigil_stats.fields;
  const b = Buffer.alloc(L.vigil_stats.size);
  putU64(b, f.ts_ns, s.tsNs);
  for (const [i, name] of DROP_REASON_NAMES.entries()) putU64(b, f.drops + 8 * i, s.drops[name]);
  putU64(b, f.events, s.events);
  b.writeBigInt64LE(BigInt(s.nrTracked), f.nr_tracked);
  b.writeUInt32LE(s.hooksAttached ? 1 : 0, f.hooks_attached);
  return encodeFrame(FrameType.STATS, b);
}

export function jsonFrame(value: unknown): Buffer {
  return encodeFrame(FrameType.JSON, Buffer.from(JSON.stringify(value), "utf8"));
}

export function drainEndFrame(d: Omit<DrainEndFrame, "kind">): Buffer {
  const b = Buffer.alloc(L.vigil_drain_end.size);
  putU64(b, L.vigil_drain_end.fields.seq, d.seq);
  putU64(b, L.vigil_drain_end.fields.ts_ns, d.tsNs);
  return encodeFrame(FrameType.DRAIN_END, b);
}

// Sample events with plausible values, for tests that care about one or two fields.
const BASE = { ts: 1_000_000_000, instance: 1, pid: 4242, tid: 4242, flags: EventFlags.TRACKED };

export function makeExec(p: Partial<Omit<ExecEvent, "kind">> = {}): ExecEvent {
  const ev: ExecEvent = {
    kind: "exec",
    ...BASE,
    cgroupId: 1234n,
    ppid: 1,
    uid: 1000,
    match: 0,
    comm: "python3",
    filename: "/usr/bin/python3",
    argv: ["python3", "agent.py"],
    truncated: false,
    argvCut: false,
    ...p,
  };
  // Keep flags and truncated consistent, as the decoder derives one from the other; likewise
  // argvCut, from where the kernel's cut falls.
  ev.flags = ev.truncated ? ev.flags | EventFlags.TRUNCATED : ev.flags & ~EventFlags.TRUNCATED;
  const raw = Buffer.from(`${ev.argv.join("\0")}\0`);
  ev.argvCut =
    ev.truncated && raw.length > WIRE_LIMITS.ARGV_MAX && raw[WIRE_LIMITS.ARGV_MAX - 1] !== 0;
  return ev;
}

export function makeExit(p: Partial<Omit<ExitEvent, "kind">> = {}): ExitEvent {
  return { kind: "exit", ...BASE, exitCode: 0, ...p };
}

export function makeFork(p: Partial<Omit<ForkEvent, "kind">> = {}): ForkEvent {
  return { kind: "fork", ...BASE, childPid: 4243, ...p };
}

export function makeOpen(p: Partial<Omit<OpenEvent, "kind">> = {}): OpenEvent {
  return {
    kind: "open",
    ...BASE,
    dfd: -100,
    openFlags: 0,
    mode: 0,
    syscallNr: 257,
    path: "/etc/passwd",
    ...p,
  };
}

export function makeNet(p: Partial<Omit<NetEvent, "kind">> = {}): NetEvent {
  return {
    kind: "net",
    ...BASE,
    fd: 3,
    op: "connect",
    family: "inet",
    port: 443,
    protocol: "tcp",
    sockType: 1,
    addr: "93.184.216.34",
    unixPath: "",
    ...p,
  };
}

export function makePriv(p: Partial<Omit<PrivEvent, "kind">> = {}): PrivEvent {
  return { kind: "priv", ...BASE, syscallNr: 105, args: [0n, 0n, 0n], ...p };
}

export function makeChdir(p: Partial<Omit<ChdirEvent, "kind">> = {}): ChdirEvent {
  return { kind: "chdir", ...BASE, fd: -100, path: "/tmp", ...p };
}

export function makeStats(p: Partial<Omit<StatsFrame, "kind">> = {}): StatsFrame {
  const drops = Object.fromEntries(DROP_REASON_NAMES.map((n) => [n, 0])) as StatsFrame["drops"];
  return {
    kind: "stats",
    tsNs: 2_000_000_000,
    drops,
    events: 0,
    nrTracked: 0,
    hooksAttached: true,
    ...p,
  };
}
