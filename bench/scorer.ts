/**
 * `npm run bench:scorer`: what the scorer does per core, how long an anomalous action takes to
 * become an Alertmanager alert with the live sensor, and how much memory `vigil run` holds.
 *
 * Part 1, scoring per core. Models of both families are trained here with `trainModel` on a
 * capture of realistic windows (~200 distinct syscall trigrams, execs, files, network). Windows
 * then go the scorer's real path: published on an embedded nats-server, consumed by
 * `Scorer.start` (parts built as src/scorer/service.ts builds them: ModelRegistry on the models
 * directory with ONNX Runtime on ONE thread, Sampler at rate 1, explain, AlertState). A window
 * counts as scored when the scorer hands it to the alert state (after ONNX and explanation).
 * For batch 1 and the default 64: the drain rate of a full stream, the CPU it costs, the same
 * through `Scorer.handle` without the bus, and publish -> scored latency at a light and at a
 * loaded rate.
 *
 * Part 2, detection latency with the live sensor. `vigil run` (embedded NATS, eBPF sensor,
 * scorer, Alertmanager outbox) runs as a child with 1 s windows. Benign agents of type
 * bench-agent (short-lived `vigil exec` instances of a shell loop over a temp workspace) run
 * until learning mode has trained and promoted a model. Then each trial starts a new instance
 * of that type that does the same benign work, connects to a loopback listener on a new port
 * with curl (or nc) and reads a fake ~/.ssh key in a throwaway HOME; the time from the
 * listener's accept to the alert (matched by agent_id) in Alertmanager's GET /api/v2/alerts,
 * polled every 20 ms, is the detection latency. Target: p99 <= window + 1 s.
 *
 * Part 3, memory: VmRSS of the `vigil run` process idle, after learning and after the trials,
 * its children (nats-server, vigil-bpf), and a `vigil scorer` process alone.
 *
 * It reports; it never asserts. Results: bench/results/scorer.json.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { EmbeddedNats } from "../src/bus/embedded-nats.js";
import { NatsBus, STREAMS } from "../src/bus/nats-bus.js";
import { encodeMessage, type WindowRecord, windowsSubject } from "../src/contracts/index.js";
import { freePort } from "../src/free-port.js";
import { type AlertObservation, AlertState } from "../src/scorer/alert-state.js";
import { explain } from "../src/scorer/explain.js";
import { ModelRegistry } from "../src/scorer/registry.js";
import { Sampler } from "../src/scorer/sampler.js";
import { Scorer } from "../src/scorer/scorer.js";
import { createSilentLogger } from "../src/telemetry/logger.js";
import { createBusMetrics, createScorerMetrics } from "../src/telemetry/metrics.js";
import { AGENT, benign, writeCapture } from "../test/helpers/agent-windows.js";
import { startAlertmanager, type TestAlertmanager } from "../test/helpers/alertmanager.js";
import { prng } from "../training/random.js";
import { trainModel } from "../training/train.js";
import { machineInfo, writeResults } from "./lib/results.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const RESULTS = join(REPO, "bench", "results", "scorer.json");
const TSX = import.meta.resolve("tsx");
const CLI = join(REPO, "src", "cli", "main.ts");
const HOST = "bench-host";
const FAMILIES = ["autoencoder", "next-syscall"] as const;
const BATCHES = [1, 64] as const;
const BATCH_DELAY_MS = 20;
const TRAIN_WINDOWS = 800;
const LIGHT_RATE = 20;
/** 1,000 agents at the default 5 s window; the publisher shares this process's event loop. */
const LOADED_RATE = 200;
const PACED_SECONDS = 5;
const E2E_TYPE = "bench-agent";
const WINDOW_SECONDS = 1;

const logger = createSilentLogger();
const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`bench:scorer: ${s}\n`);

// ---------- statistics, processes ----------

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const i = (s.length - 1) * q;
  const lo = s[Math.floor(i)] as number;
  const hi = s[Math.ceil(i)] as number;
  return lo + (hi - lo) * (i - Math.floor(i));
}

interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const percentiles = (xs: readonly number[]): Percentiles => ({
  n: xs.length,
  p50: quantile(xs, 0.5),
  p90: quantile(xs, 0.9),
  p99: quantile(xs, 0.99),
  max: quantile(xs, 1),
});

/** VmRSS in MiB (NaN once the process is gone). */
function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The direct children of a process, by name, with their RSS. */
function childrenRss(pid: number): Record<string, number> {
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

function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) / clockHz) * 1000;
  } catch {
    return Number.NaN;
  }
}

