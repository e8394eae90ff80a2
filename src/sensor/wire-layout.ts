/**
 * The wire format of bpf/include/vigil.h as constants: struct layouts, buffer sizes, enum-like
 * values and frame limits. test/unit/wire-layout.test.ts checks every value here against the C
 * compiler's view of vigil.h, so this file changes exactly when the header does.
 */
export const WIRE_VERSION = 1;

/** Byte offsets of every field (arrays: first element) and sizeof of every struct in vigil.h. */
export const WIRE_LAYOUT = {
  vigil_event_header: {
    size: 24,
    fields: { ts_ns: 0, instance: 8, pid: 12, tid: 16, type: 20, flags: 22 },
  },
  vigil_exec_event: {
    size: 576,
    fields: {
      h: 0,
      cgroup_id: 24,
      ppid: 32,
      uid: 36,
      match: 40,
      filename_len: 44,
      argv_len: 46,
      comm: 48,
      filename: 64,
      argv: 320,
    },
  },
  vigil_exit_event: { size: 32, fields: { h: 0, exit_code: 24, _pad: 28 } },
  vigil_fork_event: { size: 32, fields: { h: 0, child_pid: 24, _pad: 28 } },
  vigil_open_event: {
    size: 296,
    fields: { h: 0, dfd: 24, flags: 28, mode: 32, syscall_nr: 36, path_len: 38, path: 40 },
  },
  vigil_net_event: {
    size: 168,
    fields: {
      h: 0,
      fd: 24,
      op: 28,
      family: 30,
      port: 32,
      protocol: 34,
      sock_type: 36,
      _pad: 38,
      addr: 40,
      unix_path: 56,
      _pad2: 164,
    },
  },
  vigil_priv_event: { size: 56, fields: { h: 0, syscall_nr: 24, _pad: 28, args: 32 } },
  vigil_chdir_event: { size: 288, fields: { h: 0, fd: 24, path_len: 28, _pad: 30, path: 32 } },
  vigil_ngram_key: { size: 12, fields: { instance: 0, sys: 4 } },
  vigil_flow_key: {
    size: 28,
    fields: { instance: 0, family: 4, port: 6, protocol: 8, _pad: 9, addr: 12 },
  },
  vigil_flow_value: { size: 32, fields: { bytes_out: 0, bytes_in: 8, sends: 16, recvs: 24 } },
  vigil_frame_header: { size: 8, fields: { len: 0, type: 4, _pad: 6 } },
  vigil_batch_header: { size: 16, fields: { seq: 0, count: 8, _pad: 12 } },
  vigil_ngram_record: { size: 24, fields: { count: 0, key: 8, _pad: 20 } },
  vigil_flow_record: { size: 64, fields: { key: 0, _pad: 28, value: 32 } },
  vigil_stats: {
    size: 96,
    fields: { ts_ns: 0, drops: 8, events: 72, nr_tracked: 80, hooks_attached: 88, _pad: 92 },
  },
  vigil_drain_end: { size: 16, fields: { seq: 0, ts_ns: 8 } },
} as const satisfies Record<string, { size: number; fields: Record<string, number> }>;

/** Buffer sizes of the char/u16/u64 arrays in vigil.h (VIGIL_*_MAX, VIGIL_COMM_LEN). */
export const WIRE_LIMITS = {
  NGRAM_MAX: 4,
  PATH_MAX: 256,
  ARGV_MAX: 256,
  COMM_LEN: 16,
  UNIX_PATH_MAX: 108,
  DROP_SLOTS: 8,
  PRIV_ARGS: 3,
  /** Syscall ids at or above this (and negative ones) count as SYSCALL_INVALID. */
  SYSCALL_LIMIT: 512,
} as const;

/** vigil_open_event.syscall_nr of an open submitted through io_uring (IORING_OP_OPENAT*). */
export const OPEN_FROM_IO_URING = 0xfffe;

/** Set in instances the kernel allocated itself (comm watch matched at exec). */
export const AUTO_INSTANCE_BIT = 0x80000000;

/** Instances are u32: test the bit with this, as `instance & AUTO_INSTANCE_BIT` is negative. */
export function isAutoInstance(instance: number): boolean {
  return instance >= AUTO_INSTANCE_BIT;
}

export const EventType = { EXEC: 1, EXIT: 2, FORK: 3, OPEN: 4, NET: 5, PRIV: 6, CHDIR: 7 } as const;
export const EventFlags = {
  TRACKED: 0x1,
  AUTO_MATCHED: 0x2,
  TRUNCATED: 0x4,
  STR_UNREADABLE: 0x8,
  /** A 32-bit (compat) syscall of a 64-bit task: a syscall number is an i386 one. */
  COMPAT: 0x10,
} as const;
export const NetOp = { CONNECT: 1, ACCEPT: 2, BIND: 3, LISTEN: 4 } as const;
export const FrameType = {
  EVENT: 1,
  NGRAMS: 2,
  FLOWS: 3,
  STATS: 4,
  JSON: 5,
  DRAIN_END: 6,
} as const;
export const DropReason = {
  NGRAM_MAP_FULL: 0,
  FLOW_MAP_FULL: 1,
  RINGBUF_FULL: 2,
  STRING_UNREADABLE: 3,
  TASK_STORAGE: 4,
} as const;
/** Indexed by DropReason value; these are also the metric label values. */
export const DROP_REASON_NAMES = [
  "ngram_map_full",
  "flow_map_full",
  "ringbuf_full",
  "string_unreadable",
  "task_storage",
] as const;
export type DropReasonName = (typeof DROP_REASON_NAMES)[number];

export const FRAME_HEADER_SIZE = WIRE_LAYOUT.vigil_frame_header.size;
/** Largest frame accepted; anything bigger means the stream is out of sync. */
export const MAX_FRAME_LEN = 16 * 1024 * 1024;

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
