/**
 * The scorer: windows in from JetStream, explained alerts out. For each window: count it, hand
 * it to learning mode if its agent type has no model, else sample it (windows carrying novelty
 * are always scored), score it in a batch with the type's ONNX model, explain it if it passed
 * the threshold, let the alert state decide (fire, suppress, resend, resolve), and publish the
 * alert on vigil.v1.alerts.<agentType> (the outbox Alertmanager delivery reads from).
 *
 * A window is acknowledged only after its alert (if any) is stored by JetStream, so a scorer
 * that dies mid-way loses nothing: the window is redelivered, and the alert's message id makes
 * a second publish of the same action a no-op.
 */

import type { Consumption, NatsBus } from "../bus/nats-bus.js";
import {
  alertsSubject,
  encodeMessage,
  type VigilAlert,
  type WindowRecord,
} from "../contracts/index.js";
import type { WindowModel, WindowScore } from "../model/window-model.js";
import type { Logger } from "../telemetry/logger.js";
import type { ScorerMetrics } from "../telemetry/metrics.js";
import { riskyNovelty, scoreRatio } from "./explain.js";
import { RecentNovelty } from "./recent-novelty.js";
import type { AlertAction, Anomaly, Explained, ModelRegistryView } from "./types.js";

export interface ScorerOptions {
  durable: string;
  /** Alert on risky novelty (a secret, a privilege call, a new program plus a new destination) even under the threshold (default true). */
  riskyNovelty?: boolean;
  batch: { maxWindows: number; maxDelayMs: number };
  /** How often active alerts are re-sent or expired when their instance goes quiet. */
  sweepIntervalMs?: number;
}

/** What the scorer needs of its parts (the real ones live next to this file). */
export interface ScorerParts {
  bus: NatsBus;
  registry: ModelRegistryView;
  sampler: { decide(w: WindowRecord, novel: boolean): "novelty" | "sampled" | "skip" };
  explain(a: Anomaly): Explained;
  alerts: {
    observe(input: {
      window: WindowRecord;
      anomalous: boolean;
      score: number;
      threshold: number;
      modelVersion: string;
      explained?: Explained;
    }): AlertAction;
    sweep(): AlertAction[];
  };
  /**
   * Learning mode: takes the windows of agent types that have no model yet, from agents whose
   * uid `learnsFrom` (default: every window without a uid is refused, every other taken).
   */
  learning?: { offer(w: WindowRecord): void | Promise<void> };
  /** Whether a window whose agent runs as `uid` may become baseline (scorer.learning.uids). */
  learnsFrom?: (uid: number) => boolean;
  metrics: ScorerMetrics;
  logger: Logger;
}

/** Per agent type, for `vigil status`. */
export interface TypeActivity {
  received: number;
  scored: number;
  lastWindow?: string;
  lastAlert?: { at: string; severity: VigilAlert["severity"]; summary: string };
}

export class Scorer {
  private consumption: Consumption | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly batcher: Batcher;
  private readonly alertOnRiskyNovelty: boolean;
  private readonly activity = new Map<string, TypeActivity>();
  private readonly recent = new RecentNovelty();

  private constructor(
    o: ScorerOptions,
    private readonly p: ScorerParts,
  ) {
    this.batcher = new Batcher(o.batch, p.metrics);
    this.alertOnRiskyNovelty = o.riskyNovelty ?? true;
  }

  static async start(o: ScorerOptions, p: ScorerParts): Promise<Scorer> {
    const s = new Scorer(o, p);
    s.consumption = await p.bus.consume(
      "window",
      {
        durable: o.durable,
        // Enough windows in flight to fill a batch; each is acked once handled.
        concurrency: o.batch.maxWindows,
        batch: Math.max(64, o.batch.maxWindows),
      },
      (w) => s.handle(w),
    );
    s.sweepTimer = setInterval(() => {
      s.sweep().catch((e: unknown) =>
        p.logger.limited("error", "scorer:sweep", "re-sending or expiring alerts failed", {
          error: (e as Error).message,
        }),
      );
    }, o.sweepIntervalMs ?? 5000);
    s.sweepTimer.unref();
    p.logger.info("scorer started", { durable: o.durable, batch: o.batch.maxWindows });
    return s;
  }

  /** What each agent type has been doing, for /status. */
  activityByType(): ReadonlyMap<string, TypeActivity> {
    return this.activity;
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.consumption?.stop();
    this.batcher.flushAll();
  }