async function until(pred: () => boolean | Promise<boolean>, ms: number, every = 100) {
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

function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.once("exit", () => children.delete(c));
  return c;
}

async function stopChild(c: ChildProcess, signal: NodeJS.Signals = "SIGTERM", ms = 15_000) {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once("exit", r));
  c.kill(signal);
  const timer = setTimeout(() => c.kill("SIGKILL"), ms);
  await exited;
  clearTimeout(timer);
}

// ---------- part 1: scoring per core ----------

/** What a coding agent (node, git, a shell) calls most, most frequent first. */
// biome-ignore format: a list of names
const COMMON = [
  "read", "write", "openat", "close", "newfstatat", "fstat", "futex", "epoll_wait", "mmap",
  "lseek", "getdents64", "rt_sigaction", "rt_sigprocmask", "ioctl", "pread64", "statx", "brk",
  "mprotect", "munmap", "recvfrom", "sendto", "poll", "access", "readlink", "fcntl", "getpid",
  "wait4", "clone3", "execve", "pipe2", "dup2", "sendmsg", "recvmsg", "connect", "socket",
  "getrandom", "madvise", "sched_yield", "epoll_ctl", "getcwd",
];

/** A benign window of test/helpers/agent-windows.ts with ~200 distinct trigrams, skewed. */
function realisticWindow(i: number, random: () => number, agentId: string): WindowRecord {
  const w = benign(i, random);
  const pick = () => COMMON[Math.floor(COMMON.length * random() ** 2)] as string;
  const grams = new Map<string, number>();
  while (grams.size < 200) {
    grams.set(`${pick()},${pick()},${pick()}`, 1 + Math.floor(200 * random() ** 3));
  }
  const ngrams = [...grams].map(([k, c]) => [...k.split(","), c]);
  const total = ngrams.reduce((n, g) => n + (g[3] as number), 0);
  return { ...w, host: HOST, agentId, seq: i, syscalls: { n: 3, total, ngrams } };
}

interface Part1Run {
  family: string;
  batch: number;
  drain: { windows: number; perSecond: number; cpuMsPerWindow: number; natsCpuMsPerWindow: number };
  handle: { windows: number; perSecond: number; cpuMsPerWindow: number };
  light: { rate: number } & Percentiles;
  loaded: { rate: number } & Percentiles;
  alerts: number;
}

interface Part1Setup {
  server: EmbeddedNats;
  pub: NatsBus;
  sub: NatsBus;
}

/** One scorer as service.ts builds it, with ONNX Runtime on one thread. */
async function startBenchScorer(
  s: Part1Setup,
  modelsDir: string,
  durable: string,
  batch: number,
  onScored: (w: WindowRecord) => void,
) {
  const metrics = createScorerMetrics(new Registry());
  const registry = new ModelRegistry({
    modelsDir,
    reloadIntervalMs: 60_000,
    logger,
    metrics,
    threads: 1,
  });
  await registry.start();
  const state = new AlertState({ resolveAfterWindows: 3, resendIntervalMs: 60_000 });
  let alerts = 0;
  const scorer = await Scorer.start(
    { durable, batch: { maxWindows: batch, maxDelayMs: BATCH_DELAY_MS } },
    {
      bus: s.sub,
      registry,
      sampler: new Sampler({ defaultRate: 1, rates: {} }),
      explain,
      alerts: {
        observe(o: AlertObservation) {
          onScored(o.window);
          const action = state.observe(o);
          if (action.kind === "fire") alerts++;
          return action;
        },
        sweep: () => state.sweep(),
      },
      metrics,
      logger,
    },
  );
  return {
    scorer,
    alerts: () => alerts,
    async stop() {
      await scorer.stop();
      await registry.stop();
      await s.sub.manager.consumers.delete(STREAMS.windows, durable).catch(() => false);
    },
  };
}

async function publishAll(s: Part1Setup, windows: WindowRecord[], tag: string) {
  for (let i = 0; i < windows.length; i += 64) {
    await Promise.all(
      windows
        .slice(i, i + 64)
        .map((w) =>
          s.pub.publish(
            "window",
            windowsSubject(w.agentType, w.host),
            encodeMessage(w),
            `${tag}.${w.agentId}.${w.seq}`,
          ),
        ),
    );
  }
}

