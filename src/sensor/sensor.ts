/**
 * The sensor: runs the native helper (restarting it if it dies), decides which processes are
 * agents, routes kernel events to their instance's window, and closes a window for every
 * live instance each period. Errors in one event are counted and logged, never thrown.
 */
import { randomBytes } from "node:crypto";
import type { WindowRecord } from "../contracts/window.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";
import type { SensorMetrics } from "../telemetry/metrics.js";
import { type Attribution, createAttribution, type Instance } from "./attribution.js";
import { type HelperExit, type HelperOptions, HelperProcess } from "./helper-process.js";
import { childrenMap, isAlive, listPids, procCgroup, procInfo, readLink } from "./proc.js";
import type { RuleMatcher } from "./rules.js";
import type { SyscallArch } from "./syscall-names.js";
import {
  createWindowBuilder,
  type WindowBuilder,
  type WindowBuilderOptions,
} from "./window-builder.js";
import {
  DROP_REASON_NAMES,
  EventFlags,
  type ExecEvent,
  isAutoInstance,
  type WireEvent,
  type WireItem,
} from "./wire.js";

/** Where closed windows go: a JSONL file today, NATS with the bus. */
export interface WindowSink {
  write(records: readonly WindowRecord[]): Promise<void>;
  close(): Promise<void>;
}

export interface SensorOptions {
  host: string;
  arch: SyscallArch;
  windowSeconds: number;
  helper: HelperOptions;
  restart: { initialDelayMs: number; maxDelayMs: number; maxRestartsPerMinute: number };
  /** Adopt matching processes that are already running (default true). */
  scanProc?: boolean;
}

export interface SensorDeps {
  logger: Logger;
  metrics: SensorMetrics;
  rules: RuleMatcher;
  sink: WindowSink;
  privacy: WindowBuilderOptions["privacy"];
  classify: WindowBuilderOptions["classify"];
}

export interface SensorStatus {
  helperPid: number;
  syscallHook: string;
  fileHook: string;
  restarts: number;
  instances: { id: number; agentType: string; agentId: string; rootPid: number; pids: number[] }[];
}

const newAgentId = (): string => randomBytes(4).toString("hex");

export class Sensor {
  private helper: HelperProcess;
  private readonly attribution: Attribution;
  private readonly windows: WindowBuilder;
  private readonly ended = new Set<Instance>();
  private readonly drainWaiters = new Map<number, () => void>();
  private lastStats: Record<string, number> = {};
  private pendingDrops: Record<string, number> = {};
  private seq = 0;
  private windowStartMs = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> = Promise.resolve();
  private stopped = false;
  private restarts: number[] = [];
  private totalRestarts = 0;
  private maxAutoInstance = 0;
  private failure: VigilError | undefined;
  private readonly onFailure: ((e: VigilError) => void)[] = [];

  private constructor(
    private readonly options: SensorOptions,
    private readonly deps: SensorDeps,
    helper: HelperProcess,
  ) {
    this.helper = helper;
    this.attribution = createAttribution(newAgentId);
    this.windows = createWindowBuilder({
      host: options.host,
      ngram: options.helper.ngram,
      arch: options.arch,
      privacy: deps.privacy,
      classify: deps.classify,
    });
  }

  static async open(options: SensorOptions, deps: SensorDeps): Promise<Sensor> {
    let sensor: Sensor | undefined;
    const helper = await HelperProcess.open(
      options.helper,
      (item) => sensor?.onItem(item),
      (exit) => sensor?.onHelperExit(exit),
      deps.logger,
    );
    sensor = new Sensor(options, deps, helper);
    deps.logger.info("sensor started", {
      helperPid: helper.pid,
      syscallHook: helper.hello.syscallHook,
      fileHook: helper.hello.fileHook,
      ...(helper.hello.fileHookFallback ? { fileHookFallback: helper.hello.fileHookFallback } : {}),
      kernel: helper.hello.kernel,
      windowSeconds: options.windowSeconds,
    });
    await sensor.armHelper();
    if (options.scanProc ?? true) await sensor.scanRunning();
    sensor.timer = setInterval(() => void sensor.closeWindow(), options.windowSeconds * 1000);
    return sensor;
  }

  /** Called with a fatal error when the helper cannot be kept running. */
  onFatal(fn: (e: VigilError) => void): void {
    if (this.failure) fn(this.failure);
    else this.onFailure.push(fn);
  }

