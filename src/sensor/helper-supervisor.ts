/**
 * Keeps one native helper running: when it dies it is reported, restarted with exponential
 * backoff, and handed back to the owner to re-arm (rules, tagged processes). A helper that dies
 * more than `maxRestartsPerMinute` times is a fatal error, not a restart loop.
 */
import { ErrorCodes, VigilError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";
import type { SensorMetrics } from "../telemetry/metrics.js";
import { type HelperExit, type HelperOptions, HelperProcess } from "./helper-process.js";
import type { WireItem } from "./wire.js";

export interface RestartPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  maxRestartsPerMinute: number;
}

export interface SupervisorHooks {
  onItem(item: WireItem): void;
  /** The helper died: whatever it had not drained is lost. */
  onCrash(exit: HelperExit): void;
  /** A new helper is up: give it the state the old one had. Runs for the first one too. */
  arm(helper: HelperProcess, restarted: boolean): Promise<void>;
  onFatal(e: VigilError): void;
  /** Options for the next start (e.g. the first free kernel instance id). */
  options(): HelperOptions;
}

export class HelperSupervisor {
  private helper!: HelperProcess;
  private restarts: number[] = [];
  private stopped = false;
  total = 0;

  private constructor(
    private readonly policy: RestartPolicy,
    private readonly hooks: SupervisorHooks,
    private readonly logger: Logger,
    private readonly metrics: SensorMetrics,
  ) {}

  static async open(
    policy: RestartPolicy,
    hooks: SupervisorHooks,
    logger: Logger,
    metrics: SensorMetrics,
  ): Promise<HelperSupervisor> {
    const s = new HelperSupervisor(policy, hooks, logger, metrics);
    await s.start(false);
    return s;
  }

  /** The helper running now; a different object after a restart. */
  get current(): HelperProcess {
    return this.helper;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.helper.stop();
  }

  private async start(restarted: boolean): Promise<void> {
    const helper = await HelperProcess.open(
      this.hooks.options(),
      (item) => this.hooks.onItem(item),
      (exit) => this.onExit(exit),
      this.logger,
    );
    this.helper = helper;
    await this.hooks.arm(helper, restarted);
  }

  private onExit(exit: HelperExit): void {
    if (exit.expected || this.stopped) return;
    this.metrics.helperRestarts.inc();
    this.total++;
    this.logger.error("BPF helper died; restarting it", {
      code: ErrorCodes.HELPER_CRASHED,
      exitCode: exit.code,
      signal: exit.signal,
      stderr: exit.stderrTail.trim().slice(-500),
    });
    this.hooks.onCrash(exit);
    void this.restart();
  }

  private async restart(): Promise<void> {
    const { initialDelayMs, maxDelayMs, maxRestartsPerMinute } = this.policy;
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < 60_000);
    this.restarts.push(now);
    if (this.restarts.length > maxRestartsPerMinute) {
      const e = new VigilError(
        ErrorCodes.HELPER_CRASHED,
        `the BPF helper died ${this.restarts.length} times within a minute; giving up`,
        { hint: "see the helper's messages above; `bpf/build/vigil-bpf probe` checks the kernel" },
      );
      this.logger.error(e.message, { code: e.code, hint: e.hint });
      this.hooks.onFatal(e);
      return;
    }
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** (this.restarts.length - 1));
    await new Promise((r) => setTimeout(r, delay));
    if (this.stopped) return;
    try {
      await this.start(true);
      this.logger.info("BPF helper restarted", { helperPid: this.helper.pid });
    } catch (e) {
      this.logger.error("restarting the BPF helper failed", { error: (e as Error).message });
      void this.restart();
    }
  }
}
