/**
 * `npm run bench:sensor` (root): what the sensor costs, measured side by side in one run.
 *
 * 1. ns added per syscall by five configurations (no sensor, the empty sys_enter floor, the
 *    sensor with the loop untracked, the sensor with the loop tracked, one audit rule) for C
 *    loops that time themselves (bench/fixtures/syscall-loop.c): getppid and pipe write+read,
 *    which the targets are set on, and openat+close, which the sensor reports one by one.
 *    Configurations are interleaved and rotated per repetition so drift spreads over all of
 *    them; the numbers are medians of the loop thread's CPU time, which other tenants of a
 *    shared VM do not inflate (the elapsed time is kept in the JSON).
 * 2. A small coding-agent task (bench/fixtures/agent-task.sh: git and node --test), timed by
 *    bench/fixtures/run-timed.c, with no sensor, tracked by a bare helper, and under
 *    `vigil exec` against a running, warmed-up `vigil sensor`, rotated per repetition: wall and
 *    CPU time of the task, and the helper's and the service's RSS and CPU while they track it.
 *
 * A sys_enter program of someone else (a test run on the same machine) charges every syscall:
 * samples taken while one was attached are repeated. It reports and never asserts: a missed
 * target still exits 0. Results: bench/results/sensor.json.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isVigilError } from "../src/errors.js";
import { controlRequest } from "../src/sensor/control-server.js";
import { type HelperOptions, HelperProcess } from "../src/sensor/helper-process.js";
import type { StatsFrame } from "../src/sensor/wire.js";
import { createSilentLogger } from "../src/telemetry/logger.js";
import { machineInfo, writeResults } from "./lib/results.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const HELPER = join(REPO, "bpf", "build", "vigil-bpf");
const CLI = join(REPO, "src", "cli", "main.ts");
const FIXTURES = join(REPO, "bench", "fixtures");
const RESULTS = join(REPO, "bench", "results", "sensor.json");
const SENSOR_OPTIONS: HelperOptions = {
  path: HELPER,
  ngram: 3,
  ngramMapEntries: 65536,
  flowMapEntries: 16384,
  ringbufBytes: 4194304,
  reportUntrackedExecs: true,
};
const WORKLOADS = ["getppid", "pipe", "open"] as const;
type Workload = (typeof WORKLOADS)[number];
/** The targets are set on these; open shows what a reported syscall costs on top. */
const TARGET_WORKLOADS: readonly Workload[] = ["getppid", "pipe"];
/** Syscalls per iteration, and the share of --syscalls each loop makes (open: 1 event per 2). */
const LOOP: Record<Workload, { perIteration: number; share: number; title: string }> = {
  getppid: { perIteration: 1, share: 1, title: "getppid" },
  pipe: { perIteration: 2, share: 1, title: "pipe w+r" },
  open: { perIteration: 2, share: 0.25, title: "open+close" },
};
const CONFIGS = ["baseline", "floor", "untracked", "tracked", "audit"] as const;
type Config = (typeof CONFIGS)[number];
const LABEL: Record<Config, string> = {
  baseline: "no sensor (baseline)",
  floor: "empty sys_enter (floor)",
  untracked: "sensor, loop untracked",
  tracked: "sensor, loop tracked",
  audit: "audit rule -S execve",
};
/** How many sys_enter programs each configuration attaches itself. */
const OWN_HOOKS: Record<Config, number> = {
  baseline: 0,
  floor: 1,
  untracked: 1,
  tracked: 1,
  audit: 0,
};
const AUDIT_RULE = ["-a", "always,exit", "-F", "arch=b64", "-S", "execve"];
const AGENT_TYPE = "bench-agent";

// ---------- cleanup: every child and the audit rule go away, even on error or SIGINT ----------

/** Kill functions of everything still running, by pid. */
const live = new Map<number, () => void>();
const undo = new Map<string, () => void>();

type Child = ReturnType<typeof start>;

/** Spawns in its own process group, so cleanup also reaches whatever it started. */
function start(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(cmd, args, { ...opts, detached: true, stdio: ["pipe", "pipe", "pipe"] });
  const pid = child.pid ?? -1;
  live.set(pid, () => {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr = (stderr + s).slice(-16000);
  });
  child.stdin.on("error", () => {});
  const closed = new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
    child.on("error", (e) => {
      stderr += e.message;
    });
    child.on("close", (code) => {
      live.delete(pid);
      res({ code, stdout, stderr });
    });
  });
  return { child, pid, closed, output: () => ({ stdout, stderr }) };
}

