/**
 * The sensor: runs the native helper (restarting it if it dies), decides which processes are
 * agents, routes kernel events to their instance's window, and closes a window for every
 * live instance each period. Errors in one event are counted and logged, never thrown.
 */
import { randomBytes } from "node:crypto";
import { type EventBody, makeEvent, type VigilEvent } from "../contracts/event.js";
import type { WindowRecord } from "../contracts/window.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";
import type { SensorMetrics } from "../telemetry/metrics.js";
import { type Attribution, createAttribution, type Instance } from "./attribution.js";
import { createDiscovery, type Discovery } from "./discovery.js";
import type { HelperOptions, HelperProcess } from "./helper-process.js";
import { HelperSupervisor } from "./helper-supervisor.js";
import type { PathTrust } from "./path-trust.js";
import { isAlive, processFacts, procUid } from "./proc.js";
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

/** Where closed windows go: NATS (WindowPublisher) or a JSONL file. */
export interface WindowSink {
  write(records: readonly WindowRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** Where notable events go as they happen; must not block (the event path is hot). */
export interface EventSink {
  emit(event: VigilEvent): void;
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
  /**
   * At most this many instances found by rules run at once per uid; more are refused and
   * counted (vigil_sensor_instances_refused_total). `vigil exec` instances, which only root
   * can ask for, are not capped.
   */
  maxInstancesPerUid: number;
}

export interface SensorDeps {
  logger: Logger;
  metrics: SensorMetrics;
  rules: RuleMatcher;
  /** Which files rules with an owner may match (root's and the trusted uids'). */
  trust: PathTrust;
  sink: WindowSink;
  /** Optional: notable events (agent start/end, execs, secret files, network, privilege). */
  events?: EventSink;
  privacy: WindowBuilderOptions["privacy"];
  classify: WindowBuilderOptions["classify"];
}

export interface SensorStatus {
  helperPid: number;
  syscallHook: string;
  fileHook: string;
  restarts: number;
  instances: {
    id: number;
    agentType: string;
    agentId: string;
    rootPid: number;
    /** The root process's real uid (-1 if unknown). */
    uid: number;
    pids: number[];
    /** The kernel has tagged its processes: everything they do from now on is counted. */
    tagged: boolean;
  }[];
}

const newAgentId = (): string => randomBytes(4).toString("hex");

/** How many declined auto instances are remembered for their process's next exec (onExec). */
const MAX_DECLINED = 4096;

export class Sensor {
  private readonly helpers: HelperSupervisor;
  private readonly attribution: Attribution;
  private readonly discovery: Discovery;
  private readonly windows: WindowBuilder;
  /** Instances whose processes the kernel has tagged (a user-space rule match tags later). */
  private readonly tagged = new Set<number>();
  private readonly ended = new Set<Instance>();
  /** Kernel-allocated instances of execs the comm watch tagged and no rule matched. */
  private readonly declined = new Set<number>();
  private readonly drainWaiters = new Map<number, () => void>();
  private lastStats: Record<string, number> = {};
  private pendingDrops: Record<string, number> = {};
  private readonly eventCounts = new Map<string, number>();
  private seq = 0;
  private windowStartMs = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> = Promise.resolve();
  private stopped = false;
  private maxAutoInstance = 0;
  private failure: VigilError | undefined;
  private readonly onFailure: ((e: VigilError) => void)[] = [];

  private constructor(
    private readonly options: SensorOptions,
    private readonly deps: SensorDeps,
    helpers: HelperSupervisor,
  ) {
    this.helpers = helpers;
    this.attribution = createAttribution(newAgentId);
    this.discovery = createDiscovery({
      attribution: this.attribution,
      rules: deps.rules,
      trust: deps.trust,
      admit: (agentType, uid) => this.admit(agentType, uid),
      // the helper changes when it is restarted: always ask the current one
      track: (pid, instance) => this.helpers.current.track(pid, instance),
      onTagged: (instance) => this.tagged.add(instance.id),
    });
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
    const early: WireItem[] = [];
    const helpers = await HelperSupervisor.open(
      options.restart,
      {
        onItem: (item) => (sensor ? sensor.onItem(item) : early.push(item)),
        onCrash: () => sensor?.onHelperCrash(),
        arm: async (h, restarted) => {
          for (const [comm, ruleIndex] of deps.rules.kernelComms()) {
            await h.watch(comm, ruleIndex + 1);
          }
          if (restarted) await sensor?.retagAll(h);
        },
        onFatal: (e) => sensor?.fail(e),
        options: () => ({
          ...options.helper,
          autoInstanceBase: (sensor?.maxAutoInstance ?? 0) + 1,
        }),
      },
      deps.logger,
      deps.metrics,
    );
    sensor = new Sensor(options, deps, helpers);
    for (const agentType of deps.rules.agentTypes()) {
      deps.metrics.refusedInstances.inc({ agent_type: agentType }, 0);
    }
    for (const item of early.splice(0)) sensor.onItem(item);
    const helper = helpers.current;
    deps.logger.info("sensor started", {
      helperPid: helper.pid,
      syscallHook: helper.hello.syscallHook,
      fileHook: helper.hello.fileHook,
      ...(helper.hello.fileHookFallback ? { fileHookFallback: helper.hello.fileHookFallback } : {}),
      kernel: helper.hello.kernel,
      windowSeconds: options.windowSeconds,
    });
    if (options.scanProc ?? true) {
      for (const found of await sensor.discovery.scanRunning(new Set([process.pid, helper.pid]))) {
        sensor.joined(found);
        deps.metrics.trackedInstances.inc({ agent_type: found.agentType });
        deps.logger.info("found running agent", {
          agentType: found.agentType,
          agentId: found.agentId,
          pid: found.rootPid,
        });
      }
    }
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
  async track(
    pid: number,
    agentType: string,
    agentId?: string,
    options: { fresh?: boolean } = {},
  ): Promise<Instance> {
    if (!isAlive(pid)) {
      throw new VigilError(ErrorCodes.TRACK_FAILED, `no process with pid ${pid}`);
    }
    const instance = this.attribution.create({
      agentType,
      agentId,
      rootPid: pid,
      uid: procUid(pid) ?? -1,
      source: "exec",
      startedMs: Date.now(),
    });
    try {
      await this.discovery.adoptTree(instance, pid, options.fresh);
    } catch (e) {
      this.attribution.remove(instance.id);
      throw e;
    }
    this.joined(instance);
    this.deps.metrics.trackedInstances.inc({ agent_type: agentType });
    this.deps.logger.info("tracking agent", { agentType, agentId: instance.agentId, pid });
    return instance;
  }

  /** Whether the pid belongs to a tracked instance. */
  isTracked(pid: number): boolean {
    return this.attribution.ofPid(pid) !== undefined;
  }

  status(): SensorStatus {
    return {
      helperPid: this.helpers.current.pid,
      syscallHook: this.helpers.current.hello.syscallHook,
      fileHook: this.helpers.current.hello.fileHook,
      restarts: this.helpers.total,
      instances: this.attribution.instances().map((i) => ({
        id: i.id,
        agentType: i.agentType,
        agentId: i.agentId,
        rootPid: i.rootPid,
        uid: i.uid,
        pids: [...i.pids],
        tagged: this.tagged.has(i.id),
      })),
    };
  }

  /** The helper's process id: tests kill it to check crash handling. */
  get helperPid(): number {
    return this.helpers.current.pid;
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
    await this.helpers.stop();
    await this.deps.sink.close();
    await this.deps.events?.close();
  }

  // ---- helper restarts -----------------------------------------------------------------------

  private onHelperCrash(): void {
    this.pendingDrops.helper_restart = (this.pendingDrops.helper_restart ?? 0) + 1;
    for (const done of this.drainWaiters.values()) done();
    this.drainWaiters.clear();
  }

  /** A new helper knows nothing: re-tag every live process; forget the ones that died. */
  private async retagAll(helper: HelperProcess): Promise<void> {
    this.lastStats = {};
    for (const instance of this.attribution.instances()) {
      for (const pid of [...instance.pids]) {
        if (!isAlive(pid)) {
          this.onProcessGone(pid, instance);
          continue;
        }
        await helper.track(pid, instance.id).catch(() => this.onProcessGone(pid, instance));
      }
    }
  }

  private fail(e: VigilError): void {
    this.failure = e;
    for (const fn of this.onFailure.splice(0)) fn(e);
  }

  // ---- attribution ---------------------------------------------------------------------------

  /** Processes that joined a new instance count as started, so starts and exits balance. */
  private joined(instance: Instance): void {
    for (const _ of instance.pids) this.windows.processStarted(instance);
    this.emit(instance, instance.rootPid, Date.now(), {
      kind: "agent",
      phase: "started",
      source: instance.source,
    });
  }

  /** A notable event, as it happens (the window reports it too, a little later). */
  private emit(instance: Instance, pid: number, epochMs: number, body: EventBody): void {
    this.deps.events?.emit(makeEvent(this.options.host, instance, pid, epochMs, body));
  }

  private eventTime(ts: number): number {
    return this.helpers.current.toEpochMs(ts);
  }

  private onProcessGone(pid: number, instance?: Instance): void {
    const owner = instance ?? this.attribution.ofPid(pid);
    if (!owner) return;
    this.windows.processExited(owner);
    if (this.attribution.removePid(pid)) {
      this.ended.add(owner);
      this.deps.metrics.trackedInstances.dec({ agent_type: owner.agentType });
      this.emit(owner, owner.rootPid, Date.now(), {
        kind: "agent",
        phase: "ended",
        source: owner.source,
      });
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
          // counted here, added to the metric once per window: a labelled inc costs ~1 us
          this.eventCounts.set(item.kind, (this.eventCounts.get(item.kind) ?? 0) + 1);
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
      case "open": {
        const file = this.windows.open(
          instance,
          ev,
          this.attribution.resolve(ev.pid, ev.dfd, ev.path),
        );
        // Only secret files become events: every open is in the window.
        if (file.class === "secret")
          this.emit(instance, ev.pid, this.eventTime(ev.ts), { kind: "file", ...file });
        break;
      }
      case "net": {
        const { family: _, ...net } = this.windows.net(instance, ev);
        this.emit(instance, ev.pid, this.eventTime(ev.ts), { kind: "net", ...net });
        break;
      }
      case "priv":
        this.emit(instance, ev.pid, this.eventTime(ev.ts), {
          kind: "privilege",
          ...this.windows.privilege(instance, ev),
        });
        break;
      case "chdir":
        this.attribution.chdir(ev.pid, ev.fd === -100 ? ev.path : undefined);
        break;
    }
  }

  /**
   * Whether a process of `uid` that a rule matched may become one more instance: refused past
   * maxInstancesPerUid live rule-found instances of that uid, counted, logged once per uid and
   * minute whatever the rate.
   */
  private admit(agentType: string, uid: number): boolean {
    let live = 0;
    for (const i of this.attribution.instances()) {
      if (i.source !== "exec" && i.uid === uid && !this.ended.has(i)) live++;
    }
    if (live < this.options.maxInstancesPerUid) return true;
    this.deps.metrics.refusedInstances.inc({ agent_type: agentType });
    this.deps.logger.limited(
      "warn",
      `instance-cap:${uid}`,
      "agent instance refused: this uid has as many as sensor.maxInstancesPerUid",
      { uid, agentType, max: this.options.maxInstancesPerUid },
      60_000,
    );
    return false;
  }

  private decline(instance: number): void {
    this.declined.add(instance);
    if (this.declined.size > MAX_DECLINED) {
      const oldest = this.declined.values().next().value;
      if (oldest !== undefined) this.declined.delete(oldest);
    }
  }

  private onExec(ev: ExecEvent): void {
    let instance = ev.instance ? this.attribution.get(ev.instance) : undefined;
    if (!instance) {
      // An earlier exec of this process, handled after this one happened, was matched on what
      // /proc shows now: this exec's program. It is that instance; the kernel's tag follows.
      instance = this.attribution.ofPid(ev.pid);
      // From before `vigil exec` had its process tracked (the sh that stops itself): not the
      // agent's, and no rule may make it another instance.
      if (instance?.source === "exec") return;
      if (instance && ev.instance !== instance.id) {
        void this.helpers.current.track(ev.pid, instance.id).catch(() => {});
      }
    }
    // Read now, like exe: the uid of the program the process runs, not of an earlier exec.
    if (instance && instance.rootPid === ev.pid) instance.uid = procUid(ev.pid) ?? ev.uid;
    if (!instance) {
      const autoMatched = (ev.flags & EventFlags.AUTO_MATCHED) !== 0;
      // The comm watch tagged this process at an earlier exec that no rule matched, and the
      // untrack may not have landed yet: `#!/usr/bin/env node` makes env exec node, and only
      // node's exec shows the script. Matched again now; tracked afresh if a rule says so.
      const again = ev.instance !== 0 && !autoMatched && this.declined.delete(ev.instance);
      if (ev.instance && !autoMatched && !again) return; // a tag from before a restart
      // Every exec on the host comes here: /proc is read and paths walked only if a rule asks.
      const facts = processFacts(
        ev.pid,
        { comm: ev.comm, argv: ev.argv, filename: ev.filename },
        this.deps.trust,
        () => this.attribution.resolve(ev.pid, -100, ev.filename),
      );
      const m = this.deps.rules.match(facts);
      const uid = m ? (procUid(ev.pid) ?? ev.uid) : ev.uid;
      if (!m || !this.admit(m.agentType, uid)) {
        // The kernel's comm watch is a pre-filter; the full rules (or the cap) said no.
        if (autoMatched) {
          void this.helpers.current.untrack(ev.pid).catch(() => {});
          if (!m) this.decline(ev.instance);
        }
        return;
      }
      if (isAutoInstance(ev.instance)) {
        this.maxAutoInstance = Math.max(this.maxAutoInstance, ev.instance & 0x7fffffff);
      }
      instance = this.attribution.create({
        ...(autoMatched ? { id: ev.instance } : {}),
        agentType: m.agentType,
        rootPid: ev.pid,
        uid,
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
      const created = instance;
      this.joined(created);
      if (autoMatched) this.tagged.add(created.id);
      else {
        void this.helpers.current.track(ev.pid, created.id).then(
          () => this.tagged.add(created.id),
          () => this.onProcessGone(ev.pid, created),
        );
      }
    }
    const exec = this.windows.exec(
      instance,
      ev,
      this.attribution.resolve(ev.pid, -100, ev.filename),
    );
    this.emit(instance, ev.pid, this.eventTime(ev.ts), {
      kind: "exec",
      ...exec,
      ppid: ev.ppid,
      uid: ev.uid,
    });
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
      this.helpers.current.drain(seq);
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
    for (const [kind, n] of this.eventCounts) this.deps.metrics.events.inc({ kind }, n);
    this.eventCounts.clear();
    const records = this.windows.close(closing, seq, this.windowStartMs, endMs, drops);
    this.windowStartMs = endMs;
    for (const instance of this.ended) {
      this.attribution.remove(instance.id);
      this.tagged.delete(instance.id);
    }
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
