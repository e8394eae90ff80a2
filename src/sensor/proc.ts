/**
 * Small, failure-tolerant readers of /proc. A process can exit between any two reads, so
 * every function returns undefined instead of throwing.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  exe: string;
  argv: string[];
  cgroup: string;
}

export function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export function procCwd(pid: number): string | undefined {
  return readLink(`/proc/${pid}/cwd`);
}

export function procFdPath(pid: number, fd: number): string | undefined {
  return readLink(`/proc/${pid}/fd/${fd}`);
}

/** The cgroup v2 path ("0::/path" line); "" when the host only has v1. */
export function procCgroup(pid: number): string | undefined {
  const text = readText(`/proc/${pid}/cgroup`);
  if (text === undefined) return undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("0::")) return line.slice(3);
  }
  return "";
}

export function procInfo(pid: number): ProcInfo | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // comm may contain spaces and parentheses: it ends at the last ')'.
  const close = stat.lastIndexOf(")");
  const comm = stat.slice(stat.indexOf("(") + 1, close);
  const rest = stat.slice(close + 2).split(" ");
  const ppid = Number(rest[1]);
  const cmdline = readText(`/proc/${pid}/cmdline`) ?? "";
  const argv = cmdline.split("\0");
  if (argv.at(-1) === "") argv.pop();
  return {
    pid,
    ppid,
    comm,
    exe: readLink(`/proc/${pid}/exe`) ?? "",
    argv,
    cgroup: procCgroup(pid) ?? "",
  };
}

export function listPids(): number[] {
  try {
    return readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** pid -> children, from one pass over /proc. */
export function childrenMap(infos: Iterable<ProcInfo>): Map<number, number[]> {
  const kids = new Map<number, number[]>();
  for (const p of infos) {
    const list = kids.get(p.ppid);
    if (list) list.push(p.pid);
    else kids.set(p.ppid, [p.pid]);
  }
  return kids;
}

/**
 * Descendants of `pid` from /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN), without
 * reading every process on the host; undefined where the kernel lacks those files.
 */
export function procDescendants(pid: number): number[] | undefined {
  const out: number[] = [];
  const queue = [pid];
  for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const tid of tids) {
      const text = readText(`/proc/${p}/task/${tid}/children`);
      if (text === undefined) {
        if (p === pid) return undefined; // no children files on this kernel
        continue;
      }
      for (const c of text.split(" ")) {
        if (c.trim() === "") continue;
        out.push(Number(c));
        queue.push(Number(c));
      }
    }
  }
  return out;
}

/**
 * What rules match on for a process that just exec'd: comm and argv come with the event; exe
 * and cgroup are read from /proc only if a rule asks (every exec on the host passes here).
 */
export function execFacts(
  pid: number,
  comm: string,
  argv: readonly string[],
  fallbackExe: () => string,
): { comm: string; argv: readonly string[]; readonly exe: string; readonly cgroup: string } {
  let exe: string | undefined;
  let cgroup: string | undefined;
  return {
    comm,
    argv,
    get exe() {
      exe ??= readLink(`/proc/${pid}/exe`) ?? fallbackExe();
      return exe;
    },
    get cgroup() {
      cgroup ??= procCgroup(pid) ?? "";
      return cgroup;
    },
  };
}
