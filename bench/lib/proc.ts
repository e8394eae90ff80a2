/** Statistics, /proc readings and child-process tracking shared by the benchmarks. */
import { type ChildProcess, execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const i = (s.length - 1) * q;
  const lo = s[Math.floor(i)] as number;
  const hi = s[Math.ceil(i)] as number;
  return lo + (hi - lo) * (i - Math.floor(i));
}

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export const percentiles = (xs: readonly number[]): Percentiles => ({
  n: xs.length,
  p50: quantile(xs, 0.5),
  p90: quantile(xs, 0.9),
  p99: quantile(xs, 0.99),
  max: quantile(xs, 1),
});

/** VmRSS in MiB (NaN once the process is gone). */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The direct children of a process, by name, with their RSS. */
export function childrenRss(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      for (const kid of kids ? kids.split(" ").map(Number) : []) {
        const comm = readFileSync(`/proc/${kid}/comm`, "utf8").trim();
        out[comm] = (out[comm] ?? 0) + rssMiB(kid);
      }
    }
  } catch {
    // a child that exited while we looked is simply not counted
  }
  return out;
}

const clockHz = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** user+system CPU ms of a process, from /proc (NaN if it cannot be read). */
export function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) / clockHz) * 1000;
  } catch {
    return Number.NaN;
  }
}

export async function until(pred: () => boolean | Promise<boolean>, ms: number, every = 100) {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return true;
    if (Date.now() > end) return false;
    await sleep(every);
  }
}

/** Child processes this bench started, killed on any exit. */
const children = new Set<ChildProcess>();
process.on("exit", () => {
  // SIGINT: `vigil run` then stops its own nats-server and helper (it waits out SIGTERM)
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGINT");
});

export function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.once("exit", () => children.delete(c));
  return c;
}

export async function stopChild(c: ChildProcess, signal: NodeJS.Signals = "SIGTERM", ms = 15_000) {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once("exit", r));
  c.kill(signal);
  const timer = setTimeout(() => c.kill("SIGKILL"), ms);
  await exited;
  clearTimeout(timer);
}