/** Publishes `n` windows at `rate`/s and returns publish -> scored latencies (ms). */
async function paced(
  s: Part1Setup,
  modelsDir: string,
  batch: number,
  make: (i: number) => WindowRecord,
  rate: number,
  n: number,
  tag: string,
): Promise<number[]> {
  const sent = new Map<string, number>();
  const lat: number[] = [];
  const bench = await startBenchScorer(s, modelsDir, `${tag}-d`, batch, (w) => {
    const t = sent.get(`${w.agentId}.${w.seq}`);
    if (t !== undefined) lat.push(now() - t);
  });
  try {
    const start = now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < n; ) {
      const due = Math.min(n, Math.floor(((now() - start) / 1000) * rate) + 1);
      for (; i < due; i++) {
        const w = make(i);
        sent.set(`${w.agentId}.${w.seq}`, now());
        pending.push(
          s.pub.publish(
            "window",
            windowsSubject(w.agentType, w.host),
            encodeMessage(w),
            `${tag}.${w.seq}`,
          ),
        );
      }
      await sleep(2);
    }
    await Promise.all(pending);
    await until(() => lat.length >= n, 15_000, 20);
  } finally {
    await bench.stop();
  }
  return lat;
}

interface Part1 {
  trainSeconds: Record<string, number>;
  runs: Part1Run[];
}

async function part1(root: string, windows: number): Promise<Part1> {
  log(`part 1: training both families on ${TRAIN_WINDOWS} realistic windows`);
  const rnd = prng(1);
  const capture = join(root, "capture");
  writeCapture(
    capture,
    Array.from({ length: TRAIN_WINDOWS }, (_, i) => ({
      ...realisticWindow(i, rnd, `a${i % 20}`),
      host: "web-1",
      agentType: AGENT,
    })),
  );
  const modelsDirs: Record<string, string> = {};
  const trainSeconds: Record<string, number> = {};
  for (const family of FAMILIES) {
    const dir = join(root, `models-${family}`);
    const t = await trainModel(
      {
        agentType: AGENT,
        dataDirs: [capture],
        out: join(dir, AGENT, "v1"),
        seed: 0,
        family,
        epochs: 20,
        backend: "wasm",
        nextSyscall: { epochs: 10 },
      },
      () => {},
    );
    trainSeconds[family] = t.trainSeconds;
    modelsDirs[family] = dir;
    log(`  ${family}: trained in ${t.trainSeconds.toFixed(1)} s`);
  }

  const store = join(root, "nats");
  const server = await EmbeddedNats.start({ storeDir: store });
  const s: Part1Setup = {
    server,
    pub: await NatsBus.open({ servers: [server.url] }, createBusMetrics(new Registry()), logger),
    sub: await NatsBus.open({ servers: [server.url] }, createBusMetrics(new Registry()), logger),
  };
  const runs: Part1Run[] = [];
  try {
    let tagN = 0;
    for (const family of FAMILIES) {
      for (const batch of BATCHES) {
        const modelsDir = modelsDirs[family] as string;
        const tag = () => `r${tagN++}`;
        const r = prng(100 + tagN);
        const make = (prefix: string) => (i: number) =>
          realisticWindow(i, r, `${prefix}-${i % 20}`);
        log(`part 1: ${family}, batch ${batch}`);

        // drain: a stream full of windows, consumed as fast as the scorer can
        await s.pub.manager.streams.purge(STREAMS.windows);
        await publishAll(
          s,
          Array.from({ length: windows }, (_, i) => make("d")(i)),
          tag(),
        );
        let scored = 0;
        const cpu0 = process.cpuUsage();
        const nats0 = procCpuMs(server.pid);
        const t0 = now();
        const drain = await startBenchScorer(s, modelsDir, tag(), batch, () => scored++);
        await until(() => scored >= windows, 120_000, 5);
        const drainMs = now() - t0;
        const cpu = process.cpuUsage(cpu0);
        const natsMs = procCpuMs(server.pid) - nats0;

        // handle(): the same scorer, no bus, `batch` windows in flight
        const handled = Array.from({ length: windows }, (_, i) => make("h")(i));
        const hCpu0 = process.cpuUsage();
        const h0 = now();
        for (let i = 0; i < handled.length; i += batch) {
          await Promise.all(handled.slice(i, i + batch).map((w) => drain.scorer.handle(w)));
        }
        const handleMs = now() - h0;
        const hCpu = process.cpuUsage(hCpu0);
        const alerts = drain.alerts();
        await drain.stop();
        const drainRate = (scored * 1000) / drainMs;

        await s.pub.manager.streams.purge(STREAMS.windows);
        const light = await paced(
          s,
          modelsDir,
          batch,
          make("l"),
          LIGHT_RATE,
          LIGHT_RATE * PACED_SECONDS,
          tag(),
        );
        const loaded = await paced(
          s,
          modelsDir,
          batch,
          make("p"),
          LOADED_RATE,
          LOADED_RATE * PACED_SECONDS,
          tag(),
        );
        runs.push({
          family,
          batch,
          drain: {
            windows: scored,
            perSecond: drainRate,
            cpuMsPerWindow: (cpu.user + cpu.system) / 1000 / scored,
            natsCpuMsPerWindow: natsMs / scored,
          },
          handle: {
            windows: handled.length,
            perSecond: (handled.length * 1000) / handleMs,
            cpuMsPerWindow: (hCpu.user + hCpu.system) / 1000 / handled.length,
          },
          light: { rate: LIGHT_RATE, ...percentiles(light) },
          loaded: { rate: LOADED_RATE, ...percentiles(loaded) },
          alerts,
        });
      }
    }
  } finally {
    await s.pub.close();
    await s.sub.close();
    await server.stop();
    rmSync(store, { recursive: true, force: true });
  }
  return { trainSeconds, runs };
}