async function stopChild(c: Child, how: NodeJS.Signals | "stdin"): Promise<void> {
  if (how === "stdin") c.child.stdin.end();
  else c.child.kill(how);
  const timer = setTimeout(() => c.child.kill("SIGKILL"), 10_000);
  await c.closed;
  clearTimeout(timer);
}

function cleanupNow(): void {
  for (const kill of live.values()) kill();
  live.clear();
  for (const [what, fn] of undo) {
    try {
      fn();
    } catch (e) {
      process.stderr.write(`bench: cleanup of ${what} failed: ${(e as Error).message}\n`);
    }
  }
  undo.clear();
}

// ---------- small utilities ----------

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = s[Math.floor(i)] ?? Number.NaN;
  const hi = s[Math.ceil(i)] ?? Number.NaN;
  return lo + (hi - lo) * (i - Math.floor(i));
}
const median = (xs: number[]) => quantile(xs, 0.5);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const auditctl = (...args: string[]) => execFileSync("auditctl", args, { encoding: "utf8" });

function compile(dir: string, name: string): string {
  const bin = join(dir, name);
  execFileSync("cc", ["-O2", "-o", bin, join(FIXTURES, `${name}.c`)]);
  return bin;
}

/** CPU time of every thread of pid (schedstat: ns, not clock ticks), RSS and peak RSS. */
function procUsage(pid: number): { cpuMs: number; rssKiB: number; hwmKiB: number } {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
  }
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  return { cpuMs: ns / 1e6, rssKiB: kib("VmRSS"), hwmKiB: kib("VmHWM") };
}

/** CPU mitigations change every absolute number here (calls and returns cost more). */
function mitigations(): Record<string, string> {
  const dir = "/sys/devices/system/cpu/vulnerabilities";
  const out: Record<string, string> = {};
  for (const name of ["spectre_v2", "retbleed", "spec_rstack_overflow"]) {
    try {
      out[name] = readFileSync(join(dir, name), "utf8").trim();
    } catch {
      // not reported by this kernel
    }
  }
  return out;
}

/**
 * sys_enter programs attached on the host, or -1 without bpftool. Every one charges every
 * syscall, so one that is not ours (another sensor or a test run on the same machine) spoils a
 * sample: the bench checks the count around each sample and repeats a spoiled one.
 */
function sysEnterHooks(): number {
  try {
    const links = JSON.parse(execFileSync("bpftool", ["link", "show", "-j"], { encoding: "utf8" }));
    return (links as { tp_name?: string }[]).filter((l) => l.tp_name === "sys_enter").length;
  } catch {
    return -1;
  }
}

/**
 * Runs `sample` until no foreign sys_enter hook was attached around it (or gives up). `sample`
 * calls its argument just before it starts; that check also makes sure that our own hooks are
 * attached, so a configuration cannot silently measure nothing.
 */
async function clean<T>(expected: number, sample: (check: () => void) => Promise<T>) {
  for (let attempt = 1; ; attempt++) {
    let foreign = false;
    const check = (before: boolean) => {
      const n = sysEnterHooks();
      if (n < 0) return;
      if (before && n < expected) {
        throw new Error(`${n} sys_enter programs attached, expected at least ${expected}`);
      }
      if (n > expected) foreign = true;
    };
    const value = await sample(() => check(true));
    check(false);
    if (!foreign) return { value, attempts: attempt, foreign };
    if (attempt === 5) return { value, attempts: attempt, foreign };
    await sleep(1000 * attempt);
  }
}

// ---------- part 1: ns per syscall ----------

interface Session {
  /** Called with the loop's pid before it is released. */
  beforeGo?: (pid: number) => Promise<void>;
  close(): Promise<void>;
}

/** What each helper said about itself when it stopped: events sent and drops by reason. */
const helperReports: { session: string; events: number; drops: Record<string, number> }[] = [];

async function openHelper(session: string) {
  let died: string | undefined;
  let stats: StatsFrame | undefined;
  let drained: () => void = () => {};
  const helper = await HelperProcess.open(
    SENSOR_OPTIONS,
    (item) => {
      if (item.kind === "stats") stats = item;
      else if (item.kind === "drain-end") drained();
    },
    (exit) => {
      if (!exit.expected) died = `code ${exit.code} signal ${exit.signal}: ${exit.stderrTail}`;
    },
    createSilentLogger(),
  );
  live.set(helper.pid, () => helper.kill());
  return {
    helper,
    /** Drains once for the helper's counters, then stops it. */
    stop: async () => {
      let timer: NodeJS.Timeout | undefined;
      const done = new Promise<void>((r) => {
        drained = r;
        timer = setTimeout(r, 5000);
      });
      if (!died) helper.drain(1);
      await done;
      clearTimeout(timer);
      await helper.stop();
      live.delete(helper.pid);
      if (died) throw new Error(`the BPF helper died during the run (${died})`);
      if (stats) helperReports.push({ session, events: stats.events, drops: stats.drops });
    },
  };
}

