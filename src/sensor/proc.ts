/**
 * Small, failure-tolerant readers of /proc. A process can exit between any two reads, so
 * every function returns undefined instead of throwing.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { posix } from "node:path";
import type { PathTrust } from "./path-trust.js";
import type { ProcessFacts } from "./rules.js";

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** The real uid, from /proc/<pid>/status; -1 if unreadable. */
  uid: number;
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

/** The real uid (first field of the "Uid:" line of /proc/<pid>/status). */
export function procUid(pid: number): number | undefined {
  const m = /^Uid:\s+(\d+)/m.exec(readText(`/proc/${pid}/status`) ?? "");
  return m ? Number(m[1]) : undefined;
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
    uid: procUid(pid) ?? -1,
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

// Interpreter options (node's, python's) whose value is the next argument, not the script.
const OPTION_WITH_VALUE = new Set([
  "-r",
  "--require",
  "--import",
  "--loader",
  "--experimental-loader",
  "-C",
  "--conditions",
  "--input-type",
  "--title",
  "-W",
  "-X",
]);
// Options after which there is no script: code on the command line, or a module by name.
const NO_SCRIPT = new Set(["-e", "--eval", "-p", "--print", "-c", "-m"]);

/**
 * The script an interpreter's argv names: the first argument after argv[0] that is not an
 * option (nor an option's value). Undefined for code given inline or a module by name.
 */
export function scriptArgument(argv: readonly string[]): string | undefined {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--") return argv[i + 1];
    if (NO_SCRIPT.has(a)) return undefined;
    if (a === "-") return undefined; // the script comes on stdin
    if (!a.startsWith("-")) return a;
    if (OPTION_WITH_VALUE.has(a)) i++;
  }
  return undefined;
}

function realpath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * ProcessFacts for process `pid`, every /proc read and file walk deferred until a rule asks
 * (every exec on the host passes here). `filename` is the path the exec was given: when it is
 * not the executable itself, the kernel ran a script through its `#!` interpreter and that file
 * is the script; otherwise the script is the one the interpreter's argv names.
 */
export function processFacts(
  pid: number,
  known: { comm: string; argv: readonly string[]; filename?: string; exe?: string },
  trust: PathTrust,
  fallbackExe: () => string = () => "",
): ProcessFacts & { readonly exe: string; readonly cgroup: string; readonly script: string } {
  let exe = known.exe;
  let cgroup: string | undefined;
  let script: { path: string; real: string } | undefined;
  const facts = {
    comm: known.comm,
    argv: known.argv,
    get exe() {
      exe ??= readLink(`/proc/${pid}/exe`) ?? fallbackExe();
      return exe;
    },
    get cgroup() {
      cgroup ??= procCgroup(pid) ?? "";
      return cgroup;
    },
    get script() {
      script ??= scriptOf();
      return script.real;
    },
    trusted(what: "exe" | "script") {
      if (what === "exe") return trust.isTrustedExe(pid, facts.exe);
      script ??= scriptOf();
      return script.path !== "" && trust.isTrusted(script.path);
    },
  };
  const scriptOf = (): { path: string; real: string } => {
    const none = { path: "", real: "" };
    const cwd = procCwd(pid);
    const absolute = (p: string) =>
      p.startsWith("/")
        ? posix.normalize(p)
        : cwd === undefined
          ? undefined
          : posix.resolve(cwd, p);
    if (known.filename !== undefined) {
      const path = absolute(known.filename);
      const real = path === undefined ? undefined : realpath(path);
      if (path !== undefined && real !== undefined && real !== facts.exe) return { path, real };
    }
    const arg = scriptArgument(known.argv);
    const path = arg === undefined ? undefined : absolute(arg);
    const real = path === undefined ? undefined : realpath(path);
    return path === undefined || real === undefined ? none : { path, real };
  };
  return facts;
}
