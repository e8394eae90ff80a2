/**
 * `npm run bench:bus`: windows per second through the bus on loopback, and how long one takes,
 * for realistic windows of 200 and 2,000 distinct syscall trigrams.
 *
 * A nats-server with JetStream (EmbeddedNats, temporary store) carries windows from the
 * sensor's real path (WindowPublisher: encode, buffer, publish in order and await each ack) to
 * the scorer's real path (NatsBus.consume: a durable pull consumer, decodeMessage with the zod
 * schema, explicit ack). The consumer runs in a worker thread on its own connection, so that
 * the two ends do not share an event loop (in production they are two processes); both stamp
 * times from the same monotonic clock. Latency = consumed (handler entry, after validation) -
 * enqueued (write() called); nothing is embedded in the window: the times are kept by seq in
 * shared memory.
 *
 * For each size it measures apart what bounds the end-to-end rate: the ordered publisher
 * alone, the same publishes with 64 acks in flight (what ordering costs), the consumer alone
 * draining a full stream, and encode, decode and the schema's n-gram part on their own. Then
 * end to end: a burst (the rate; its latency is mostly backlog), 50 % of that rate (latency
 * under load) and 20 windows/s (latency of a lightly loaded bus). It reports and never
 * asserts. Results: bench/results/bus.json.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { Registry } from "prom-client";
import { EmbeddedNats } from "../src/bus/embedded-nats.js";
import { type Consumption, NatsBus, STREAMS } from "../src/bus/nats-bus.js";
import { DEFAULT_BUFFER_LIMITS, WindowPublisher } from "../src/bus/window-publisher.js";
import {
  decodeMessage,
  encodeMessage,
  type WindowRecord,
  windowSchema,
  windowsFilter,
  windowsSubject,
} from "../src/contracts/index.js";
import { isVigilError } from "../src/errors.js";
import { SYSCALL_NAMES } from "../src/sensor/syscall-names.js";
import { createSilentLogger } from "../src/telemetry/logger.js";
import { createBusMetrics, createSensorMetrics } from "../src/telemetry/metrics.js";
import { makeWindow } from "../test/helpers/messages.js";
import { prng } from "../training/random.js";
import { procCpuMs } from "./lib/proc.js";
import { machineInfo, writeResults } from "./lib/results.js";
import { COMMON_SYSCALLS } from "./lib/syscalls.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const RESULTS = join(REPO, "bench", "results", "bus.json");
const HOST = "bench-host";
/** NatsBus.consume's default fetch-ahead, which the scorer uses. */
const CONSUMER_BATCH = 64;
/** Acks awaited together in the comparison that drops the one-at-a-time ordering. */
const IN_FLIGHT = 64;
/** Windows per write() in a burst: what one window-close tick of a busy sensor hands over. */
const BURST_WRITE = 50;
const LIGHT_RATE = 20;
const LIGHT_WINDOWS = 100;
const PACED_SECONDS = 10;
const WARMUP_WINDOWS = 200;
/** A run that has not moved for this long is reported with what is missing. */
const STALL_MS = 15_000;

const logger = createSilentLogger();
/** ms on CLOCK_MONOTONIC, the same in every thread (performance.now() is not). */
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));

/** A phase publishes as its own agent: its own subject, consumer and message ids. */
interface Phase {
  agentType: string;
  agentId: string;
  durable: string;
}

function phase(k: number, name: string): Phase {
  const agentType = `bench-k${k}-${name}`;
  return { agentType, agentId: agentType, durable: agentType };
}

type MakeWindow = (p: Phase, seq: number) => WindowRecord;

// ---------- statistics and CPU ----------

function quantile(xs: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(xs).sort();
  const i = (s.length - 1) * q;
  const lo = s[Math.floor(i)] ?? Number.NaN;
  const hi = s[Math.ceil(i)] ?? Number.NaN;
  return lo + (hi - lo) * (i - Math.floor(i));
}

/** The first and last of the times that are set (NaN = never). */
function extent(xs: Float64Array): { min: number; max: number } {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const x of xs) {
    if (Number.isNaN(x)) continue;
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  return { min, max };
}

interface Percentiles {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function percentiles(xs: number[]): Percentiles {
  return {
    n: xs.length,
    min: quantile(xs, 0),
    p50: quantile(xs, 0.5),
    p90: quantile(xs, 0.9),
    p99: quantile(xs, 0.99),
    max: quantile(xs, 1),
    mean: xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length),
  };
}