async function openSession(config: Config): Promise<Session> {
  switch (config) {
    case "baseline":
      return { close: async () => {} };
    case "floor": {
      const floor = start(HELPER, ["floor"]);
      await Promise.race([
        new Promise((r) => floor.child.stdout.once("data", r)),
        floor.closed.then((c) => {
          throw new Error(`vigil-bpf floor exited (${c.code}): ${c.stderr.trim()}`);
        }),
      ]);
      return { close: () => stopChild(floor, "stdin") };
    }
    case "untracked": {
      // The hooks attach only while something is tracked: track a bystander, not the loop.
      const { helper, stop } = await openHelper(config);
      const bystander = start("sleep", ["1000"]);
      await helper.track(bystander.pid, 1);
      return {
        close: async () => {
          await stop();
          await stopChild(bystander, "SIGKILL");
        },
      };
    }
    case "tracked": {
      const { helper, stop } = await openHelper(config);
      let instance = 1;
      return {
        beforeGo: async (pid) => {
          if ((await helper.track(pid, instance++)) < 1) throw new Error("tracked no thread");
        },
        close: stop,
      };
    }
    case "audit": {
      // The loop starts after the rule is in, so it gets an audit context like any new task.
      const wasEnabled = /^enabled\s+[12]/m.test(auditctl("-s"));
      undo.set("audit rule", () => {
        auditctl("-D");
        if (!wasEnabled) auditctl("-e", "0");
      });
      if (!wasEnabled) auditctl("-e", "1");
      auditctl(...AUDIT_RULE);
      return {
        close: async () => {
          undo.get("audit rule")?.();
          undo.delete("audit rule");
        },
      };
    }
  }
}

interface LoopSample {
  cpuNs: number;
  wallNs: number;
  /** runs it took to get one with no foreign sys_enter hook around it */
  attempts?: number;
  /** a foreign hook was still there after the last attempt */
  foreign?: boolean;
}

async function runLoop(
  bin: string,
  w: Workload,
  p: Params,
  s: Session,
  check: () => void = () => {},
): Promise<LoopSample> {
  const iterations = Math.round((p.syscalls * LOOP[w].share) / LOOP[w].perIteration);
  const loop = start(bin, [w, String(iterations), String(p.cpu)]);
  if (s.beforeGo) await s.beforeGo(loop.pid);
  check();
  loop.child.stdin.end("g");
  const { code, stdout, stderr } = await loop.closed;
  const [wall, cpu, n] = stdout.trim().split(" ").map(Number);
  if (code !== 0 || !wall || !cpu || !n) {
    throw new Error(`syscall-loop ${w} failed (${code}): ${stderr.trim()}`);
  }
  return { cpuNs: cpu / n, wallNs: wall / n };
}

/** Why audit cannot be compared, if it cannot: auditctl fails, or someone's rules are loaded. */
function auditProblem(): string | undefined {
  try {
    const rules = auditctl("-l").trim();
    if (rules !== "No rules") return `audit rules already loaded (${rules.split("\n").length})`;
    return undefined;
  } catch (e) {
    return `auditctl does not work: ${(e as Error).message.split("\n")[0]}`;
  }
}

type Samples = Map<Config, Record<Workload, LoopSample[]>>;

async function measureSyscalls(dir: string, p: Params, configs: readonly Config[]) {
  const bin = compile(dir, "syscall-loop");
  const samples: Samples = new Map(configs.map((c) => [c, { getppid: [], pipe: [], open: [] }]));
  const none: Session = { close: async () => {} };
  for (const w of WORKLOADS) await runLoop(bin, w, p, none); // warm-up
  process.stdout.write(`syscall loops: ${p.reps} repetitions x ${configs.length} configurations `);
  for (let rep = 0; rep < p.reps; rep++) {
    // Rotate the order so that no configuration always runs first or after the same one.
    for (let i = 0; i < configs.length; i++) {
      const config = configs[(i + rep) % configs.length] as Config;
      const session = await openSession(config);
      try {
        for (const w of WORKLOADS) {
          const r = await clean(OWN_HOOKS[config], (check) => runLoop(bin, w, p, session, check));
          samples.get(config)?.[w].push({ ...r.value, attempts: r.attempts, foreign: r.foreign });
        }
      } finally {
        await session.close();
      }
    }
    process.stdout.write(".");
  }
  process.stdout.write("\n");
  return samples;
}

// ---------- part 2: the agent task ----------

