/**
 * Accumulates what each agent instance did since the last drain and turns it into
 * vigil.window.v1 records. Privacy is applied here, on the way in, so nothing unmasked is ever
 * held in a record. Every list is capped; what a cap leaves out is counted in `truncated`.
 */
import { WINDOW_SCHEMA, type WindowNet, type WindowRecord } from "../contracts/window.js";
import type { Instance } from "./attribution.js";
import type { FileClass } from "./file-class.js";
import type { Privacy } from "./privacy.js";
import { compatSyscallName, type SyscallArch, syscallName } from "./syscall-names.js";
import {
  EventFlags,
  type ExecEvent,
  type FlowRecord,
  type NetEvent,
  type NgramRecord,
  type OpenEvent,
  type PrivEvent,
} from "./wire.js";

export interface WindowCaps {
  execs: number;
  files: number;
  net: number;
  privilege: number;
  ngrams: number;
}

export const DEFAULT_CAPS: WindowCaps = {
  execs: 256,
  files: 1024,
  net: 256,
  privilege: 256,
  ngrams: 20_000,
};

export interface WindowBuilderOptions {
  host: string;
  ngram: number;
  arch: SyscallArch;
  privacy: Privacy;
  classify: (absPath: string, workspace?: string) => FileClass;
  caps?: Partial<WindowCaps>;
}

interface Acc {
  ngrams: Map<string, number>;
  ngramTotal: number;
  execs: Map<string, WindowRecord["execs"][number]>;
  files: Map<string, WindowRecord["files"][number]>;
  net: Map<string, WindowNet>;
  privilege: Map<string, WindowRecord["privilege"][number]>;
  started: number;
  exited: number;
  truncated: Record<string, number>;
}

const PATH_CACHE_SIZE = 8192;
const O_ACCMODE = 3;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;

function newAcc(): Acc {
  return {
    ngrams: new Map(),
    ngramTotal: 0,
    execs: new Map(),
    files: new Map(),
    net: new Map(),
    privilege: new Map(),
    started: 0,
    exited: 0,
    truncated: {},
  };
}

function familyName(f: number | string): WindowNet["family"] {
  return f === "inet" || f === "inet6" || f === "unix" ? f : "other";
}

function protocolName(p: number | string, family: WindowNet["family"]): string {
  if (typeof p === "string") return p;
  return family === "unix" ? "unix" : p === 0 ? "unknown" : String(p);
}

/** What one event adds to a window, already masked and redacted: also what an event message says. */
export interface ExecItem {
  path: string;
  argv: string[];
}
export interface FileItem {
  path: string;
  class: FileClass;
  op: "read" | "write";
}
export interface NetItem {
  direction: WindowNet["direction"];
  protocol: string;
  family: WindowNet["family"];
  address: string;
  port: number;
}
export interface PrivilegeItem {
  syscall: string;
  args: string[];
}

export interface WindowBuilder {
  exec(instance: Instance, ev: ExecEvent, path: string): ExecItem;
  open(instance: Instance, ev: OpenEvent, absPath: string): FileItem;
  net(instance: Instance, ev: NetEvent): NetItem;
  privilege(instance: Instance, ev: PrivEvent): PrivilegeItem;
  processStarted(instance: Instance): void;
  processExited(instance: Instance): void;
  ngram(instance: Instance, record: NgramRecord): void;
  flow(instance: Instance, record: FlowRecord): void;
  /**
   * One record per instance given (all live instances, plus those that ended in this window),
   * then forgets their accumulators.
   */
  close(
    instances: readonly { instance: Instance; final: boolean }[],
    seq: number,
    startMs: number,
    endMs: number,
    drops: Record<string, number>,
  ): WindowRecord[];
}