interface Cpu {
  /** this process: both ends (publisher thread and consumer worker) */
  nodeMs: number;
  serverMs: number;
}

/** CPU this process and nats-server spend from now until the returned function is called. */
function cpuMeter(s: Setup): () => Cpu {
  const node0 = process.cpuUsage();
  const server0 = procCpuMs(s.server.pid);
  return () => {
    const d = process.cpuUsage(node0);
    return {
      nodeMs: (d.user + d.system) / 1000,
      serverMs: procCpuMs(s.server.pid) - server0,
    };
  };
}

// ---------- realistic windows ----------

/** K distinct trigrams of real x86_64 syscall names, drawn Zipf-like (common names first). */
function trigrams(k: number, rnd: () => number): string[][] {
  const all = (SYSCALL_NAMES.x86_64 ?? []).filter((n): n is string => n !== undefined);
  const common = COMMON_SYSCALLS.filter((n) => all.includes(n));
  const rest = all.filter((n) => !common.includes(n)).sort(() => rnd() - 0.5);
  const names = [...common, ...rest];
  const cdf: number[] = [];
  let sum = 0;
  for (let i = 0; i < names.length; i++) {
    sum += 1 / (i + 1) ** 1.1;
    cdf.push(sum);
  }
  const pick = () => {
    const x = rnd() * sum;
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return names[lo] as string;
  };
  const seen = new Set<string>();
  const out: string[][] = [];
  while (out.length < k) {
    const t = [pick(), pick(), pick()];
    const key = t.join(",");
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(t);
  }
  return out;
}

const EXECS: WindowRecord["execs"] = [
  ["/usr/bin/git", "git", "status", "--porcelain"],
  ["/usr/bin/git", "git", "diff", "--stat", "HEAD"],
  ["/usr/bin/node", "node", "--test", "test/"],
  ["/usr/bin/rg", "rg", "-n", "TODO", "src"],
  ["/bin/sh", "sh", "-c", "npm run lint"],
].map(([path, ...argv], j) => ({
  path: path as string,
  argv,
  pid: 4300 + j,
  ppid: 4242,
  uid: 1000,
  count: j === 0 ? 3 : 1,
}));

const FILES: WindowRecord["files"] = [
  ...["bus", "sensor", "score", "features", "model", "alert"].flatMap((dir, d) =>
    ["index", "types", "client", "server", "util", "config"].map((name, f) => ({
      path: `~/proj/src/${dir}/${name}.ts`,
      class: "workspace" as const,
      op: (d * 6 + f) % 5 === 0 ? ("write" as const) : ("read" as const),
      count: 1 + ((d * 7 + f * 3) % 12),
    })),
  ),
  ...[
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/etc/ld.so.cache",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/usr/share/zoneinfo/UTC",
    "/usr/lib/node_modules/npm/package.json",
  ].map((path) => ({ path, class: "system" as const, op: "read" as const, count: 2 })),
  ...["~/.gitconfig", "~/.npmrc", "~/.config/git/ignore", "~/.cache/node/compile/v20/a1b2c3"].map(
    (path) => ({ path, class: "home" as const, op: "read" as const, count: 1 }),
  ),
  { path: "/tmp/tmp-4242-Xf3a/out.json", class: "temp", op: "write", count: 4 },
  { path: "/tmp/npm-4242-cache/_cacache/index", class: "temp", op: "read", count: 9 },
  { path: "/proc/self/maps", class: "other", op: "read", count: 1 },
  { path: "/dev/null", class: "other", op: "write", count: 6 },
];

const NET: WindowRecord["net"] = (
  [
    ["out", "tcp", "inet", "140.82.121.4", 443],
    ["out", "tcp", "inet", "104.16.27.35", 443],
    ["out", "tcp", "inet", "160.79.104.10", 443],
    ["out", "tcp", "inet6", "2606:4700::6810:1b23", 443],
    ["out", "udp", "inet", "127.0.0.53", 53],
    ["out", "tcp", "inet", "127.0.0.1", 11434],
    ["out", "unix", "unix", "/run/user/1000/bus", 0],
    ["listen", "tcp", "inet", "127.0.0.1", 5173],
    ["in", "tcp", "inet", "127.0.0.1", 5173],
    ["out", "tcp", "inet", "151.101.0.223", 443],
  ] as const
).map(([direction, protocol, family, address, port], j) => ({
  direction,
  protocol,
  family,
  address,
  port,
  connections: 1 + (j % 3),
  bytesOut: 512 * (j + 1) ** 2,
  bytesIn: 4096 * (j + 1) ** 2,
  sends: 2 + j,
  recvs: 3 + 2 * j,
}));