const TASK_MODES = ["none", "helper", "service"] as const;
type TaskMode = (typeof TASK_MODES)[number];
const TASK_LABEL: Record<TaskMode, string> = {
  none: "no sensor",
  helper: "helper only, task tracked (frames decoded by the bench)",
  service: "vigil sensor, task under vigil exec",
};

interface TaskRun {
  rep: number;
  mode: TaskMode;
  wallMs: number;
  /** user + system CPU of the task's whole process tree */
  cpuMs: number;
  helperCpuMs?: number;
  helperRssKiB?: number;
  helperHwmKiB?: number;
  serviceCpuMs?: number;
  serviceRssKiB?: number;
  /** helper mode: CPU of this bench process, which decodes the helper's frames */
  decoderCpuMs?: number;
  syscallsSeen?: number;
  execsSeen?: number;
  opensSeen?: number;
  attempts?: number;
  foreign?: boolean;
}

interface TaskEnv {
  dir: string;
  template: string;
  timer: string;
  runs: number;
}

/** How the task starts: plainly, under `vigil exec`, or paused until `track` has tagged it. */
type Launch = { sock: string } | { track: (pid: number) => Promise<unknown> } | undefined;

async function runTask(t: TaskEnv, launch?: Launch) {
  t.runs += 1;
  const work = join(t.dir, `work-${t.runs}`);
  const task = [t.timer, "/bin/sh", join(FIXTURES, "agent-task.sh"), "run", t.template, work];
  const env = { ...process.env, NODE_BIN: process.execPath };
  let run: Child;
  if (launch && "sock" in launch) {
    const vigilExec = ["--import", "tsx", CLI, "exec", "--user", "root", "--socket", launch.sock];
    const args = [...vigilExec, "--agent-type", AGENT_TYPE, "--", ...task];
    run = start(process.execPath, args, { cwd: REPO, env });
  } else if (launch) {
    run = start("/bin/sh", ["-c", 'read go && exec "$@"', "sh", ...task], { cwd: t.dir, env });
    await launch.track(run.pid);
    run.child.stdin.end("g\n");
  } else {
    run = start(task[0] as string, task.slice(1), { cwd: t.dir, env });
  }
  const { code, stdout, stderr } = await run.closed;
  const m = /^vigil-bench-timing (\d+) (\d+) 0$/m.exec(stdout);
  if (code !== 0 || !m) throw new Error(`the agent task failed (${code}): ${stderr.trim()}`);
  return { wallMs: Number(m[1]) / 1e6, cpuMs: Number(m[2]) / 1e6 };
}

async function startService(t: TaskEnv, rep: number) {
  const sock = join(t.dir, `sensor-${rep}.sock`);
  const out = join(t.dir, `windows-${rep}.jsonl`);
  const args = ["sensor", "--control-socket", sock, "--output", `jsonl:${out}`];
  const service = start(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: REPO });
  for (let i = 0; ; i++) {
    const m = /"helperPid":(\d+)/.exec(service.output().stderr);
    if (m && existsSync(sock) && (await controlRequest(sock, { op: "status" }).catch(() => 0))) {
      return { service, sock, out, helperPid: Number(m[1]) };
    }
    if (service.child.exitCode !== null || i > 400) {
      await stopChild(service, "SIGKILL");
      throw new Error(`vigil sensor did not start: ${service.output().stderr.trim()}`);
    }
    await sleep(50);
  }
}

/** The sensor's view of what it tracked: syscalls and execs summed over the agent's windows. */
function windowTotals(out: string, pid: number) {
  const totals = { syscalls: 0, execs: 0, opens: 0 };
  if (!existsSync(out)) return totals;
  for (const line of readFileSync(out, "utf8").split("\n")) {
    if (!line) continue;
    const w = JSON.parse(line) as {
      agentType: string;
      pid: number;
      syscalls: { total: number };
      execs: { count: number }[];
      files: { count: number }[];
    };
    if (w.agentType !== AGENT_TYPE || w.pid !== pid) continue;
    totals.syscalls += w.syscalls.total;
    totals.execs += w.execs.reduce((a, e) => a + e.count, 0);
    totals.opens += w.files.reduce((a, f) => a + f.count, 0);
  }
  return totals;
}