  /**
   * Tracks `pid` and its current descendants as one new agent instance. Used by `vigil exec`
   * (the process is stopped before its exec, so nothing it does is missed).
   */
  async track(pid: number, agentType: string, agentId?: string): Promise<Instance> {
    if (!isAlive(pid)) {
      throw new VigilError(ErrorCodes.TRACK_FAILED, `no process with pid ${pid}`);
    }
    const instance = this.attribution.create({
      agentType,
      agentId,
      rootPid: pid,
      source: "exec",
      startedMs: Date.now(),
    });
    try {
      await this.adoptTree(instance, pid);
    } catch (e) {
      this.attribution.remove(instance.id);
      throw e;
    }
    this.deps.metrics.trackedInstances.inc({ agent_type: agentType });
    this.deps.logger.info("tracking agent", { agentType, agentId: instance.agentId, pid });
    return instance;
  }

  status(): SensorStatus {
    return {
      helperPid: this.helper.pid,
      syscallHook: this.helper.hello.syscallHook,
      fileHook: this.helper.hello.fileHook,
      restarts: this.totalRestarts,
      instances: this.attribution.instances().map((i) => ({
        id: i.id,
        agentType: i.agentType,
        agentId: i.agentId,
        rootPid: i.rootPid,
        pids: [...i.pids],
      })),
    };
  }

  /** The helper's process id: tests kill it to check crash handling. */
  get helperPid(): number {
    return this.helper.pid;
  }

  /** Closes the current window now (also what the timer calls). */
  closeWindow(): Promise<void> {
    this.draining = this.draining
      .then(() => this.drainOnce())
      .catch((e: unknown) => {
        this.deps.metrics.stageErrors.inc({ stage: "window", kind: "drain" });
        this.deps.logger.limited("error", "drain", "closing a window failed", {
          error: (e as Error).message,
        });
      });
    return this.draining;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    clearInterval(this.timer);
    await this.closeWindow();
    this.stopped = true;
    await this.helper.stop();
    await this.deps.sink.close();
  }

  // ---- helper lifecycle ----------------------------------------------------------------------

  private async armHelper(): Promise<void> {
    for (const [comm, ruleIndex] of this.deps.rules.kernelComms()) {
      await this.helper.watch(comm, ruleIndex + 1);
    }
  }

  private onHelperExit(exit: HelperExit): void {
    if (exit.expected || this.stopped) return;
    this.deps.metrics.helperRestarts.inc();
    this.totalRestarts++;
    this.pendingDrops.helper_restart = (this.pendingDrops.helper_restart ?? 0) + 1;
    this.deps.logger.error("BPF helper died; restarting it", {
      code: ErrorCodes.HELPER_CRASHED,
      exitCode: exit.code,
      signal: exit.signal,
      stderr: exit.stderrTail.trim().slice(-500),
    });
    for (const done of this.drainWaiters.values()) done();
    this.drainWaiters.clear();
    void this.restartHelper();
  }