export function createWindowBuilder(options: WindowBuilderOptions): WindowBuilder {
  const caps = { ...DEFAULT_CAPS, ...options.caps };
  const accs = new Map<number, Acc>();
  const { privacy } = options;

  const acc = (instance: Instance): Acc => {
    let a = accs.get(instance.id);
    if (!a) {
      a = newAcc();
      accs.set(instance.id, a);
    }
    return a;
  };

  /** Adds to a capped map: returns the existing entry, a new one, or undefined when full. */
  const upsert = <T>(
    a: Acc,
    list: "execs" | "files" | "net" | "privilege",
    key: string,
    make: () => T,
  ): T | undefined => {
    const map = a[list] as Map<string, T>;
    const found = map.get(key);
    if (found) return found;
    if (map.size >= caps[list]) {
      a.truncated[list] = (a.truncated[list] ?? 0) + 1;
      return undefined;
    }
    const item = make();
    map.set(key, item);
    return item;
  };

  const netEntry = (
    a: Acc,
    direction: WindowNet["direction"],
    protocol: string,
    family: WindowNet["family"],
    address: string,
    port: number,
  ): WindowNet | undefined =>
    upsert(a, "net", `${direction}|${protocol}|${family}|${address}|${port}`, () => ({
      direction,
      protocol,
      family,
      address,
      port,
      connections: 0,
      bytesOut: 0,
      bytesIn: 0,
      sends: 0,
      recvs: 0,
    }));

  // Agents open the same files over and over (libraries, modules, their workspace): classify
  // and mask each path once. Bounded: cleared whole when full, which is cheap and rare.
  const described = new Map<string, { cls: FileClass; path: string }>();
  const describePath = (absPath: string, workspace: string | undefined) => {
    const key = workspace === undefined ? absPath : `${workspace}\0${absPath}`;
    let d = described.get(key);
    if (!d) {
      if (described.size >= PATH_CACHE_SIZE) described.clear();
      d = { cls: options.classify(absPath, workspace), path: privacy.maskPath(absPath) };
      described.set(key, d);
    }
    return d;
  };

  return {
    exec(instance, ev, path) {
      const a = acc(instance);
      const masked = privacy.maskPath(path);
      const argv = privacy.redactArgv(ev.argv, { cut: ev.argvCut });
      const entry = upsert(a, "execs", `${masked}\0${argv.join("\0")}`, () => ({
        path: masked,
        argv,
        pid: ev.pid,
        ppid: ev.ppid,
        uid: ev.uid,
        count: 0,
      }));
      if (entry) entry.count++;
      return { path: masked, argv };
    },
    open(instance, ev, absPath) {
      const a = acc(instance);
      const acc_mode = ev.openFlags & O_ACCMODE;
      const op = acc_mode !== 0 || (ev.openFlags & (O_CREAT | O_TRUNC)) !== 0 ? "write" : "read";
      const { cls, path } = describePath(absPath, instance.workspace);
      const entry = upsert(a, "files", `${op}|${path}`, () => ({ path, class: cls, op, count: 0 }));
      if (entry) entry.count++;
      return { path, class: cls, op };
    },
    net(instance, ev) {
      const a = acc(instance);
      const family = familyName(ev.family);
      const protocol = protocolName(ev.protocol, family);
      const address = family === "unix" ? privacy.maskPath(ev.unixPath) : ev.addr;
      const direction = ev.op === "connect" ? "out" : ev.op === "accept" ? "in" : "listen";
      const entry = netEntry(a, direction, protocol, family, address, ev.port);
      if (entry && (ev.op === "connect" || ev.op === "accept")) entry.connections++;
      return { direction, protocol, family, address, port: ev.port };
    },
    privilege(instance, ev) {
      const a = acc(instance);
      const syscall =
        (ev.flags & EventFlags.COMPAT) !== 0
          ? compatSyscallName(ev.syscallNr)
          : syscallName(options.arch, ev.syscallNr);
      const args = ev.args.map((x) => x.toString());
      const entry = upsert(a, "privilege", `${syscall}|${args.join(",")}`, () => ({
        syscall,
        args,
        count: 0,
      }));
      if (entry) entry.count++;
      return { syscall, args };
    },
    processStarted(instance) {
      acc(instance).started++;
    },
    processExited(instance) {
      acc(instance).exited++;
    },
    ngram(instance, r) {
      const a = acc(instance);
      const key = r.sys.join(",");
      a.ngrams.set(key, (a.ngrams.get(key) ?? 0) + r.count);
      a.ngramTotal += r.count;
    },
    flow(instance, r) {
      const a = acc(instance);
      const family = familyName(r.family);
      const entry = netEntry(a, "out", protocolName(r.protocol, family), family, r.addr, r.port);
      if (!entry) return;
      entry.bytesOut += r.bytesOut;
      entry.bytesIn += r.bytesIn;
      entry.sends += r.sends;
      entry.recvs += r.recvs;
    },
    close(instances, seq, startMs, endMs, drops) {
      const out: WindowRecord[] = [];
      for (const { instance, final } of instances) {
        const a = accs.get(instance.id) ?? newAcc();
        accs.delete(instance.id);
        let ngrams = [...a.ngrams.entries()].sort((x, y) => y[1] - x[1]);
        if (ngrams.length > caps.ngrams) {
          a.truncated.ngrams = ngrams.length - caps.ngrams;
          ngrams = ngrams.slice(0, caps.ngrams);
        }
        out.push({
          schema: WINDOW_SCHEMA,
          host: options.host,
          agentType: instance.agentType,
          agentId: instance.agentId,
          pid: instance.rootPid,
          ...(instance.uid >= 0 ? { uid: instance.uid } : {}),
          seq,
          start: new Date(startMs).toISOString(),
          end: new Date(endMs).toISOString(),
          final,
          syscalls: {
            n: options.ngram,
            total: a.ngramTotal,
            ngrams: ngrams.map(([key, count]) => [
              ...key.split(",").map((nr) => syscallName(options.arch, Number(nr))),
              count,
            ]),
          },
          execs: [...a.execs.values()],
          files: [...a.files.values()],
          net: [...a.net.values()],
          privilege: [...a.privilege.values()],
          processes: { started: a.started, exited: a.exited, live: instance.pids.size },
          drops: { ...drops },
          truncated: a.truncated,
        });
      }
      return out;
    },
  };
}
