/**
 * The scorer service as `vigil run` and `vigil scorer` start it: model registry, learning mode,
 * sampler, explainer, alert state, the scorer itself, Alertmanager delivery through the
 * JetStream outbox, and the HTTP endpoints. Everything is built from one validated Config.
 */
import { join } from "node:path";
import type { Registry } from "prom-client";
import { readRoleCredentials } from "../bus/bus-credentials.js";
import type { NatsBus } from "../bus/nats-bus.js";
import type { Config } from "../config/index.js";
import { repoRoot } from "../main.js";
import type { Logger } from "../telemetry/logger.js";
import { createScorerMetrics, MODEL_STATES, type ScorerMetrics } from "../telemetry/metrics.js";
import { AlertState } from "./alert-state.js";
import { AlertmanagerClient } from "./alertmanager.js";
import { explain } from "./explain.js";
import { ScorerHttp } from "./http.js";
import { LearningMode } from "./learning.js";
import { AlertOutbox } from "./outbox.js";
import { ModelRegistry } from "./registry.js";
import { Sampler } from "./sampler.js";
import { Scorer } from "./scorer.js";

export interface RunningScorer {
  scorer: Scorer;
  registry: ModelRegistry;
  learning: LearningMode | undefined;
  http: ScorerHttp;
  metrics: ScorerMetrics;
  /** The HTTP address actually listened on (port 0 resolved). */
  address: string;
  stop(): Promise<void>;
}

/** scorer.modelsDir, or the checkout's models/ when unset. */
export function modelsDirOf(config: Config): string {
  return config.scorer.modelsDir || join(repoRoot(), "models");
}

/** scorer.learning.uids as a test: "trusted" is root and sensor.trustedUids. */
export function learnsFrom(config: Config): (uid: number) => boolean {
  const u = config.scorer.learning.uids;
  const allowed = new Set(u === "trusted" ? [0, ...config.sensor.trustedUids] : u);
  return (uid) => allowed.has(uid);
}

export async function startScorer(
  config: Config,
  logger: Logger,
  promRegistry: Registry,
  bus: NatsBus,
): Promise<RunningScorer> {
  const s = config.scorer;
  const log = logger.child({ component: "scorer" });
  const metrics = createScorerMetrics(promRegistry);
  const modelsDir = modelsDirOf(config);
  const registry = new ModelRegistry({
    modelsDir,
    reloadIntervalMs: s.reloadIntervalMs,
    logger: log,
    metrics,
  });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop();
  };
  try {
    await registry.start();
    stops.push(() => registry.stop());
    const learning = s.learning.enabled
      ? new LearningMode({
          dataDir: config.dataDir,
          modelsDir,
          minWindows: s.learning.minWindows,
          minDurationSeconds: s.learning.minDurationSeconds,
          logger: log,
          metrics,
        })
      : undefined;
    if (learning) {
      await learning.start();
      stops.push(() => learning.stop());
    }
    const client = new AlertmanagerClient({
      urls: s.alertmanager.urls
        .split(",")
        .map((u) => u.trim())
        .filter(Boolean),
      timeoutMs: s.alertmanager.timeoutMs,
    });
    const outbox = await AlertOutbox.start(bus, client, metrics, log, {
      maxBackoffMs: s.alertmanager.maxBackoffMs,
    });
    stops.push(() => outbox.stop());
    const scorer = await Scorer.start(
      { durable: s.durable, batch: s.batch, riskyNovelty: s.alerts.riskyNovelty },
      {
        bus,
        registry,
        sampler: new Sampler({ defaultRate: s.sampling.defaultRate, rates: s.sampling.rates }),
        explain,
        alerts: new AlertState({
          resolveAfterWindows: s.alerts.resolveAfterWindows,
          resendIntervalMs: s.alerts.resendIntervalSeconds * 1000,
        }),
        ...(learning ? { learning, learnsFrom: learnsFrom(config) } : {}),
        metrics,
        logger: log,
      },
    );
    stops.push(() => scorer.stop());

    const status = () => {
      const types = new Set<string>([
        ...registry.states().keys(),
        ...scorer.activityByType().keys(),
        ...(learning ? Object.keys(learning.status()) : []),
      ]);
      const agentTypes: Record<string, unknown> = {};
      for (const type of [...types].sort()) {
        const model = registry.state(type);
        const l = learning?.status()[type];
        agentTypes[type] = {
          model,
          ...(l && model.state !== "active" ? { learning: l } : {}),
          ...scorer.activityByType().get(type),
        };
        // Exactly one state per type is 1 in vigil_scorer_model_status.
        const current = model.state === "missing" && l ? "learning" : model.state;
        for (const state of MODEL_STATES) {
          metrics.modelStatus.set({ agent_type: type, state }, state === current ? 1 : 0);
        }
      }
      return agentTypes;
    };
    const notReady = () => {
      const reasons: string[] = [];
      if (bus.connection.isClosed()) reasons.push("not connected to NATS");
      for (const [type, state] of registry.states()) {
        if (state.state === "broken") reasons.push(`model of ${type} is broken: ${state.error}`);
      }
      return reasons;
    };
    const http = await ScorerHttp.listen(
      s.http.listen,
      promRegistry,
      {
        status: () => {
          const reasons = notReady();
          return {
            host: config.host,
            ready: reasons.length === 0,
            notReady: reasons,
            agentTypes: status(),
          };
        },
        notReady,
      },
      {
        retryMs: 5000,
        logger: log,
        ...statusToken(config.dataDir),
      },
    );
    stops.push(() => http.close());
    // The model-status gauge also shows "learning", which only this composition knows.
    const statusTimer = setInterval(status, 5000);
    statusTimer.unref();
    stops.push(async () => clearInterval(statusTimer));
    log.info("scorer listening", { address: http.address, modelsDir });
    return {
      scorer,
      registry,
      learning,
      http,
      metrics,
      address: http.address,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** /status needs the reader role's password when the embedded bus has credentials. */
function statusToken(dataDir: string): { statusToken?: string } {
  const reader = readRoleCredentials(dataDir, "reader");
  return reader ? { statusToken: reader.password } : {};
}