/** One measured run with the helper's (and the service's) CPU and memory around it. */
function measured(helperPid: number, servicePid: number | undefined, launch: Launch) {
  return async (t: TaskEnv) => {
    const h0 = procUsage(helperPid);
    // Without the service, this process decodes the helper's frames: its CPU is that cost.
    const s0 = servicePid ? procUsage(servicePid).cpuMs : process.cpuUsage();
    const task = await runTask(t, launch);
    const h1 = procUsage(helperPid);
    const usage = {
      ...task,
      helperCpuMs: h1.cpuMs - h0.cpuMs,
      helperRssKiB: h1.rssKiB,
      helperHwmKiB: h1.hwmKiB,
    };
    if (typeof s0 !== "number") {
      const d = process.cpuUsage(s0);
      return { ...usage, decoderCpuMs: (d.user + d.system) / 1000 };
    }
    const s1 = procUsage(servicePid as number);
    return { ...usage, serviceCpuMs: s1.cpuMs - s0, serviceRssKiB: s1.rssKiB };
  };
}

async function runServiceTask(t: TaskEnv, rep: number): Promise<TaskRun> {
  const { service, sock, out, helperPid } = await startService(t, rep);
  try {
    // A long-running service is warm: one run first, so start-up JIT is not billed to the task.
    await runTask(t, { sock });
    const run = measured(helperPid, service.pid, { sock });
    const r = await clean(OWN_HOOKS.tracked, () => run(t));
    await stopChild(service, "SIGINT"); // flushes the last windows
    const tracked = service.output().stderr.matchAll(/"msg":"tracking agent".*"pid":(\d+)/g);
    const seen = windowTotals(out, Number([...tracked].at(-1)?.[1] ?? -1));
    if (seen.syscalls === 0) throw new Error("vigil sensor wrote no window for the tracked task");
    return {
      rep,
      mode: "service",
      ...r.value,
      syscallsSeen: seen.syscalls,
      execsSeen: seen.execs,
      opensSeen: seen.opens,
      attempts: r.attempts,
      foreign: r.foreign,
    };
  } finally {
    if (service.child.exitCode === null) await stopChild(service, "SIGINT");
  }
}

async function runHelperTask(t: TaskEnv, rep: number): Promise<TaskRun> {
  const { helper, stop } = await openHelper("agent task");
  try {
    let instance = 1;
    const run = measured(helper.pid, undefined, { track: (pid) => helper.track(pid, instance++) });
    const r = await clean(OWN_HOOKS.tracked, () => run(t));
    return { rep, mode: "helper", ...r.value, attempts: r.attempts, foreign: r.foreign };
  } finally {
    await stop();
  }
}

async function runPlainTask(t: TaskEnv, rep: number): Promise<TaskRun> {
  const r = await clean(0, async (check) => {
    check();
    return runTask(t);
  });
  return { rep, mode: "none", ...r.value, attempts: r.attempts, foreign: r.foreign };
}

async function measureAgentTask(dir: string, p: Params): Promise<TaskRun[]> {
  const t: TaskEnv = {
    dir,
    template: join(dir, "template"),
    timer: compile(dir, "run-timed"),
    runs: 0,
  };
  execFileSync("/bin/sh", [join(FIXTURES, "agent-task.sh"), "setup", t.template]);
  await runTask(t);
  const modes = { none: runPlainTask, helper: runHelperTask, service: runServiceTask };
  const runs: TaskRun[] = [];
  process.stdout.write(`agent task: ${p.taskReps} repetitions x ${TASK_MODES.length} `);
  for (let rep = 0; rep < p.taskReps; rep++) {
    // Rotate which one goes first, so a slow drift does not favour any.
    for (let i = 0; i < TASK_MODES.length; i++) {
      const mode = TASK_MODES[(i + rep) % TASK_MODES.length] as TaskMode;
      runs.push(await modes[mode](t, rep));
    }
    process.stdout.write(".");
  }
  process.stdout.write("\n");
  return runs;
}

// ---------- report ----------

interface Params {
  reps: number;
  taskReps: number;
  syscalls: number;
  cpu: number;
  nproc: number;
}

interface Cell {
  /** ns per syscall of the loop thread's CPU time, one per repetition */
  samples: number[];
  median: number;
  min: number;
  max: number;
  /** interquartile range */
  iqr: number;
  /** median - baseline median */
  added: number;
  /** added / floor added; null for the baseline and the floor themselves */
  ratioVsFloor: number | null;
  /** the same from elapsed (CLOCK_MONOTONIC) time, which includes time other tasks took */
  elapsed: { samples: number[]; median: number; added: number };
}

type Table = Map<Config, Record<Workload, Cell>>;

