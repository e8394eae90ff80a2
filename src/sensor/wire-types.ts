/** What FrameReader (./wire.ts) decodes the helper's frames into: one WireItem per frame. */
import type { DropReasonName } from "./wire-layout.js";

export type NetOpName = "connect" | "accept" | "bind" | "listen";
/** Unknown address families and protocols stay numbers so nothing is lost. */
export type Family = "inet" | "inet6" | "unix" | number;
export type Protocol = "tcp" | "udp" | "icmp" | "icmpv6" | "sctp" | number;

/**
 * Fields of vigil_event_header. `ts` is CLOCK_MONOTONIC in ns as a number: exact up to 2^53 ns
 * (104 days of uptime), after that rounded by at most a few ns, which no window cares about,
 * while bigint would cost an allocation and mixed arithmetic everywhere downstream.
 * `flags` is the raw EventFlags bit set.
 */
export interface EventBase {
  ts: number;
  instance: number;
  pid: number;
  tid: number;
  flags: number;
}
export interface ExecEvent extends EventBase {
  kind: "exec";
  cgroupId: bigint;
  ppid: number;
  uid: number;
  match: number;
  comm: string;
  filename: string;
  argv: string[];
  /** EventFlags.TRUNCATED: filename or argv was cut at its buffer size. */
  truncated: boolean;
  /** The last element of `argv` is the beginning of a longer argument the kernel cut. */
  argvCut: boolean;
}
export interface ExitEvent extends EventBase {
  kind: "exit";
  exitCode: number;
}
export interface ForkEvent extends EventBase {
  kind: "fork";
  childPid: number;
}
/** `openFlags` is open(2)'s flags, renamed so it cannot be confused with the header's `flags`. */
export interface OpenEvent extends EventBase {
  kind: "open";
  dfd: number;
  openFlags: number;
  mode: number;
  syscallNr: number;
  path: string;
}
/** `addr` is "" for AF_UNIX and for an all-zero address; `unixPath` is "" unless AF_UNIX. */
export interface NetEvent extends EventBase {
  kind: "net";
  fd: number;
  op: NetOpName | number;
  family: Family;
  port: number;
  protocol: Protocol;
  sockType: number;
  addr: string;
  unixPath: string;
}
export interface PrivEvent extends EventBase {
  kind: "priv";
  syscallNr: number;
  args: bigint[];
}
export interface ChdirEvent extends EventBase {
  kind: "chdir";
  fd: number;
  path: string;
}
export type WireEvent =
  | ExecEvent
  | ExitEvent
  | ForkEvent
  | OpenEvent
  | NetEvent
  | PrivEvent
  | ChdirEvent;

/** `sys` has exactly ngramN entries, oldest first (0 is a real syscall: read on x86_64). */
export interface NgramRecord {
  instance: number;
  sys: number[];
  count: number;
}
export interface NgramsFrame {
  kind: "ngrams";
  seq: number;
  records: NgramRecord[];
}
export interface FlowRecord {
  instance: number;
  family: Family;
  port: number;
  protocol: Protocol;
  addr: string;
  bytesOut: number;
  bytesIn: number;
  sends: number;
  recvs: number;
}
export interface FlowsFrame {
  kind: "flows";
  seq: number;
  records: FlowRecord[];
}
/** Counters are cumulative since the BPF objects were loaded. */
export interface StatsFrame {
  kind: "stats";
  tsNs: number;
  drops: Record<DropReasonName, number>;
  events: number;
  nrTracked: number;
  hooksAttached: boolean;
}
export interface JsonFrame {
  kind: "json";
  value: unknown;
}
export interface DrainEndFrame {
  kind: "drain-end";
  seq: number;
  tsNs: number;
}
/** Closed set, usable as a metric label. */
export type InvalidReason = "unknown_event_type" | "short_event" | "short_payload" | "invalid_json";
/** One undecodable frame; the stream itself is intact. `offset`: the frame's stream offset. */
export interface InvalidItem {
  kind: "invalid";
  reason: InvalidReason;
  detail: string;
  frameType: number;
  offset: number;
}
export type WireItem =
  | WireEvent
  | NgramsFrame
  | FlowsFrame
  | StatsFrame
  | JsonFrame
  | DrainEndFrame
  | InvalidItem;
