/**
 * Every Prometheus metric the sensor exports, created on a registry that is passed in (never
 * the global one). Labels come from closed sets and are initialised to 0, so a dashboard sees
 * a series before its first increment.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { DROP_REASON_NAMES } from "../sensor/wire-layout.js";

export const EVENT_KINDS = ["exec", "exit", "fork", "open", "net", "priv", "chdir"] as const;

export interface SensorMetrics {
  events: Counter<"kind">;
  windows: Counter<"agent_type">;
  kernelDrops: Counter<"reason">;
  dropped: Counter<"reason">;
  stageErrors: Counter<"stage" | "kind">;
  helperRestarts: Counter;
  trackedInstances: Gauge<"agent_type">;
  /** Processes a rule matched that were not tracked: their uid had sensor.maxInstancesPerUid. */
  refusedInstances: Counter<"agent_type">;
  hooksAttached: Gauge;
}

export function createSensorMetrics(registry: Registry): SensorMetrics {
  const registers = [registry];
  const m: SensorMetrics = {
    events: new Counter({
      name: "vigil_sensor_events_total",
      help: "Kernel events decoded, by kind",
      labelNames: ["kind"],
      registers,
    }),
    windows: new Counter({
      name: "vigil_sensor_windows_total",
      help: "Window records emitted, by agent type",
      labelNames: ["agent_type"],
      registers,
    }),
    kernelDrops: new Counter({
      name: "vigil_sensor_kernel_drops_total",
      help: "Data the kernel side could not record, by reason",
      labelNames: ["reason"],
      registers,
    }),
    dropped: new Counter({
      name: "vigil_sensor_dropped_total",
      help: "Window records or items the sensor had to drop, by reason",
      labelNames: ["reason"],
      registers,
    }),
    stageErrors: new Counter({
      name: "vigil_stage_errors_total",
      help: "Items that failed in a pipeline stage and were dropped, by stage and kind",
      labelNames: ["stage", "kind"],
      registers,
    }),
    helperRestarts: new Counter({
      name: "vigil_sensor_helper_restarts_total",
      help: "Times the native BPF helper died and was restarted",
      registers,
    }),
    trackedInstances: new Gauge({
      name: "vigil_sensor_tracked_instances",
      help: "Agent instances currently tracked, by agent type",
      labelNames: ["agent_type"],
      registers,
    }),
    refusedInstances: new Counter({
      name: "vigil_sensor_instances_refused_total",
      help: "Agent processes not tracked because their uid had sensor.maxInstancesPerUid instances, by agent type",
      labelNames: ["agent_type"],
      registers,
    }),
    hooksAttached: new Gauge({
      name: "vigil_sensor_hooks_attached",
      help: "1 while the per-syscall hooks are attached",
      registers,
    }),
  };
  for (const r of DROP_REASON_NAMES) m.kernelDrops.inc({ reason: r }, 0);
  for (const k of EVENT_KINDS) m.events.inc({ kind: k }, 0);
  m.helperRestarts.inc(0);
  return m;
}

export const BUS_KINDS = ["window", "event", "alert"] as const;

export interface BusMetrics {
  published: Counter<"kind">;
  consumed: Counter<"kind">;
  invalid: Counter<"kind" | "reason">;
  connected: Gauge;
  reconnects: Counter;
  bufferedWindows: Gauge;
  bufferedBytes: Gauge;
}

/** Bus metrics; `vigil_sensor_dropped_total` for the publisher's buffer is in SensorMetrics. */
export function createBusMetrics(registry: Registry): BusMetrics {
  const registers = [registry];
  const m: BusMetrics = {
    published: new Counter({
      name: "vigil_bus_published_total",
      help: "Messages published and acknowledged by JetStream, by kind",
      labelNames: ["kind"],
      registers,
    }),
    consumed: new Counter({
      name: "vigil_bus_consumed_total",
      help: "Valid messages consumed, by kind",
      labelNames: ["kind"],
      registers,
    }),
    invalid: new Counter({
      name: "vigil_bus_invalid_total",
      help: "Messages that failed validation and went to the dead-letter queue, by kind and reason",
      labelNames: ["kind", "reason"],
      registers,
    }),
    connected: new Gauge({
      name: "vigil_bus_connected",
      help: "1 while connected to NATS",
      registers,
    }),
    reconnects: new Counter({
      name: "vigil_bus_reconnects_total",
      help: "Times the NATS connection was re-established",
      registers,
    }),
    bufferedWindows: new Gauge({
      name: "vigil_sensor_buffered_windows",
      help: "Windows waiting to be published (NATS slow or unreachable)",
      registers,
    }),
    bufferedBytes: new Gauge({
      name: "vigil_sensor_buffered_bytes",
      help: "Bytes of windows waiting to be published",
      registers,
    }),
  };
  for (const kind of BUS_KINDS) {
    m.published.inc({ kind }, 0);
    m.consumed.inc({ kind }, 0);
    for (const reason of ["oversized", "not_json", "schema"]) m.invalid.inc({ kind, reason }, 0);
  }
  m.reconnects.inc(0);
  return m;
}