function summarize(samples: Samples): Table {
  const table: Table = new Map();
  const med = (c: Config, w: Workload, k: "cpuNs" | "wallNs") =>
    median((samples.get(c)?.[w] ?? []).map((s) => s[k]));
  for (const [c, row] of samples) {
    const cells = {} as Record<Workload, Cell>;
    for (const w of WORKLOADS) {
      const cpu = row[w].map((s) => s.cpuNs);
      const added = med(c, w, "cpuNs") - med("baseline", w, "cpuNs");
      const floorAdded = med("floor", w, "cpuNs") - med("baseline", w, "cpuNs");
      cells[w] = {
        samples: cpu,
        median: median(cpu),
        min: Math.min(...cpu),
        max: Math.max(...cpu),
        iqr: quantile(cpu, 0.75) - quantile(cpu, 0.25),
        added,
        ratioVsFloor: c === "baseline" || c === "floor" ? null : added / floorAdded,
        elapsed: {
          samples: row[w].map((s) => s.wallNs),
          median: med(c, w, "wallNs"),
          added: med(c, w, "wallNs") - med("baseline", w, "wallNs"),
        },
      };
    }
    table.set(c, cells);
  }
  return table;
}

/**
 * Overhead in % as the median of per-repetition ratios to the no-sensor run of the same
 * repetition (they ran seconds apart, so drift cancels), with the notch half-width
 * 1.58 * IQR / sqrt(n): a rough 95 % interval of that median.
 */
function pairedOverhead(rs: TaskRun[], none: TaskRun[], k: "wallMs" | "cpuMs") {
  const ratios = rs.map((r) => r[k] / (none.find((o) => o.rep === r.rep)?.[k] ?? Number.NaN));
  const iqr = quantile(ratios, 0.75) - quantile(ratios, 0.25);
  return { pct: (median(ratios) - 1) * 100, ci: ((1.58 * iqr) / Math.sqrt(ratios.length)) * 100 };
}

/**
 * What the kernel side should cost the task, from part 1: every syscall pays the tracked
 * getppid cost; an openat+close pair adds twice the open loop's per-syscall cost, and what is
 * left of that after both syscalls' common cost is the price of one open event.
 */
function hookEstimate(table: Table, syscalls: number, opens: number, wallMs: number) {
  const perSyscall = table.get("tracked")?.getppid.added ?? Number.NaN;
  const perOpen = 2 * ((table.get("tracked")?.open.added ?? Number.NaN) - perSyscall);
  const ms = (syscalls * perSyscall + opens * perOpen) / 1e6;
  return { perSyscallNs: perSyscall, perOpenEventNs: perOpen, ms, pctOfWall: (ms / wallMs) * 100 };
}

function summarizeTask(runs: TaskRun[], table: Table) {
  const of = (m: TaskMode) => runs.filter((r) => r.mode === m);
  const med = (rs: TaskRun[], k: keyof TaskRun) => median(rs.map((r) => Number(r[k])));
  const none = of("none");
  const row = (m: TaskMode) => {
    const rs = of(m);
    return {
      wallMs: med(rs, "wallMs"),
      cpuMs: med(rs, "cpuMs"),
      wall: pairedOverhead(rs, none, "wallMs"),
      cpu: pairedOverhead(rs, none, "cpuMs"),
      /** ratio of the medians, for comparison: it does not cancel drift */
      wallMediansPct: (med(rs, "wallMs") / med(none, "wallMs") - 1) * 100,
    };
  };
  const svc = of("service");
  const wall = med(svc, "wallMs");
  const syscalls = med(svc, "syscallsSeen");
  return {
    modes: { none: row("none"), helper: row("helper"), service: row("service") },
    helper: {
      cpuMs: med(svc, "helperCpuMs"),
      cpuPctOfWall: (med(svc, "helperCpuMs") / wall) * 100,
      rssMiB: med(svc, "helperRssKiB") / 1024,
      peakRssMiB: med(svc, "helperHwmKiB") / 1024,
    },
    service: {
      cpuMs: med(svc, "serviceCpuMs"),
      cpuPctOfWall: (med(svc, "serviceCpuMs") / wall) * 100,
      rssMiB: med(svc, "serviceRssKiB") / 1024,
    },
    decoderCpuMs: med(of("helper"), "decoderCpuMs"),
    seen: { syscalls, execs: med(svc, "execsSeen"), opens: med(svc, "opensSeen") },
    /** what the kernel hooks should cost the task, from the syscall and open counts */
    hookEstimate: hookEstimate(table, syscalls, med(svc, "opensSeen"), wall),
  };
}
type TaskSummary = ReturnType<typeof summarizeTask>;

interface Target {
  name: string;
  value: string;
  pass: boolean | null;
}