/** Count variants per size: the vocabulary of an agent is stable, the counts move. */
const VARIANTS = 16;

/**
 * Windows of K distinct trigrams with Zipf-like counts (the top one ~8,000 in a window), five
 * execs, 50 files and 10 net entries. The n-gram lists are built once per variant and shared:
 * what the bench times is encoding them, as the sensor does, not making them up.
 */
function realisticWindows(k: number): MakeWindow {
  const rnd = prng(k);
  const tris = trigrams(k, rnd);
  const variants = Array.from({ length: VARIANTS }, () => {
    const ngrams = tris.map((t, r) => [
      ...t,
      Math.max(1, Math.round((8000 / (r + 1) ** 0.9) * (0.8 + 0.4 * rnd()))),
    ]);
    const total = ngrams.reduce((a, g) => a + (g[3] as number), 0) + 2;
    return { n: 3, total, ngrams };
  });
  return (p, seq) =>
    makeWindow(seq, {
      host: HOST,
      agentType: p.agentType,
      agentId: p.agentId,
      syscalls: variants[seq % VARIANTS] as WindowRecord["syscalls"],
      execs: EXECS,
      files: FILES,
      net: NET,
    });
}

// ---------- the consumer: a worker thread, as the scorer is its own process ----------

/** What the consumer thread writes and the main thread reads, without messages. */
interface Shared {
  /** time each seq was consumed (NaN = not yet) */
  consumed: SharedArrayBuffer;
  /** Int32: [consumed, duplicates, out of order, last seq] */
  counts: SharedArrayBuffer;
}

type ToWorker =
  | ({ op: "consume"; durable: string; filter: string } & Shared)
  | { op: "stop" }
  | { op: "close" };
type FromWorker = { op: "ready" | "consuming" | "stopped" } | { op: "error"; message: string };

/** The worker's side: one NatsBus, one consumption at a time. */
async function consumerThread(port: NonNullable<typeof parentPort>): Promise<void> {
  const reply = (m: FromWorker) => port.postMessage(m);
  let bus: NatsBus;
  try {
    bus = await NatsBus.open(
      { servers: [(workerData as { url: string }).url] },
      createBusMetrics(new Registry()),
      logger,
    );
  } catch (e) {
    return reply({ op: "error", message: (e as Error).message });
  }
  reply({ op: "ready" });
  let running: Consumption | undefined;
  port.on("message", async (m: ToWorker) => {
    try {
      if (m.op === "consume") {
        const consumed = new Float64Array(m.consumed);
        const counts = new Int32Array(m.counts);
        running = await bus.consume(
          "window",
          { durable: m.durable, filter: m.filter, batch: CONSUMER_BATCH },
          async (w) => {
            const t = now();
            if (Number.isNaN(consumed[w.seq] ?? 0)) {
              consumed[w.seq] = t;
              Atomics.add(counts, 0, 1);
            } else Atomics.add(counts, 1, 1);
            if (w.seq < Atomics.exchange(counts, 3, w.seq)) Atomics.add(counts, 2, 1);
          },
        );
        reply({ op: "consuming" });
      } else if (m.op === "stop") {
        await running?.stop();
        running = undefined;
        reply({ op: "stopped" });
      } else {
        await running?.stop();
        await bus.close();
        port.close();
      }
    } catch (e) {
      reply({ op: "error", message: (e as Error).message });
    }
  });
}

/** The main thread's handle on the consumer thread. */
class ConsumerThread {
  private constructor(private readonly worker: Worker) {}

  static async open(url: string): Promise<ConsumerThread> {
    // Loader hooks of `--import tsx` do not reach a worker in Node 20: it registers them itself.
    const boot = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})
      .then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const t = new ConsumerThread(new Worker(boot, { eval: true, workerData: { url } }));
    await t.reply("ready");
    return t;
  }

  async consume(p: Phase, shared: Shared): Promise<void> {
    const filter = windowsFilter(p.agentType);
    this.worker.postMessage({
      op: "consume",
      durable: p.durable,
      filter,
      ...shared,
    } satisfies ToWorker);
    await this.reply("consuming");
  }

  async stop(): Promise<void> {
    this.worker.postMessage({ op: "stop" } satisfies ToWorker);
    await this.reply("stopped");
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.worker.once("exit", r));
    this.worker.postMessage({ op: "close" } satisfies ToWorker);
    const timer = setTimeout(() => void this.worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  private reply(op: FromWorker["op"]): Promise<void> {
    return new Promise((res, rej) => {
      const settle = (error?: Error) => {
        this.worker.off("message", onMessage).off("exit", onExit).off("error", settle);
        if (error) rej(error);
        else res();
      };
      const onExit = (code: number) => settle(new Error(`the consumer thread exited (${code})`));
      const onMessage = (m: FromWorker) => {
        if (m.op === "error") settle(new Error(`consumer thread: ${m.message}`));
        else if (m.op === op) settle();
      };
      this.worker.on("message", onMessage).on("exit", onExit).on("error", settle);
    });
  }
}