// ---------- part 2 and 3: vigil run, live sensor, Alertmanager ----------

/** One benign step of the agent: list, read, grep and write in its workspace, then a pause. */
const BENIGN_STEP = `step() {
  ls -la "$W/src" > /dev/null
  cat "$W/src/file$((RANDOM % 8)).txt" > /dev/null
  grep -c line "$W"/src/*.txt > /dev/null
  wc -l "$W/README.md" > /dev/null
  echo "$RANDOM" > "$W/out/$ID.txt"
  sleep 0.$((RANDOM % 3 + 1))
}`;

/** A benign instance: steps for $3 seconds, then ends (agents come and go). */
const BENIGN_SCRIPT = `W="$1"; ID="$2"; end=$((SECONDS + $3))
${BENIGN_STEP}
while [ "$SECONDS" -lt "$end" ]; do step; done`;

/** A trial: $3 benign steps, the anomalous action ($4 = the connect), then benign work. */
const TRIAL_SCRIPT = `W="$1"; ID="$2"
${BENIGN_STEP}
for ((k = 0; k < $3; k++)); do step; done
eval "$4"
cat "$HOME/.ssh/id_rsa" > /dev/null
end=$((SECONDS + 3)); while [ "$SECONDS" -lt "$end" ]; do step; done`;

interface Live {
  root: string;
  env: NodeJS.ProcessEnv;
  socket: string;
  home: string;
  workspace: string;
}

function makeLive(root: string, am: TestAlertmanager, listen: string): Live {
  const home = join(root, "home");
  const workspace = join(root, "workspace");
  mkdirSync(join(home, ".ssh"), { recursive: true });
  writeFileSync(join(home, ".ssh", "id_rsa"), "not a real key\n");
  mkdirSync(join(workspace, "src"), { recursive: true });
  mkdirSync(join(workspace, "out"), { recursive: true });
  writeFileSync(join(workspace, "README.md"), "bench workspace\n".repeat(20));
  for (let i = 0; i < 8; i++) {
    writeFileSync(join(workspace, "src", `file${i}.txt`), `line ${i}\n`.repeat(50 + 30 * i));
  }
  const socket = join(root, "sensor.sock");
  const env = {
    ...process.env,
    HOME: home,
    VIGIL_HOST: HOST,
    VIGIL_DATA_DIR: join(root, "data"),
    VIGIL_SENSOR_CONTROL_SOCKET: socket,
    VIGIL_SENSOR_WINDOW_SECONDS: String(WINDOW_SECONDS),
    VIGIL_SCORER_MODELS_DIR: join(root, "models"),
    VIGIL_SCORER_HTTP_LISTEN: listen,
    VIGIL_SCORER_ALERTMANAGER_URLS: am.url,
    VIGIL_SCORER_LEARNING_MIN_WINDOWS: "240",
    VIGIL_SCORER_LEARNING_MIN_DURATION_SECONDS: "45",
    VIGIL_LOG_LEVEL: "warn",
  };
  return { root, env, socket, home, workspace };
}

function vigilExec(l: Live, id: string, script: string, args: string[]): ChildProcess {
  return track(
    spawn(
      process.execPath,
      [
        "--import",
        TSX,
        CLI,
        "exec",
        "--socket",
        l.socket,
        "--agent-type",
        E2E_TYPE,
        "--agent-id",
        id,
        "--",
        "bash",
        "-c",
        script,
        "bench",
        l.workspace,
        id,
        ...args,
      ],
      { env: l.env, cwd: l.workspace, stdio: "ignore" },
    ),
  );
}