function evaluate(table: Table, task: TaskSummary): Target[] {
  const targets: Target[] = [];
  for (const w of TARGET_WORKLOADS) {
    const u = table.get("untracked")?.[w];
    const t = table.get("tracked")?.[w];
    const audit = table.get("audit")?.[w].added;
    const ur = u?.ratioVsFloor ?? Number.NaN;
    const tr = t?.ratioVsFloor ?? Number.NaN;
    targets.push(
      { name: `${w}: untracked-added / floor-added <= 1.3`, value: fmt(ur, 2), pass: ur <= 1.3 },
      { name: `${w}: tracked-added / floor-added <= 2.5`, value: fmt(tr, 2), pass: tr <= 2.5 },
      {
        name: `${w}: untracked and tracked added < audit added`,
        value: `${signed(u?.added)} / ${signed(t?.added)} vs ${signed(audit)} ns`,
        pass: audit === undefined || !u || !t ? null : u.added < audit && t.added < audit,
      },
    );
  }
  const svc = task.modes.service.wall;
  targets.push({
    name: "agent task wall-time overhead <= +1 %",
    value: `${signed(svc.pct, 2)} ± ${fmt(svc.ci, 2)} %${Math.abs(svc.pct - 1) < svc.ci ? " (the interval straddles the target: inconclusive)" : ""}`,
    pass: svc.pct <= 1,
  });
  return targets;
}

const fmt = (x: number | null | undefined, d = 1) =>
  x === null || x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d);
const signed = (x: number | undefined, d = 1) => `${(x ?? 0) >= 0 ? "+" : ""}${fmt(x, d)}`;
const verdict = (ok: boolean | null) => (ok === null ? "n/a " : ok ? "PASS" : "MISS");