// ---------- the two ends ----------

interface Setup {
  server: EmbeddedNats;
  /** The sensor's connection. */
  pub: NatsBus;
  /** The scorer, in its own thread and connection. */
  sub: ConsumerThread;
  /** clock ticks per second, for /proc CPU times */
}

/** Times of each window by seq: enqueued, acked by JetStream, consumed. NaN = never. */
class Timeline {
  readonly enqueued: Float64Array;
  readonly acked: Float64Array;
  readonly consumed: Float64Array;
  readonly shared: Shared;
  private readonly counts: Int32Array;
  acks = 0;
  publishErrors = 0;

  constructor(readonly n: number) {
    this.enqueued = new Float64Array(n).fill(Number.NaN);
    this.acked = new Float64Array(n).fill(Number.NaN);
    this.shared = {
      consumed: new SharedArrayBuffer(8 * n),
      counts: new SharedArrayBuffer(4 * 4),
    };
    this.consumed = new Float64Array(this.shared.consumed).fill(Number.NaN);
    this.counts = new Int32Array(this.shared.counts);
    this.counts[3] = -1;
  }

  get consumedCount(): number {
    return Atomics.load(this.counts, 0);
  }
  get duplicates(): number {
    return Atomics.load(this.counts, 1);
  }
  get outOfOrder(): number {
    return Atomics.load(this.counts, 2);
  }

  /** Wraps the bus as the publisher's target, to time every ack. */
  target(bus: NatsBus) {
    return {
      publish: async (kind: "window", subject: string, data: Uint8Array, msgId: string) => {
        try {
          await bus.publish(kind, subject, data, msgId);
        } catch (e) {
          this.publishErrors++;
          throw e;
        }
        // msgId = host:agentType:agentId:seq:start; the bench's names have no ":".
        this.acked[Number(msgId.split(":")[3])] = now();
        this.acks++;
      },
    };
  }

  /** Waits until `done()` or until nothing moved for STALL_MS. */
  async until(done: () => boolean): Promise<void> {
    let seen = -1;
    let moved = now();
    while (!done()) {
      const progress = this.acks + this.consumedCount;
      if (progress !== seen) {
        seen = progress;
        moved = now();
      } else if (now() - moved > STALL_MS) return;
      await sleep(2);
    }
  }

  /** ms from each window's `from` to its `to`, for the windows that have both. */
  deltas(from: Float64Array, to: Float64Array): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.n; i++) {
      const d = (to[i] as number) - (from[i] as number);
      if (!Number.isNaN(d)) out.push(d);
    }
    return out;
  }
}

function publisher(s: Setup, t: Timeline) {
  const registry = new Registry();
  const pub = new WindowPublisher(t.target(s.pub), DEFAULT_BUFFER_LIMITS, {
    logger,
    sensorMetrics: createSensorMetrics(registry),
    busMetrics: createBusMetrics(registry),
  });
  const dropped = async () => {
    const m = await registry.getSingleMetric("vigil_sensor_dropped_total")?.get();
    return (m?.values ?? []).reduce((a, v) => a + v.value, 0);
  };
  return { pub, dropped };
}

/** Hands windows to the publisher: all at once in writes of BURST_WRITE, or at `rate` per s. */
async function feed(
  pub: WindowPublisher,
  make: MakeWindow,
  p: Phase,
  t: Timeline,
  rate?: number,
): Promise<void> {
  const start = now();
  let sent = 0;
  while (sent < t.n) {
    const due = rate ? Math.min(t.n, Math.floor(((now() - start) * rate) / 1000) + 1) : t.n;
    const upTo = Math.min(due, sent + BURST_WRITE);
    if (upTo > sent) {
      const records: WindowRecord[] = [];
      for (let i = sent; i < upTo; i++) records.push(make(p, i));
      t.enqueued.fill(now(), sent, upTo);
      await pub.write(records);
      sent = upTo;
    }
    if (rate) await sleep(1);
    else await tick();
  }
}

