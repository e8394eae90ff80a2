/**
 * Every Prometheus metric the sensor exports, created on a registry that is passed in (never
 * the global one). Labels come from closed sets and are initialised to 0, so a dashboard sees
 * a series before its first increment.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { DROP_REASON_NAMES } from "../sensor/wire-layout.js";

export const SENSOR_STAGES = ["decode", "attribute", "window", "output", "control"] as const;
export type SensorStage = (typeof SENSOR_STAGES)[number];

export const EVENT_KINDS = ["exec", "exit", "fork", "open", "net", "priv", "chdir"] as const;

export interface SensorMetrics {
  events: Counter<"kind">;
  windows: Counter<"agent_type">;
  kernelDrops: Counter<"reason">;
  dropped: Counter<"reason">;
  stageErrors: Counter<"stage" | "kind">;
  helperRestarts: Counter;
  trackedInstances: Gauge<"agent_type">;
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