/** Keeps `wanted` benign instances running, each living 6-12 s. */
function benignAgents(l: Live) {
  const state = { wanted: 0, started: 0 };
  const live = new Set<ChildProcess>();
  const slot = async (k: number) => {
    while (k < state.wanted) {
      const c = vigilExec(l, `benign-${k}-${state.started++}`, BENIGN_SCRIPT, [
        String(6 + Math.floor(Math.random() * 7)),
      ]);
      live.add(c);
      await new Promise((r) => c.once("exit", r));
      live.delete(c);
    }
  };
  return {
    set(n: number) {
      const before = state.wanted;
      state.wanted = n;
      for (let k = before; k < n; k++) void slot(k);
    },
    started: () => state.started,
    async stop() {
      state.wanted = 0;
      await Promise.all([...live].map((c) => stopChild(c)));
    },
  };
}

/** Alerts fired so far by a scorer, from its /metrics. */
async function fires(listen: string): Promise<number> {
  const text = await fetch(`http://${listen}/metrics`)
    .then((r) => r.text())
    .catch(() => "");
  let n = 0;
  for (const m of text.matchAll(/^vigil_scorer_alerts_total\{[^}]*action="fire"[^}]*\} (\d+)/gm)) {
    n += Number(m[1]);
  }
  return n;
}