/** Removes a phase's consumer and messages, so that the stream stays small. */
async function clear(s: Setup, p: Phase, durable = p.durable): Promise<void> {
  await s.pub.manager.consumers.delete(STREAMS.windows, durable).catch(() => false);
  await s.pub.manager.streams.purge(STREAMS.windows, {
    filter: windowsSubject(p.agentType, HOST),
  });
}

// ---------- measurements ----------

interface Rate {
  windows: number;
  seconds: number;
  perSecond: number;
  cpu: Cpu;
}

function rate(windows: number, ms: number, cpu: Cpu): Rate {
  return { windows, seconds: ms / 1000, perSecond: (windows / ms) * 1000, cpu };
}

interface EndToEnd {
  offeredPerSecond: number | null;
  rate: Rate;
  /** enqueued -> consumed, ms */
  latencyMs: Percentiles;
  /** enqueued -> acked by JetStream, ms */
  publishMs: Percentiles;
  dropped: number;
  missing: number;
  duplicates: number;
  outOfOrder: number;
  publishErrors: number;
}

/** The sensor's path alone: every window through WindowPublisher, until the last ack. */
async function publishOnly(s: Setup, make: MakeWindow, p: Phase, n: number) {
  const t = new Timeline(n);
  const { pub, dropped } = publisher(s, t);
  const cpu = cpuMeter(s);
  const start = now();
  await feed(pub, make, p, t);
  await t.until(() => pub.pending === 0);
  const r = rate(t.acks, extent(t.acked).max - start, cpu());
  await pub.close(1000);
  return { ...r, dropped: await dropped(), publishErrors: t.publishErrors };
}

/** The same publishes with IN_FLIGHT acks awaited together: what the ordering costs. */
async function publishPipelined(s: Setup, make: MakeWindow, p: Phase, n: number): Promise<Rate> {
  const cpu = cpuMeter(s);
  const start = now();
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < n; i++) {
    const w = make(p, i);
    const subject = windowsSubject(w.agentType, w.host);
    const sent = s.pub
      .publish("window", subject, encodeMessage(w), `${p.agentId}:${i}`)
      .finally(() => inFlight.delete(sent));
    inFlight.add(sent);
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return rate(n, now() - start, cpu());
}

/** The scorer's path alone: a fresh consumer drains `n` stored windows (first -> last). */
async function drain(s: Setup, p: Phase, n: number) {
  const t = new Timeline(n);
  const durable = `${p.durable}-drain`;
  const cpu = cpuMeter(s);
  await s.sub.consume({ ...p, durable }, t.shared);
  await t.until(() => t.consumedCount >= n);
  const used = cpu();
  await s.sub.stop();
  const { min, max } = extent(t.consumed);
  const r = rate(t.consumedCount - 1, max - min, used);
  await clear(s, p, durable);
  return { ...r, missing: n - t.consumedCount };
}

/** Publisher and consumer together: a burst (no `offered`) or paced at `offered` per second. */
async function endToEnd(
  s: Setup,
  make: MakeWindow,
  p: Phase,
  n: number,
  offered?: number,
): Promise<EndToEnd> {
  const t = new Timeline(n);
  const { pub, dropped } = publisher(s, t);
  await s.sub.consume(p, t.shared);
  const cpu = cpuMeter(s);
  await feed(pub, make, p, t, offered);
  await t.until(() => t.consumedCount >= n);
  const used = cpu();
  await s.sub.stop();
  await pub.close(1000);
  await clear(s, p);
  return {
    offeredPerSecond: offered ?? null,
    rate: rate(t.consumedCount, extent(t.consumed).max - (t.enqueued[0] as number), used),
    latencyMs: percentiles(t.deltas(t.enqueued, t.consumed)),
    publishMs: percentiles(t.deltas(t.enqueued, t.acked)),
    dropped: await dropped(),
    missing: n - t.consumedCount,
    duplicates: t.duplicates,
    outOfOrder: t.outOfOrder,
    publishErrors: t.publishErrors,
  };
}

/** µs per item of `fn` over the pool, repeated for at least `minMs`. */
function microbench<T>(pool: T[], fn: (x: T) => unknown, minMs = 1000): number {
  for (const x of pool) fn(x);
  let runs = 0;
  const start = now();
  do {
    for (const x of pool) fn(x);
    runs += pool.length;
  } while (now() - start < minMs);
  return ((now() - start) / runs) * 1000;
}

