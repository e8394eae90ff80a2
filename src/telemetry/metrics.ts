/**
 * Every Prometheus metric the sensor exports, created on a registry that is passed in (never
 * the global one). Labels come from closed sets and are initialised to 0, so a dashboard sees
 * a series before its first increment.
 */
import { Counter, Gauge, type Registry } from "prom-client";
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