  /** One window, start to finish; throwing makes the bus redeliver it. */
  async handle(w: WindowRecord): Promise<void> {
    const { metrics, registry } = this.p;
    const type = w.agentType;
    metrics.received.inc({ agent_type: type });
    const act = this.activityOf(type);
    act.received++;
    act.lastWindow = w.end;
    for (const [reason, n] of Object.entries(w.drops))
      if (n > 0) metrics.sensorDrops.inc({ reason }, n);

    const model = registry.get(type);
    if (model === undefined) {
      const state = registry.state(type).state;
      if (state === "missing" && this.p.learning) {
        const uid = w.uid;
        if (uid === undefined || !(this.p.learnsFrom?.(uid) ?? true)) {
          // Scored like any other once a model exists; never baseline.
          metrics.skipped.inc({ agent_type: type, reason: "uid_not_learned" });
          this.p.logger.limited(
            "info",
            `learning:uid:${uid ?? "none"}`,
            "window not learned: its agent's uid is not in scorer.learning.uids",
            { agentType: type, uid: uid ?? null },
            60_000,
          );
          return;
        }
        await this.p.learning.offer(w);
        metrics.skipped.inc({ agent_type: type, reason: "learning" });
      } else {
        metrics.skipped.inc({ agent_type: type, reason: "no_model" });
      }
      return;
    }
    const manifest = model.manifest;
    // With what its neighbouring windows completed (a fetch in one, the run in the next).
    const novel = this.recent.novelty(manifest.novelty, w);
    const decision = this.p.sampler.decide(w, novel.length > 0);
    if (decision === "skip") {
      metrics.skipped.inc({ agent_type: type, reason: "sampled_out" });
      return;
    }
    let scored: WindowScore;
    try {
      scored = await this.batcher.score(model, w);
    } catch (e) {
      // A window this model cannot take (e.g. another n-gram size) is not retried forever.
      metrics.skipped.inc({ agent_type: type, reason: "invalid" });
      this.p.logger.limited("warn", `scorer:invalid:${type}`, "window could not be scored", {
        agentType: type,
        error: (e as Error).message,
      });
      return;
    }
    metrics.scored.inc({ agent_type: type, why: decision });
    metrics.score.observe({ agent_type: type }, scored.score);
    const ratio = scoreRatio(scored.score, manifest.threshold);
    metrics.scoreRatio.observe({ agent_type: type }, ratio);
    act.scored++;
    // Past the threshold, or (unless turned off) novelty dangerous on its own: see riskyNovelty.
    const anomalous =
      scored.score > manifest.threshold || (this.alertOnRiskyNovelty && riskyNovelty(novel));
    const explained = anomalous
      ? this.p.explain({ window: w, manifest, scored, novel })
      : undefined;
    const action = this.p.alerts.observe({
      window: w,
      anomalous,
      score: scored.score,
      threshold: manifest.threshold,
      modelVersion: manifest.version,
      ...(explained ? { explained } : {}),
    });
    await this.act(action, `${w.host}.${w.agentId}.${w.seq}`, type);
  }

  private async sweep(): Promise<void> {
    for (const action of this.p.alerts.sweep()) await this.act(action, `sweep.${Date.now()}`);
  }

  private async act(action: AlertAction, cause: string, agentType = "unknown"): Promise<void> {
    const { metrics } = this.p;
    if (action.kind === "none") return;
    if (action.kind === "suppress") {
      metrics.suppressed.inc({ agent_type: agentType });
      return;
    }
    const a = action.alert;
    // The same action for the same window publishes once, even if the window is redelivered.
    await this.p.bus.publish(
      "alert",
      alertsSubject(a.agentType),
      encodeMessage(a),
      `${a.fingerprint}.${action.kind}.${cause}`,
    );
    metrics.alerts.inc({ agent_type: a.agentType, severity: a.severity, action: action.kind });
    if (action.kind !== "resolve") {
      this.activityOf(a.agentType).lastAlert = {
        at: new Date().toISOString(),
        severity: a.severity,
        summary: a.summary,
      };
    }
    this.p.logger.info(`alert ${action.kind}`, {
      agentType: a.agentType,
      agentId: a.agentId,
      host: a.host,
      severity: a.severity,
      score: a.score,
      threshold: a.threshold,
      summary: a.summary,
    });
  }

  private activityOf(type: string): TypeActivity {
    let a = this.activity.get(type);
    if (a === undefined) {
      a = { received: 0, scored: 0 };
      this.activity.set(type, a);
    }
    return a;
  }
}

interface Pending {
  window: WindowRecord;
  resolve: (s: WindowScore) => void;
  reject: (e: unknown) => void;
}

/**
 * Collects windows per model and scores them together: a batch runs when it is full or when
 * its first window has waited maxDelayMs. Models are keyed by object, so a hot-swapped model
 * starts a new batch.
 */
class Batcher {
  private readonly queues = new Map<WindowModel, { items: Pending[]; timer: NodeJS.Timeout }>();

  constructor(
    private readonly o: { maxWindows: number; maxDelayMs: number },
    private readonly metrics: ScorerMetrics,
  ) {}

  score(model: WindowModel, window: WindowRecord): Promise<WindowScore> {
    return new Promise((resolve, reject) => {
      let q = this.queues.get(model);
      if (q === undefined) {
        const timer = setTimeout(() => this.flush(model), this.o.maxDelayMs);
        q = { items: [], timer };
        this.queues.set(model, q);
      }
      q.items.push({ window, resolve, reject });
      if (q.items.length >= this.o.maxWindows) this.flush(model);
    });
  }

  flushAll(): void {
    for (const model of [...this.queues.keys()]) this.flush(model);
  }

  private flush(model: WindowModel): void {
    const q = this.queues.get(model);
    if (q === undefined) return;
    this.queues.delete(model);
    clearTimeout(q.timer);
    const end = this.metrics.inferenceSeconds.startTimer({ family: model.family });
    model.score(q.items.map((p) => p.window)).then(
      (scores) => {
        end();
        q.items.forEach((p, i) => {
          const s = scores[i];
          if (s) p.resolve(s);
          else p.reject(new Error("the model returned fewer scores than windows"));
        });
      },
      (e: unknown) => {
        end();
        // One bad window must not fail its batch: score the rest one by one.
        if (q.items.length === 1) {
          q.items[0]?.reject(e);
          return;
        }
        for (const p of q.items) {
          model
            .score([p.window])
            .then(([s]) => (s ? p.resolve(s) : p.reject(new Error("no score"))), p.reject);
        }
      },
    );
  }
}