/** What one window costs to encode (sensor) and to decode and validate (scorer), alone. */
function costs(make: MakeWindow, k: number) {
  const records = Array.from({ length: 32 }, (_, i) => make(phase(k, "cost"), i));
  const encoded = records.map((r) => encodeMessage(r));
  for (const e of encoded) {
    if (!decodeMessage("window", e).ok) throw new Error("a bench window fails the schema");
  }
  const utf8 = new TextDecoder();
  const parsed = encoded.map((e) => JSON.parse(utf8.decode(e)) as WindowRecord);
  const syscallsSchema = windowSchema.shape.syscalls;
  const sizes = encoded.map((e) => e.byteLength);
  return {
    bytes: {
      min: Math.min(...sizes),
      max: Math.max(...sizes),
      mean: sizes.reduce((a, b) => a + b, 0) / sizes.length,
    },
    encodeUs: microbench(records, (r) => encodeMessage(r)),
    validateUs: microbench(encoded, (e) => decodeMessage("window", e)),
    jsonParseUs: microbench(encoded, (e) => JSON.parse(utf8.decode(e))),
    /** the schema check of syscalls.ngrams alone, on parsed JSON */
    ngramsSchemaUs: microbench(parsed, (w) => syscallsSchema.safeParse(w.syscalls)),
  };
}

// ---------- one size ----------

async function measureSize(s: Setup, k: number, n: number) {
  const make = realisticWindows(k);
  const say = (what: string) => process.stdout.write(`  K=${k}: ${what}\n`);
  const c = costs(make, k);
  say(`${Math.round(c.bytes.mean)} bytes a window; warming up`);
  await endToEnd(s, make, phase(k, "warm"), WARMUP_WINDOWS);

  say(`publish only, ${n} windows through WindowPublisher`);
  const pubPhase = phase(k, "pub");
  const ordered = await publishOnly(s, make, pubPhase, n);
  say("consume only, draining them");
  const drained = await drain(s, pubPhase, n);
  say(`publish only, ${IN_FLIGHT} acks in flight`);
  const pipePhase = phase(k, "pipe");
  const pipelined = await publishPipelined(s, make, pipePhase, n);
  await clear(s, pipePhase);

  say(`end to end, a burst of ${n}`);
  const burst = await endToEnd(s, make, phase(k, "burst"), n);
  const offered = Math.max(1, Math.round(burst.rate.perSecond / 2));
  const pacedN = Math.min(n, offered * PACED_SECONDS);
  say(`end to end, ${pacedN} at ${offered}/s`);
  const paced = await endToEnd(s, make, phase(k, "paced"), pacedN, offered);
  say(`end to end, ${LIGHT_WINDOWS} at ${LIGHT_RATE}/s`);
  const light = await endToEnd(s, make, phase(k, "light"), LIGHT_WINDOWS, LIGHT_RATE);
  return { ngrams: k, windows: n, ...c, ordered, pipelined, drained, burst, paced, light };
}
type SizeResult = Awaited<ReturnType<typeof measureSize>>;

// ---------- report ----------

const fmt = (x: number | null | undefined, d = 1) =>
  x === null || x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d);
const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en") : "-");
const lat = (l: Percentiles) => `${fmt(l.p50)} / ${fmt(l.p99)} / ${fmt(l.max)} ms`;
const perWindow = (r: Rate, k: keyof Cpu) => fmt(r.cpu[k] / r.windows, 2);