function render(p: Params, table: Table, task: TaskSummary, targets: Target[]): string {
  const cols = [26, ...WORKLOADS.flatMap(() => [14, 6, 5])];
  const heads = WORKLOADS.map(
    (w) => `${LOOP[w].title}${TARGET_WORKLOADS.includes(w) ? "" : "*"} ns`,
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(cols[0] ?? 0) : c.padStart(cols[i] ?? 0))).join(" | ");
  const loops = WORKLOADS.map(
    (w) => `${LOOP[w].title} ${(p.syscalls * LOOP[w].share).toLocaleString("en")}`,
  );
  const out = [
    "",
    `ns per syscall, from the loop thread's CPU time: median ± half the IQR of ${p.reps} runs (${loops.join(", ")} syscalls a run; pinned to CPU ${p.cpu} of ${p.nproc})`,
    line(["configuration", ...heads.flatMap((h) => [h, "added", "/flr"])]),
    cols.map((n) => "-".repeat(n)).join("-|-"),
  ];
  for (const [c, row] of table) {
    const cells = [LABEL[c]];
    for (const w of WORKLOADS) {
      const s = row[w];
      cells.push(
        `${fmt(s.median)} ±${fmt(s.iqr / 2)}`,
        c === "baseline" ? "-" : signed(s.added, 0),
        fmt(s.ratioVsFloor, 2),
      );
    }
    out.push(line(cells));
  }
  out.push(
    "  /flr = added / floor added. * open is not in the targets: it shows what a syscall the sensor reports one by one costs (the path copied into a ring-buffer event)",
  );
  const ms = (x: number) => `${fmt(x, 0)} ms`.padStart(8);
  out.push(
    "",
    `agent task (git + node --test): median of ${p.taskReps} runs each, rotated; wall and CPU (user+sys of the task's process tree)`,
  );
  for (const m of TASK_MODES) {
    const r = task.modes[m];
    const vs = (o: { pct: number; ci: number }) =>
      m === "none" ? "" : ` ${signed(o.pct, 2)} ± ${fmt(o.ci, 2)} %`.padEnd(18);
    out.push(
      `  ${TASK_LABEL[m].padEnd(56)} wall ${ms(r.wallMs)}${vs(r.wall)}  cpu ${ms(r.cpuMs)}${vs(r.cpu)}`,
    );
  }
  out.push(
    `  the sensor counted ${fmt(task.seen.syscalls, 0)} syscalls, ${fmt(task.seen.opens, 0)} opens and ${fmt(task.seen.execs, 0)} execs per task: at the costs above (${fmt(task.hookEstimate.perSyscallNs, 0)} ns a syscall, ${fmt(task.hookEstimate.perOpenEventNs, 0)} ns more an open) the hooks cost it ${fmt(task.hookEstimate.ms)} ms = ${fmt(task.hookEstimate.pctOfWall, 2)} %`,
    `  helper while tracking: RSS ${fmt(task.helper.rssMiB)} MiB (peak ${fmt(task.helper.peakRssMiB)} MiB), CPU ${fmt(task.helper.cpuMs)} ms = ${fmt(task.helper.cpuPctOfWall, 2)} % of the task's wall time`,
    `  service (node) while tracking: RSS ${fmt(task.service.rssMiB)} MiB, CPU ${fmt(task.service.cpuMs)} ms = ${fmt(task.service.cpuPctOfWall, 1)} % of the task's wall time (decoding the frames alone: ${fmt(task.decoderCpuMs)} ms)`,
    "",
    "targets:",
  );
  for (const t of targets) out.push(`  ${verdict(t.pass)}  ${t.name.padEnd(48)} ${t.value}`);
  return out.join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      reps: { type: "string", default: "11" },
      "task-reps": { type: "string", default: "15" },
      syscalls: { type: "string", default: "2000000" },
    },
  });
  if (process.getuid?.() !== 0) {
    process.stderr.write("bench:sensor needs root (BPF, audit): run `sudo npm run bench:sensor`\n");
    return 1;
  }
  if (!existsSync(HELPER)) {
    process.stderr.write(`bench:sensor: ${HELPER} is missing: run \`make -C bpf\`\n`);
    return 1;
  }
  const nproc = availableParallelism();
  const p: Params = {
    reps: Number(values.reps),
    taskReps: Number(values["task-reps"]),
    syscalls: Number(values.syscalls),
    cpu: nproc - 1,
    nproc,
  };
  const began = Date.now();
  const loadBefore = loadavg();
  const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
  undo.set("temp dir", () => rmSync(dir, { recursive: true, force: true }));
  const notes: string[] = [];
  const noAudit = auditProblem();
  if (noAudit) notes.push(`audit configuration skipped: ${noAudit}`);

  if (sysEnterHooks() < 0) notes.push("bpftool missing: foreign sys_enter hooks not detected");
  const samples = await measureSyscalls(
    dir,
    p,
    noAudit ? CONFIGS.filter((c) => c !== "audit") : CONFIGS,
  );
  const table = summarize(samples);
  const runs = await measureAgentTask(dir, p);
  const all = [...[...samples.values()].flatMap((r) => WORKLOADS.flatMap((w) => r[w])), ...runs];
  const repeated = all.filter((x) => (x.attempts ?? 1) > 1).length;
  const spoiled = all.filter((x) => x.foreign).length;
  const drops: Record<string, number> = {};
  for (const r of helperReports) {
    for (const [k, v] of Object.entries(r.drops)) drops[k] = (drops[k] ?? 0) + v;
  }
  const lost = Object.entries(drops).filter(([k, v]) => v > 0 && k !== "string_unreadable");
  if (lost.length) {
    notes.push(
      `the helpers dropped data (${lost.map(([k, v]) => `${k} ${v}`).join(", ")}): a run that drops does less work, so its cost is understated`,
    );
  }
  if (repeated) {
    notes.push(
      `${repeated} samples were repeated because another sys_enter program (not this bench's) was attached; ${spoiled} kept one after 5 tries`,
    );
  }
  const task = summarizeTask(runs, table);
  const targets = evaluate(table, task);
  const loadAfter = loadavg();
  if (Math.max(loadBefore[0] ?? 0, loadAfter[0] ?? 0) > 0.5) {
    notes.push(
      `the machine was busy (load ${fmt(loadBefore[0], 2)} before, ${fmt(loadAfter[0], 2)} after): wall times are noisy, CPU times less so`,
    );
  }
  process.stdout.write(`${render(p, table, task, targets)}\n`);
  for (const n of notes) process.stdout.write(`  note: ${n}\n`);
  const durationS = (Date.now() - began) / 1000;
  process.stdout.write(`(took ${fmt(durationS, 0)} s; written to bench/results/sensor.json)\n`);

  const result = {
    bench: "sensor",
    date: new Date().toISOString(),
    machine: {
      ...machineInfo(),
      mitigations: mitigations(),
      loadavg1m: { before: loadBefore[0], after: loadAfter[0] },
    },
    params: { ...p, helper: SENSOR_OPTIONS, auditRule: AUDIT_RULE.join(" ") },
    unit: "ns per syscall, from the loop thread's CPU time",
    syscalls: Object.fromEntries(table),
    agentTask: { ...task, runs },
    targets,
    notes,
    helperReports,
    durationS,
  };
  writeResults(RESULTS, result, REPO);
  return 0;
}

for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
  ["SIGHUP", 129],
] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench:sensor: ${signal}, cleaning up\n`);
    cleanupNow();
    process.exit(code);
  });
}
main()
  .then((code) => {
    process.exitCode = code;
  })
  .catch((e: unknown) => {
    const msg = isVigilError(e) ? e.toUserString() : ((e as Error).stack ?? String(e));
    process.stderr.write(`bench:sensor failed: ${msg}\n`);
    process.exitCode = 1;
  })
  .finally(cleanupNow);