export interface ScorerMetrics {
  /** Windows taken from the bus, by agent type. */
  received: Counter<"agent_type">;
  /**
   * Windows not scored, by agent type and reason: sampled_out, no_model, learning, invalid,
   * uid_not_learned (no model yet, and its agent's uid is not one learning takes).
   */
  skipped: Counter<"agent_type" | "reason">;
  /** Windows scored, by agent type and why: sampled, novelty (always scored). */
  scored: Counter<"agent_type" | "why">;
  score: Histogram<"agent_type">;
  /** Score / threshold: above 1 alarms. Comparable across agent types and models. */
  scoreRatio: Histogram<"agent_type">;
  inferenceSeconds: Histogram<"family">;
  /** Alert actions (fire, resend, resolve) by agent type and severity. */
  alerts: Counter<"agent_type" | "severity" | "action">;
  /** Anomalous windows of an instance whose alert is already active (not re-sent yet). */
  suppressed: Counter<"agent_type">;
  /** 1 for the agent type's current state (active, missing, broken, learning). */
  modelStatus: Gauge<"agent_type" | "state">;
  /** Alertmanager deliveries by result: ok, error (retried later). */
  deliveries: Counter<"result">;
  /** Alerts published but not yet delivered to every Alertmanager. */
  outboxDepth: Gauge;
  /** Sensor-reported losses seen in windows (window.drops), by reason. */
  sensorDrops: Counter<"reason">;
  /** Models trained by learning mode, by agent type and result: promoted, failed. */
  learned: Counter<"agent_type" | "result">;
}

export const MODEL_STATES = ["active", "missing", "broken", "learning"] as const;

export function createScorerMetrics(registry: Registry): ScorerMetrics {
  const registers = [registry];
  const m: ScorerMetrics = {
    received: new Counter({
      name: "vigil_scorer_windows_received_total",
      help: "Windows taken from the bus, by agent type",
      labelNames: ["agent_type"],
      registers,
    }),
    skipped: new Counter({
      name: "vigil_scorer_windows_skipped_total",
      help: "Windows not scored: sampled_out, no_model, learning, uid_not_learned, invalid",
      labelNames: ["agent_type", "reason"],
      registers,
    }),
    scored: new Counter({
      name: "vigil_scorer_windows_scored_total",
      help: "Windows scored, by agent type and why (sampled, novelty)",
      labelNames: ["agent_type", "why"],
      registers,
    }),
    score: new Histogram({
      name: "vigil_scorer_score",
      help: "Anomaly scores of scored windows",
      labelNames: ["agent_type"],
      buckets: [0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100],
      registers,
    }),
    scoreRatio: new Histogram({
      name: "vigil_scorer_score_ratio",
      help: "Score divided by the model's threshold (above 1 alarms)",
      labelNames: ["agent_type"],
      buckets: [0.1, 0.25, 0.5, 0.75, 0.9, 1, 1.5, 2, 5, 10, 100],
      registers,
    }),
    inferenceSeconds: new Histogram({
      name: "vigil_scorer_inference_seconds",
      help: "Time to featurize and score one batch",
      labelNames: ["family"],
      buckets: [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1],
      registers,
    }),
    alerts: new Counter({
      name: "vigil_scorer_alerts_total",
      help: "Alert actions (fire, resend, resolve) by agent type and severity",
      labelNames: ["agent_type", "severity", "action"],
      registers,
    }),
    suppressed: new Counter({
      name: "vigil_scorer_alerts_suppressed_total",
      help: "Anomalous windows folded into an already active alert",
      labelNames: ["agent_type"],
      registers,
    }),
    modelStatus: new Gauge({
      name: "vigil_scorer_model_status",
      help: "1 for each agent type's current model state (active, missing, broken, learning)",
      labelNames: ["agent_type", "state"],
      registers,
    }),
    deliveries: new Counter({
      name: "vigil_scorer_alertmanager_deliveries_total",
      help: "Alert deliveries to Alertmanager by result (ok, error)",
      labelNames: ["result"],
      registers,
    }),
    outboxDepth: new Gauge({
      name: "vigil_scorer_outbox_depth",
      help: "Alerts published on the bus and not yet delivered to Alertmanager",
      registers,
    }),
    sensorDrops: new Counter({
      name: "vigil_scorer_sensor_drops_total",
      help: "Losses the sensor reported in the windows received, by reason",
      labelNames: ["reason"],
      registers,
    }),
    learned: new Counter({
      name: "vigil_scorer_models_learned_total",
      help: "Models trained by learning mode, by agent type and result (promoted, failed)",
      labelNames: ["agent_type", "result"],
      registers,
    }),
  };
  for (const result of ["ok", "error"]) m.deliveries.inc({ result }, 0);
  m.outboxDepth.set(0);
  return m;
}