// biome-ignore format: one row a line
const ROWS: [string, (r: SizeResult) => string][] = [
  ["window, encoded JSON", (r) => `${fmt(r.bytes.mean / 1000)} kB`],
  ["encode (encodeMessage)", (r) => `${fmt(r.encodeUs, 0)} µs`],
  ["decode + validate (decodeMessage)", (r) => `${fmt(r.validateUs, 0)} µs`],
  ["  of which JSON.parse", (r) => `${fmt(r.jsonParseUs, 0)} µs`],
  ["  of which the schema of syscalls (n-grams)", (r) => `${fmt(r.ngramsSchemaUs, 0)} µs`],
  ["publish only: WindowPublisher, 1 ack at a time", (r) => `${int(r.ordered.perSecond)} /s`],
  [`publish only: ${IN_FLIGHT} acks in flight (unordered)`, (r) => `${int(r.pipelined.perSecond)} /s`],
  [`consume only: drain, batch ${CONSUMER_BATCH}, validate + ack`, (r) => `${int(r.drained.perSecond)} /s`],
  ["end to end, burst: first enqueue -> last consumed", (r) => `${int(r.burst.rate.perSecond)} /s`],
  ["  latency p50 / p99 / max (backlog)", (r) => lat(r.burst.latencyMs)],
  ["  CPU ms a window: node (both ends) / nats-server", (r) => `${perWindow(r.burst.rate, "nodeMs")} / ${perWindow(r.burst.rate, "serverMs")}`],
  ["end to end, paced at 50 % of the burst rate", (r) => `${int(r.paced.offeredPerSecond ?? 0)} /s`],
  ["  latency p50 / p99 / max", (r) => lat(r.paced.latencyMs)],
  ["  enqueue -> JetStream ack p50 / p99", (r) => `${fmt(r.paced.publishMs.p50)} / ${fmt(r.paced.publishMs.p99)} ms`],
  [`end to end, light: ${LIGHT_RATE} windows/s`, (r) => `${int(r.light.rate.windows)} windows`],
  ["  latency p50 / p99 / max", (r) => lat(r.light.latencyMs)],
];

function render(sizes: SizeResult[], natsVersion: string): string {
  const w0 = Math.max(...ROWS.map(([l]) => l.length));
  const cells = ROWS.map(([, f]) => sizes.map(f));
  const heads = sizes.map((r) => `K=${int(r.ngrams)} (${int(r.windows)} windows)`);
  const w = heads.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (label: string, cs: string[]) =>
    [label.padEnd(w0), ...cs.map((c, i) => c.padStart(w[i] ?? 0))].join(" | ");
  return [
    "",
    `bus on loopback: nats-server ${natsVersion} (JetStream, file store), node ${process.version}, ${availableParallelism()} CPUs; consumer in a worker thread on its own connection`,
    line("", heads),
    [w0, ...w].map((n) => "-".repeat(n)).join("-|-"),
    ...ROWS.map(([label], i) => line(label, cells[i] ?? [])),
  ].join("\n");
}

function findings(sizes: SizeResult[]): string[] {
  const notes: string[] = [];
  for (const r of sizes) {
    const k = `K=${int(r.ngrams)}`;
    const pub = r.ordered.perSecond;
    const sub = r.drained.perSecond;
    notes.push(
      `${k}: WindowPublisher awaits each JetStream ack before the next publish (in order, no loss), so it sends one window per round trip (${fmt(1e6 / pub, 0)} µs): ${int(pub)}/s; with ${IN_FLIGHT} acks in flight the same connection takes ${int(r.pipelined.perSecond)}/s (x${fmt(r.pipelined.perSecond / pub, 1)})`,
    );
    if (sub * 1.5 < pub) {
      notes.push(
        `${k}: FINDING: the consumer, not the publisher, bounds the bus: it drains ${int(sub)}/s, ${fmt(pub / sub, 1)}x slower than the ordered publisher sends. decodeMessage costs ${fmt(r.validateUs, 0)} µs a window: JSON.parse ${fmt(r.jsonParseUs, 0)} µs, the check of syscalls (n-grams) ${fmt(r.ngramsSchemaUs, 0)} µs`,
      );
    } else if (pub * 1.5 < sub) {
      notes.push(
        `${k}: FINDING: the ordered publisher bounds the bus: the consumer drains ${int(sub)}/s, ${fmt(sub / pub, 1)}x what one-at-a-time acks let the publisher send`,
      );
    } else {
      notes.push(`${k}: publisher (${int(pub)}/s) and consumer (${int(sub)}/s) are within 1.5x`);
    }
    const runs = [r.burst, r.paced, r.light];
    const sum = (f: (e: EndToEnd) => number) => runs.reduce((a, e) => a + f(e), 0);
    const missing = sum((e) => e.missing) + r.drained.missing;
    const dropped = sum((e) => e.dropped) + r.ordered.dropped;
    const errors = sum((e) => e.publishErrors) + r.ordered.publishErrors;
    const disorder = sum((e) => e.outOfOrder);
    const dups = sum((e) => e.duplicates);
    if (missing || dropped || errors || disorder || dups) {
      notes.push(
        `${k}: windows missing ${missing}, dropped by the buffer ${dropped}, publish errors ${errors}, out of order ${disorder}, duplicated ${dups}`,
      );
    }
  }
  notes.push(
    "the burst's latency is backlog: windows wait behind the others (in the publisher's buffer or the stream) and it grows with the burst; the paced and light rows are the latency of a window on a bus that keeps up",
    "the publisher, the consumer thread and nats-server share this machine's CPUs: on separate machines each end would be a little faster",
  );
  return notes;
}