  private async restartHelper(): Promise<void> {
    const { initialDelayMs, maxDelayMs, maxRestartsPerMinute } = this.options.restart;
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < 60_000);
    this.restarts.push(now);
    if (this.restarts.length > maxRestartsPerMinute) {
      this.fail(
        new VigilError(
          ErrorCodes.HELPER_CRASHED,
          `the BPF helper died ${this.restarts.length} times within a minute; giving up`,
          {
            hint: "see the helper's messages above; `bpf/build/vigil-bpf probe` checks the kernel",
          },
        ),
      );
      return;
    }
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** (this.restarts.length - 1));
    await new Promise((r) => setTimeout(r, delay));
    if (this.stopped) return;
    try {
      this.helper = await HelperProcess.open(
        { ...this.options.helper, autoInstanceBase: this.maxAutoInstance + 1 },
        (item) => this.onItem(item),
        (exit) => this.onHelperExit(exit),
        this.deps.logger,
      );
      this.lastStats = {};
      await this.armHelper();
      // Re-tag every process of every live instance; drop the ones that died meanwhile.
      for (const instance of this.attribution.instances()) {
        for (const pid of [...instance.pids]) {
          if (!isAlive(pid)) {
            this.onProcessGone(pid, instance);
            continue;
          }
          await this.helper.track(pid, instance.id).catch(() => this.onProcessGone(pid, instance));
        }
      }
      this.deps.logger.info("BPF helper restarted", { helperPid: this.helper.pid });
    } catch (e) {
      this.deps.logger.error("restarting the BPF helper failed", { error: (e as Error).message });
      void this.restartHelper();
    }
  }

  private fail(e: VigilError): void {
    this.failure = e;
    this.deps.logger.error(e.message, { code: e.code, hint: e.hint });
    for (const fn of this.onFailure.splice(0)) fn(e);
  }

  // ---- attribution ---------------------------------------------------------------------------

  /** Tags `root` and every descendant that /proc shows now. */
  private async adoptTree(instance: Instance, root: number): Promise<void> {
    const infos = listPids()
      .map(procInfo)
      .filter((p) => p !== undefined);
    const kids = childrenMap(infos);
    const queue = [root];
    for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
      if (pid !== root) this.attribution.addPid(instance, pid);
      await this.helper.track(pid, instance.id);
      queue.push(...(kids.get(pid) ?? []));
    }
  }

  /** Finds agents that were running before the sensor started. */
  private async scanRunning(): Promise<void> {
    const self = new Set([process.pid, this.helper.pid]);
    const infos = new Map(
      listPids()
        .map(procInfo)
        .filter((p) => p !== undefined)
        .map((p) => [p.pid, p]),
    );
    const matched = new Map<number, string>();
    for (const p of infos.values()) {
      if (self.has(p.pid) || p.ppid === 2 || p.pid === 2) continue; // kernel threads
      const m = this.deps.rules.match(p);
      if (m) matched.set(p.pid, m.agentType);
    }
    for (const [pid, agentType] of matched) {
      // The topmost matching process is the instance; matching descendants belong to it.
      let up = infos.get(pid)?.ppid;
      let covered = false;
      for (let depth = 0; up !== undefined && up > 1 && depth < 64; depth++) {
        if (matched.has(up)) covered = true;
        up = infos.get(up)?.ppid;
      }
      if (covered) continue;
      const instance = this.attribution.create({
        agentType,
        rootPid: pid,
        source: "rule",
        startedMs: Date.now(),
      });
      try {
        await this.adoptTree(instance, pid);
        this.deps.metrics.trackedInstances.inc({ agent_type: agentType });
        this.deps.logger.info("found running agent", { agentType, agentId: instance.agentId, pid });
      } catch {
        this.attribution.remove(instance.id); // it exited while we looked
      }
    }
  }

  private onProcessGone(pid: number, instance?: Instance): void {
    const owner = instance ?? this.attribution.ofPid(pid);
    if (!owner) return;
    this.windows.processExited(owner);
    if (this.attribution.removePid(pid)) {
      this.ended.add(owner);
      this.deps.metrics.trackedInstances.dec({ agent_type: owner.agentType });
    }
  }

  // ---- events --------------------------------------------------------------------------------

  private onItem(item: WireItem): void {
    try {
      switch (item.kind) {
        case "ngrams":
          for (const r of item.records) {
            const instance = this.attribution.get(r.instance);
            if (instance) this.windows.ngram(instance, r);
          }
          break;
        case "flows":
          for (const r of item.records) {
            const instance = this.attribution.get(r.instance);
            if (instance) this.windows.flow(instance, r);
          }
          break;
        case "stats":
          this.onStats(item.drops);
          this.deps.metrics.hooksAttached.set(item.hooksAttached ? 1 : 0);
          break;
        case "drain-end":
          this.drainWaiters.get(item.seq)?.();
          break;
        case "json":
          this.onHelperMessage(item.value as Record<string, unknown>);
          break;
        case "invalid":
          this.deps.metrics.stageErrors.inc({ stage: "decode", kind: item.reason });
          this.deps.logger.limited("warn", `invalid:${item.reason}`, "undecodable helper frame", {
            reason: item.reason,
            detail: item.detail,
          });
          break;
        default:
          this.deps.metrics.events.inc({ kind: item.kind });
          this.onEvent(item);
      }
    } catch (e) {
      this.deps.metrics.stageErrors.inc({ stage: "attribute", kind: "exception" });
      this.deps.logger.limited("error", "event", "an event could not be processed", {
        kind: item.kind,
        error: (e as Error).message,
      });
    }
  }

  private onHelperMessage(v: Record<string, unknown>): void {
    if (v.kind === "error") {
      this.deps.metrics.stageErrors.inc({ stage: "decode", kind: "helper_error" });
      this.deps.logger.limited("error", "helper-error", String(v.message), { code: v.code });
    } else if (v.kind === "hooks") {
      this.deps.logger.debug("syscall hooks", { attached: v.attached });
    }
  }

  private onStats(drops: Record<string, number>): void {
    for (const reason of DROP_REASON_NAMES) {
      const total = drops[reason] ?? 0;
      const delta = total - (this.lastStats[reason] ?? 0);
      this.lastStats[reason] = total;
      if (delta > 0) {
        this.pendingDrops[reason] = (this.pendingDrops[reason] ?? 0) + delta;
        this.deps.metrics.kernelDrops.inc({ reason }, delta);
      }
    }
  }

  private onEvent(ev: WireEvent): void {
    if (ev.kind === "exec") {
      this.onExec(ev);
      return;
    }
    const instance = ev.instance ? this.attribution.get(ev.instance) : undefined;
    if (!instance) return; // an untracked or already-ended process
    switch (ev.kind) {
      case "fork":
        this.attribution.addPid(instance, ev.childPid, ev.pid);
        this.windows.processStarted(instance);
        break;
      case "exit":
        this.onProcessGone(ev.pid, instance);
        break;
      case "open":
        this.windows.open(instance, ev, this.attribution.resolve(ev.pid, ev.dfd, ev.path));
        break;
      case "net":
        this.windows.net(instance, ev);
        break;
      case "priv":
        this.windows.privilege(instance, ev);
        break;
      case "chdir":
        this.attribution.chdir(ev.pid, ev.fd === -100 ? ev.path : undefined);
        break;
    }
  }

  private onExec(ev: ExecEvent): void {
    const path = this.attribution.resolve(ev.pid, -100, ev.filename);
    let instance = ev.instance ? this.attribution.get(ev.instance) : undefined;
    if (!instance) {
      const autoMatched = (ev.flags & EventFlags.AUTO_MATCHED) !== 0;
      if (ev.instance && !autoMatched) return; // a tag from before a restart, already handled
      const facts = {
        exe: readLink(`/proc/${ev.pid}/exe`) ?? path,
        comm: ev.comm,
        argv: ev.argv,
        cgroup: procCgroup(ev.pid) ?? "",
      };
      const m = this.deps.rules.match(facts);
      if (!m) {
        // The kernel's comm watch is a pre-filter; the full rule said no.
        if (autoMatched) void this.helper.untrack(ev.pid).catch(() => {});
        return;
      }
      if (isAutoInstance(ev.instance)) {
        this.maxAutoInstance = Math.max(this.maxAutoInstance, ev.instance & 0x7fffffff);
      }
      instance = this.attribution.create({
        ...(autoMatched ? { id: ev.instance } : {}),
        agentType: m.agentType,
        rootPid: ev.pid,
        source: autoMatched ? "watch" : "rule",
        startedMs: Date.now(),
      });
      this.deps.metrics.trackedInstances.inc({ agent_type: m.agentType });
      this.deps.logger.info("agent started", {
        agentType: m.agentType,
        agentId: instance.agentId,
        pid: ev.pid,
        exe: this.deps.privacy.maskPath(facts.exe),
      });
      if (!autoMatched) {
        const created = instance;
        void this.helper.track(ev.pid, created.id).catch(() => this.onProcessGone(ev.pid, created));
      }
    }
    this.windows.exec(instance, ev, path);
  }

  // ---- windows -------------------------------------------------------------------------------

  private async drainOnce(): Promise<void> {
    if (this.stopped) return;
    const seq = ++this.seq;
    const endMs = Date.now();
    // A helper that is gone for good has nothing to drain: close the windows with what we have.
    await new Promise<void>((resolve) => {
      if (this.failure) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.drainWaiters.delete(seq);
        this.pendingDrops.drain_timeout = (this.pendingDrops.drain_timeout ?? 0) + 1;
        resolve();
      }, 5000);
      this.drainWaiters.set(seq, () => {
        clearTimeout(timer);
        this.drainWaiters.delete(seq);
        resolve();
      });
      this.helper.drain(seq);
    });
    const closing = this.attribution.instances().map((instance) => ({
      instance,
      final: this.ended.has(instance),
    }));
    const drops: Record<string, number> = {};
    for (const r of [...DROP_REASON_NAMES, "helper_restart", "drain_timeout"]) {
      drops[r] = this.pendingDrops[r] ?? 0;
    }
    this.pendingDrops = {};
    const records = this.windows.close(closing, seq, this.windowStartMs, endMs, drops);
    this.windowStartMs = endMs;
    for (const instance of this.ended) this.attribution.remove(instance.id);
    this.ended.clear();
    if (records.length === 0) return;
    for (const r of records) this.deps.metrics.windows.inc({ agent_type: r.agentType });
    try {
      await this.deps.sink.write(records);
    } catch (e) {
      this.deps.metrics.dropped.inc({ reason: "output" }, records.length);
      this.deps.metrics.stageErrors.inc({ stage: "output", kind: "write" });
      this.deps.logger.limited("error", "sink", "writing windows failed", {
        error: (e as Error).message,
      });
    }
  }
}