async function json<T>(url: string): Promise<T | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok ? ((await res.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

interface TypeStatus {
  model?: { state: string; version?: string };
  learning?: { state: string; windows?: number; progress?: number };
  received?: number;
  scored?: number;
}
type Status = { agentTypes: Record<string, TypeStatus> };

interface Trial {
  agentId: string;
  /** action (listener accept) -> alert listed by Alertmanager, ms */
  latencyMs?: number;
  outcome: "alerted" | "no-alert" | "no-connect";
  /** an alert of this instance was listed before the action (its first windows) */
  alertedBeforeAction?: boolean;
  summary?: string;
  /** Date.now() at the accept, to compare with the alert's windowEnd (same host clock) */
  acceptedWall?: number;
  /** the alert's window_end annotation (ms since the epoch) */
  windowEndWall?: number;
  /** action -> end of the window the alert was raised on, ms */
  toWindowEndMs?: number;
  /** end of that window -> alert listed by Alertmanager, ms */
  afterWindowEndMs?: number;
}

interface Part2 {
  windowSeconds: number;
  learnSeconds: number;
  model?: { family: string; version: string; threshold: number };
  benignInstances: number;
  anomaly: string;
  trials: Trial[];
  latency: Percentiles;
  toWindowEnd: Percentiles;
  afterWindowEnd: Percentiles;
  targetMs: number;
  /**
   * Benign instances started during the trials; alerts fired (vigil_scorer_alerts_total) during
   * the trials by every instance; trial instances that alerted (before or after the action).
   */
  falseAlarms: { benignInstances: number; firesDuringTrials: number; trialsAlerted: number };
  rss: {
    idleMiB: number;
    afterLearningMiB: number;
    afterTrialsMiB: number;
    childrenIdleMiB: Record<string, number>;
    childrenAfterMiB: Record<string, number>;
    scorerOnlyMiB?: number;
  };
  notes: string[];
}

async function runTrial(l: Live, am: TestAlertmanager, i: number, connect: string) {
  const agentId = `trial-${i}`;
  let acceptedAt: number | undefined;
  let acceptedWall = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    if (acceptedAt === undefined) acceptedWall = Date.now();
    acceptedAt ??= now();
    sock.on("error", () => {});
    sock.end("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  // 14-20 benign steps (about 0.4 s each) first: an alert on the instance's first windows (a
  // new instance's start can look unusual) has resolved before the action, which then lands
  // at a random point of a window
  const pre = String(14 + Math.floor(Math.random() * 7));
  const c = vigilExec(l, agentId, TRIAL_SCRIPT, [pre, connect.replace("PORT", String(port))]);
  const filter = encodeURIComponent(`agent_id="${agentId}"`);
  const url = `${am.url}/api/v2/alerts?filter=${filter}`;
  let trial: Trial = { agentId, outcome: "no-alert" };
  let earlier = false;
  const end = now() + 20_000;
  while (now() < end) {
    const t = now();
    const alerts = await json<{ annotations: Record<string, string> }[]>(url);
    const seen = now();
    // Only an alert on a window that ended after the action is the action's.
    if (alerts && alerts.length > 0 && acceptedAt === undefined) earlier = true;
    const mine = alerts?.find(
      (a) => acceptedAt !== undefined && Date.parse(a.annotations.window_end ?? "") > acceptedWall,
    );
    if (mine && acceptedAt !== undefined) {
      trial = {
        agentId,
        outcome: "alerted",
        latencyMs: seen - acceptedAt,
        summary: mine.annotations.summary ?? "",
        acceptedWall,
        windowEndWall: Date.parse(mine.annotations.window_end ?? ""),
      };
      break;
    }
    await sleep(Math.max(0, 20 - (now() - t)));
  }
  if (trial.outcome === "no-alert" && acceptedAt === undefined) trial.outcome = "no-connect";
  if (earlier) trial.alertedBeforeAction = true;
  await stopChild(c, "SIGTERM", 10_000);
  // Not waiting for close(): a connection whose peer was killed need not end cleanly.
  for (const sock of sockets) sock.destroy();
  server.close();
  return trial;
}

async function part2(root: string, trials: number): Promise<Part2 | undefined> {
  if (process.getuid?.() !== 0) {
    log("part 2 skipped: the eBPF sensor needs root");
    return undefined;
  }
  const notes: string[] = [];
  const am = await startAlertmanager();
  const listen = `127.0.0.1:${await freePort()}`;
  const l = makeLive(root, am, listen);
  let stderr = "";
  const run = track(
    spawn(process.execPath, ["--import", TSX, CLI, "run"], {
      env: l.env,
      stdio: ["ignore", "ignore", "pipe"],
    }),
  );
  run.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const agents = benignAgents(l);
  const status = () => json<Status>(`http://${listen}/status`);
  try {
    const urlFile = join(root, "data", "nats", "url");
    const up = await until(
      async () => existsSync(urlFile) && existsSync(l.socket) && (await status()) !== undefined,
      60_000,
    );
    if (!up) throw new Error(`vigil run did not start: ${stderr}`);
    await sleep(5000);
    const idleMiB = rssMiB(run.pid as number);
    const childrenIdleMiB = childrenRss(run.pid as number);
    log(`part 2: vigil run up (RSS ${idleMiB.toFixed(0)} MiB); benign agents learning`);

    const learn0 = now();
    agents.set(5);
    let lastLog = 0;
    const learned = await until(
      async () => {
        const t = (await status())?.agentTypes[E2E_TYPE];
        if (now() - lastLog > 15_000) {
          lastLog = now();
          log(`  ${JSON.stringify(t?.learning ?? t?.model ?? {})}`);
        }
        return t?.model?.state === "active";
      },
      480_000,
      1000,
    );
    const learnSeconds = (now() - learn0) / 1000;
    if (!learned) throw new Error(`no model for ${E2E_TYPE} after ${learnSeconds} s: ${stderr}`);
    const modelsDir = join(root, "models", E2E_TYPE);
    const version = readFileSync(join(modelsDir, "current"), "utf8").trim();
    const manifest = JSON.parse(readFileSync(join(modelsDir, version, "manifest.json"), "utf8"));
    const model = { family: manifest.family, version, threshold: manifest.threshold };
    log(`  ${model.family} model ${version} active after ${learnSeconds.toFixed(0)} s`);
    agents.set(2);
    await sleep(5000);
    const afterLearningMiB = rssMiB(run.pid as number);

    const nc = ["/usr/bin/nc", "/bin/nc"].find((p) => existsSync(p));
    const connect = nc
      ? `${nc} -w 1 127.0.0.1 PORT < /dev/null > /dev/null`
      : "curl -s -m 2 http://127.0.0.1:PORT/ > /dev/null";
    const anomaly = `${nc ? "nc" : "curl"} to a new loopback port, then read ~/.ssh/id_rsa`;
    if (!nc) notes.push("nc is not installed here: the trials connect with curl");
    const firesBefore = await fires(listen);
    const benignBefore = agents.started();
    const done: Trial[] = [];
    for (let i = 0; i < trials; i++) {
      const t = await runTrial(l, am, i, connect);
      done.push(t);
      log(
        `  trial ${i}: ${t.outcome}${t.latencyMs === undefined ? "" : ` ${t.latencyMs.toFixed(0)} ms`}`,
      );
      await sleep(200 + Math.random() * 800);
    }
    const afterTrialsMiB = rssMiB(run.pid as number);
    const childrenAfterMiB = childrenRss(run.pid as number);
    await agents.stop();
    for (const t of done) {
      if (t.windowEndWall === undefined || t.acceptedWall === undefined) continue;
      if (t.latencyMs === undefined) continue;
      t.toWindowEndMs = t.windowEndWall - t.acceptedWall;
      t.afterWindowEndMs = t.acceptedWall + t.latencyMs - t.windowEndWall;
    }
    const falseAlarms = {
      benignInstances: agents.started() - benignBefore,
      firesDuringTrials: (await fires(listen)) - firesBefore,
      trialsAlerted: done.filter((t) => t.outcome === "alerted" || t.alertedBeforeAction).length,
    };
    const natsUrl = readFileSync(urlFile, "utf8").trim();
    const scorerOnlyMiB = await scorerOnly(root, natsUrl, join(root, "models"));
    const lat = done.flatMap((t) => (t.latencyMs === undefined ? [] : [t.latencyMs]));
    const targetMs = (WINDOW_SECONDS + 1) * 1000;
    return {
      windowSeconds: WINDOW_SECONDS,
      learnSeconds,
      model,
      benignInstances: agents.started(),
      anomaly,
      trials: done,
      latency: percentiles(lat),
      toWindowEnd: percentiles(done.flatMap((t) => t.toWindowEndMs ?? [])),
      afterWindowEnd: percentiles(done.flatMap((t) => t.afterWindowEndMs ?? [])),
      targetMs,
      falseAlarms,
      rss: {
        idleMiB,
        afterLearningMiB,
        afterTrialsMiB,
        childrenIdleMiB,
        childrenAfterMiB,
        ...(scorerOnlyMiB === undefined ? {} : { scorerOnlyMiB }),
      },
      notes,
    };
  } finally {
    await agents.stop();
    await stopChild(run, "SIGINT", 20_000);
    await am.stop();
  }
}

/** `vigil scorer` alone on the same bus and models (own durable, no learning, no Alertmanager). */
async function scorerOnly(root: string, nats: string, models: string) {
  const listen = `127.0.0.1:${await freePort()}`;
  const c = track(
    spawn(
      process.execPath,
      [
        "--import",
        TSX,
        CLI,
        "scorer",
        "--nats",
        nats,
        "--models",
        models,
        "--listen",
        listen,
        "--durable",
        "bench-scorer-only",
      ],
      {
        env: {
          ...process.env,
          VIGIL_DATA_DIR: join(root, "scorer-data"),
          VIGIL_SCORER_LEARNING_ENABLED: "false",
          VIGIL_LOG_LEVEL: "warn",
        },
        stdio: "ignore",
      },
    ),
  );
  try {
    const ok = await until(async () => {
      const t = (await json<Status>(`http://${listen}/status`))?.agentTypes[E2E_TYPE];
      return (t?.scored ?? 0) > 0;
    }, 60_000);
    if (!ok) return undefined;
    await sleep(5000);
    return rssMiB(c.pid as number);
  } finally {
    await stopChild(c, "SIGINT");
  }
}

// ---------- report ----------

const fmt = (v: number | undefined, d = 1) =>
  v === undefined || Number.isNaN(v)
    ? "-"
    : v.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

function table(title: string, head: string[], rows: string[][]) {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i] ?? 0) : c.padStart(w[i] ?? 0))).join(" | ")} |`;
  process.stdout.write(
    `\n${title}\n${line(head)}\n|${w.map((n) => "-".repeat(n + 2)).join("|")}|\n`,
  );
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
}

function report(p1: Part1 | undefined, p2: Part2 | undefined) {
  if (p1) {
    table(
      "Part 1: scoring per core (ONNX Runtime 1 thread; node main thread; nats-server on loopback)",
      [
        "family, batch",
        "drain windows/s",
        "CPU ms/window (node | nats)",
        "handle() windows/s",
        `p50 / p99 ms at ${LIGHT_RATE}/s`,
        "p50 / p99 ms loaded (rate)",
        "alerts",
      ],
      p1.runs.map((r) => [
        `${r.family}, ${r.batch}`,
        fmt(r.drain.perSecond, 0),
        `${fmt(r.drain.cpuMsPerWindow, 3)} | ${fmt(r.drain.natsCpuMsPerWindow, 3)}`,
        fmt(r.handle.perSecond, 0),
        `${fmt(r.light.p50, 2)} / ${fmt(r.light.p99, 2)}`,
        `${fmt(r.loaded.p50, 2)} / ${fmt(r.loaded.p99, 2)} (${r.loaded.rate}/s)`,
        String(r.alerts),
      ]),
    );
  }
  if (p2) {
    const ok = p2.trials.filter((t) => t.outcome === "alerted").length;
    table(
      `Part 2: detection latency, live sensor, window ${p2.windowSeconds} s (action -> alert in Alertmanager)`,
      ["", "value"],
      [
        ["model (learned by vigil run)", `${p2.model?.family ?? "-"} ${p2.model?.version ?? ""}`],
        ["learning took", `${fmt(p2.learnSeconds, 0)} s`],
        ["anomalous action", p2.anomaly],
        ["trials alerted / run", `${ok} / ${p2.trials.length}`],
        [
          "latency p50 / p90 / p99 / max",
          `${fmt(p2.latency.p50, 0)} / ${fmt(p2.latency.p90, 0)} / ${fmt(p2.latency.p99, 0)} / ${fmt(p2.latency.max, 0)} ms`,
        ],
        [
          "  action -> end of its window, p50 / p99",
          `${fmt(p2.toWindowEnd.p50, 0)} / ${fmt(p2.toWindowEnd.p99, 0)} ms`,
        ],
        [
          "  window end -> in Alertmanager, p50 / p99",
          `${fmt(p2.afterWindowEnd.p50, 0)} / ${fmt(p2.afterWindowEnd.p99, 0)} ms`,
        ],
        [
          "trials alerted before the action",
          String(p2.trials.filter((t) => t.alertedBeforeAction).length),
        ],
        [
          "alerts fired during the trials: all / by trials",
          `${p2.falseAlarms.firesDuringTrials} / ${p2.falseAlarms.trialsAlerted} (${p2.falseAlarms.benignInstances} benign instances ran)`,
        ],
        [
          "target: p99 <= window + 1 s",
          `${p2.targetMs} ms: ${p2.latency.p99 <= p2.targetMs ? "met" : "NOT met"}`,
        ],
      ],
    );
    const kids = (m: Record<string, number>) =>
      Object.entries(m)
        .map(([k, v]) => `${k} ${fmt(v, 0)}`)
        .join(", ");
    table(
      "Part 3: RSS (VmRSS, MiB)",
      ["process", "MiB"],
      [
        ["vigil run (node: sensor + scorer), idle", fmt(p2.rss.idleMiB, 0)],
        ["vigil run, model loaded, 2 benign agents", fmt(p2.rss.afterLearningMiB, 0)],
        ["vigil run, after the trials", fmt(p2.rss.afterTrialsMiB, 0)],
        ["its children, idle", kids(p2.rss.childrenIdleMiB)],
        ["its children, after the trials", kids(p2.rss.childrenAfterMiB)],
        ["vigil scorer alone (one model, backlog drained)", fmt(p2.rss.scorerOnlyMiB, 0)],
      ],
    );
    for (const n of p2.notes) process.stdout.write(`note: ${n}\n`);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      windows: { type: "string", default: "3000" },
      trials: { type: "string", default: "18" },
      parts: { type: "string", default: "1,2" },
    },
  });
  const parts = new Set((values.parts ?? "").split(","));
  const root = mkdtempSync(join(tmpdir(), "vigil-bench-scorer-"));
  const cleanup = () => rmSync(root, { recursive: true, force: true, maxRetries: 2 });
  process.once("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  try {
    const p1 = parts.has("1") ? await part1(join(root, "p1"), Number(values.windows)) : undefined;
    const p2 = parts.has("2") ? await part2(join(root, "p2"), Number(values.trials)) : undefined;
    process.stdout.write(
      `\nbench:scorer (${machineInfo().cpu}, ${availableParallelism()} CPUs, node ${process.version})\n`,
    );
    report(p1, p2);
    writeResults(
      RESULTS,
      {
        bench: "scorer",
        date: new Date().toISOString(),
        machine: machineInfo(),
        params: {
          drainWindows: Number(values.windows),
          batchMaxDelayMs: BATCH_DELAY_MS,
          onnxThreads: 1,
          trainWindows: TRAIN_WINDOWS,
          windowSeconds: WINDOW_SECONDS,
          trials: Number(values.trials),
        },
        ...(p1 ? { scoring: p1 } : {}),
        ...(p2 ? { detection: p2 } : {}),
      },
      REPO,
    );
    process.stdout.write("(written to bench/results/scorer.json)\n");
    return 0;
  } finally {
    cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench:scorer failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