function natsServerVersion(): string {
  for (const bin of ["nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server"]) {
    try {
      return execFileSync(bin, ["--version"], { encoding: "utf8" })
        .trim()
        .replace(/^nats-server:\s*/, "");
    } catch {
      // try the next place
    }
  }
  return "unknown";
}

// ---------- main ----------

let cleanup: (() => Promise<void>) | undefined;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      "windows-200": { type: "string", default: "5000" },
      "windows-2000": { type: "string", default: "2000" },
    },
  });
  const plan: [number, number][] = [
    [200, Number(values["windows-200"])],
    [2000, Number(values["windows-2000"])],
  ];
  if (plan.some(([, n]) => !Number.isInteger(n) || n < 2)) {
    process.stderr.write("bench:bus: --windows-200 and --windows-2000 take an integer >= 2\n");
    return 1;
  }
  const began = Date.now();
  const loadBefore = loadavg();
  const dir = mkdtempSync(join(tmpdir(), "vigil-bench-bus-"));
  let server: EmbeddedNats | undefined;
  let pub: NatsBus | undefined;
  let sub: ConsumerThread | undefined;
  cleanup = async () => {
    cleanup = undefined;
    await sub?.close().catch(() => {});
    await pub?.close().catch(() => {});
    await server?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    server = await EmbeddedNats.start({ storeDir: dir });
    pub = await NatsBus.open({ servers: [server.url] }, createBusMetrics(new Registry()), logger);
    sub = await ConsumerThread.open(server.url);
    const setup: Setup = { server, pub, sub };
    const natsVersion = natsServerVersion();
    process.stdout.write(`bench:bus on ${server.url} (nats-server ${natsVersion})\n`);
    const sizes: SizeResult[] = [];
    for (const [k, n] of plan) sizes.push(await measureSize(setup, k, n));
    const loadAfter = loadavg();
    const notes = findings(sizes);
    if (Math.max(loadBefore[0] ?? 0, loadAfter[0] ?? 0) > 0.5) {
      notes.push(
        `the machine was busy (load ${fmt(loadBefore[0], 2)} before, ${fmt(loadAfter[0], 2)} after): rates are lower and tails longer than on an idle machine`,
      );
    }
    process.stdout.write(`${render(sizes, natsVersion)}\n`);
    for (const n of notes) process.stdout.write(`  note: ${n}\n`);
    const durationS = (Date.now() - began) / 1000;
    process.stdout.write(`(took ${fmt(durationS, 0)} s; written to bench/results/bus.json)\n`);

    const result = {
      bench: "bus",
      date: new Date().toISOString(),
      machine: {
        ...machineInfo(),
        natsServer: natsVersion,
        loadavg1m: { before: loadBefore[0], after: loadAfter[0] },
      },
      params: {
        windows: Object.fromEntries(plan.map(([k, n]) => [`K=${k}`, n])),
        window: "makeWindow + K distinct x86_64 syscall trigrams, 5 execs, 50 files, 10 net",
        store: "file, in a temporary directory",
        bufferLimits: DEFAULT_BUFFER_LIMITS,
        consumerBatch: CONSUMER_BATCH,
        pipelinedInFlight: IN_FLIGHT,
        burstWrite: BURST_WRITE,
        pacedSeconds: PACED_SECONDS,
        light: { windows: LIGHT_WINDOWS, perSecond: LIGHT_RATE },
        warmupWindows: WARMUP_WINDOWS,
      },
      units: { rates: "windows per second", latency: "ms", costs: "µs per window", cpu: "ms" },
      sizes,
      notes,
      durationS,
    };
    writeResults(RESULTS, result, REPO);
    return 0;
  } finally {
    await cleanup?.();
  }
}

if (!isMainThread && parentPort) {
  void consumerThread(parentPort);
} else {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench:bus: ${signal}, cleaning up\n`);
      void (cleanup?.() ?? Promise.resolve()).finally(() => process.exit(code));
    });
  }
  main()
    .then((code) => {
      process.exitCode = code;
    })
    .catch((e: unknown) => {
      const msg = isVigilError(e) ? e.toUserString() : ((e as Error).stack ?? String(e));
      process.stderr.write(`bench:bus failed: ${msg}\n`);
      process.exitCode = 1;
    });
}
