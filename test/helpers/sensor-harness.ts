/**
 * A real sensor (real helper, real BPF) wired to an in-memory sink and log, with the window
 * clock driven by the test (closeWindow) instead of a timer, so results are deterministic.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { copyFileSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { Registry } from "prom-client";
import type { WindowRecord } from "../../src/contracts/window.js";
import type { Instance } from "../../src/sensor/attribution.js";
import { ControlServer } from "../../src/sensor/control-server.js";
import { createFileClassifier } from "../../src/sensor/file-class.js";
import type { HelperOptions } from "../../src/sensor/helper-process.js";
import { createPathTrust } from "../../src/sensor/path-trust.js";
import { createPrivacy } from "../../src/sensor/privacy.js";
import { createRuleMatcher, type Rule } from "../../src/sensor/rules.js";
import { Sensor, type WindowSink } from "../../src/sensor/sensor.js";
import { hostArch, syscallNumber } from "../../src/sensor/syscall-names.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { createSensorMetrics, type SensorMetrics } from "../../src/telemetry/metrics.js";
import { buildFixture, REPO } from "./build-fixture.js";
import { tempDir } from "./temp-dir.js";

export const HELPER_PATH = join(REPO, "bpf", "build", "vigil-bpf");

export class MemorySink implements WindowSink {
  readonly records: WindowRecord[] = [];
  async write(records: readonly WindowRecord[]): Promise<void> {
    this.records.push(...records);
  }
  async close(): Promise<void> {}
}

export interface TestSensorOptions {
  helper?: Partial<HelperOptions>;
  rules?: Rule[];
  homes?: string[];
  workspaces?: string[];
  scanProc?: boolean;
  /** Uids trusted besides root to own agents' files (default none). */
  trustedUids?: number[];
  maxInstancesPerUid?: number;
  restart?: { initialDelayMs: number; maxDelayMs: number; maxRestartsPerMinute: number };
}

export interface TestSensor {
  sensor: Sensor;
  sink: MemorySink;
  logs: Record<string, unknown>[];
  metrics: SensorMetrics;
  registry: Registry;
  closeWindow(): Promise<void>;
  windowsOf(agentId: string): WindowRecord[];
  stop(): Promise<void>;
}

export async function startTestSensor(o: TestSensorOptions = {}): Promise<TestSensor> {
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n")) {
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  const logger = createLogger({ level: "debug", stream });
  const registry = new Registry();
  const metrics = createSensorMetrics(registry);
  const homes = o.homes ?? ["/root"];
  const sink = new MemorySink();
  const sensor = await Sensor.open(
    {
      host: "test-host",
      arch: hostArch(),
      windowSeconds: 3600, // the test closes windows itself
      helper: {
        path: HELPER_PATH,
        ngram: 3,
        ngramMapEntries: 65536,
        flowMapEntries: 16384,
        ringbufBytes: 4 * 1024 * 1024,
        reportUntrackedExecs: true,
        ...o.helper,
      },
      restart: o.restart ?? { initialDelayMs: 50, maxDelayMs: 1000, maxRestartsPerMinute: 10 },
      scanProc: o.scanProc ?? false,
      maxInstancesPerUid: o.maxInstancesPerUid ?? 64,
    },
    {
      logger,
      metrics,
      rules: createRuleMatcher(o.rules ?? []),
      trust: createPathTrust(o.trustedUids ?? []),
      sink,
      privacy: createPrivacy({ homes }),
      classify: createFileClassifier({ homes, workspaces: o.workspaces ?? [] }),
    },
  );
  return {
    sensor,
    sink,
    logs,
    metrics,
    registry,
    closeWindow: () => sensor.closeWindow(),
    windowsOf: (agentId) => sink.records.filter((r) => r.agentId === agentId),
    stop: () => sensor.stop(),
  };
}

export interface Trigger {
  child: ChildProcess;
  /** What the trigger printed (the server mode prints its port). */
  stdout(): string;
  pid: number;
  /** Lets the trigger run its sequence. */
  release(): void;
  exited: Promise<unknown>;
}

/**
 * Starts a trigger and resolves once it sleeps in its read(0): tracking it from then on counts
 * exactly the syscalls of its sequence (tracking it earlier would count its start-up too).
 */
export async function spawnTrigger(mode: string, n?: number, binary?: string): Promise<Trigger> {
  const path = binary ?? buildFixture("trigger");
  const child = spawn(path, n === undefined ? [mode] : [mode, String(n)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  if (child.pid === undefined) throw new Error("trigger did not start");
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const readNr = syscallNumber(hostArch(), "read");
  await waitFor(
    () => {
      try {
        return (
          readlinkSync(`/proc/${child.pid}/exe`) === path &&
          readFileSync(`/proc/${child.pid}/syscall`, "utf8").startsWith(`${readNr} `)
        );
      } catch {
        return false;
      }
    },
    5000,
    "the trigger to block in read(0)",
    2,
  );
  return {
    child,
    stdout: () => out,
    pid: child.pid,
    release: () => child.stdin?.end("g"),
    exited,
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `pred` holds or the time is up. */
export async function waitFor(
  pred: () => boolean,
  timeoutMs = 5000,
  what = "condition",
  everyMs = 20,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** n-grams of a window as "a,b,c" -> count. */
export function ngramMap(w: WindowRecord): Map<string, number> {
  return new Map(
    w.syscalls.ngrams.map((g) => [g.slice(0, -1).join(","), g.at(-1) as number] as const),
  );
}

/**
 * Runs a trigger as a tracked agent to its end. With `close` (the default) the window is closed
 * and returned; otherwise the caller closes it after running more.
 */
export async function runTracked(
  ts: TestSensor,
  mode: string,
  options: { n?: number; agentId?: string; close?: boolean } = {},
): Promise<{ trig: Trigger; instance: Instance; window: WindowRecord | undefined }> {
  const trig = await spawnTrigger(mode, options.n);
  const instance = await ts.sensor.track(trig.pid, "test-agent", options.agentId);
  trig.release();
  await trig.exited;
  if (options.close ?? true) await ts.closeWindow();
  return { trig, instance, window: ts.windowsOf(instance.agentId)[0] };
}

/** A copy of the trigger under another name (rules match on comm and exe). */
export function namedTrigger(name: string): string {
  const bin = join(tempDir("vigil-rule-"), name);
  copyFileSync(buildFixture("trigger"), bin);
  return bin;
}

export const CONTROL_PROXY = join(REPO, "bpf", "build", "vigil-control");

/** The control socket of a test sensor, as `vigil run` opens it. */
export function openTestControl(
  sensor: Sensor,
  path: string,
  options: { group?: number } = {},
): Promise<ControlServer> {
  return ControlServer.open(
    path,
    {
      track: async (pid, agentType, agentId, fresh) => {
        const i = await sensor.track(pid, agentType, agentId, { fresh: fresh === true });
        return { instance: i.id, agentId: i.agentId };
      },
      status: () => sensor.status(),
      isTracked: (pid) => sensor.isTracked(pid),
    },
    createLogger({ level: "error", stream: new Writable({ write: (_c, _e, cb) => cb() }) }),
    { proxy: CONTROL_PROXY, ...options },
  );
}
