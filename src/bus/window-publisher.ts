/**
 * The sensor's side of the bus: sinks that never block the sensor and never lose a message
 * silently. Messages wait in a bounded buffer (count and bytes) and are published in order,
 * each waiting for JetStream's ack; while NATS is unreachable the head is retried with backoff.
 * Past the bound the oldest message not in flight is dropped and counted
 * (vigil_sensor_dropped_total{reason="buffer_full"}): recent behaviour matters most to
 * detection. A message id per message makes a retry after a lost ack a no-op in the stream.
 */
import {
  encodeMessage,
  eventsSubject,
  type MessageKind,
  type VigilEvent,
  type WindowRecord,
  windowsSubject,
} from "../contracts/index.js";
import type { EventSink, WindowSink } from "../sensor/sensor.js";
import type { Logger } from "../telemetry/logger.js";
import type { BusMetrics, SensorMetrics } from "../telemetry/metrics.js";

export interface PublishTarget {
  publish(kind: MessageKind, subject: string, data: Uint8Array, msgId: string): Promise<void>;
}

export interface BufferLimits {
  maxWindows: number;
  maxBytes: number;
}

export const DEFAULT_BUFFER_LIMITS: BufferLimits = {
  maxWindows: 10_000,
  maxBytes: 256 * 1024 ** 2,
};

interface Pending {
  subject: string;
  data: Uint8Array;
  msgId: string;
}

/** Where one record goes: its subject, and the id that makes a retried publish a no-op. */
type Route<T> = (record: T) => { subject: string; msgId: string };

export interface WindowPublisherDeps {
  logger: Logger;
  sensorMetrics: SensorMetrics;
  busMetrics: BusMetrics;
  /** For tests: how long to wait before retrying after a failure (doubles up to maxMs). */
  backoff?: { initialMs: number; maxMs: number };
}

/** The ordered, acknowledged, bounded publishing that both sinks share. */
export class BufferedPublisher<T> {
  private readonly queue: Pending[] = [];
  private bytes = 0;
  private pumping: Promise<void> | undefined;
  private inflight: Pending | undefined;
  private closed = false;

  constructor(
    private readonly kind: "window" | "event",
    private readonly target: PublishTarget,
    private readonly limits: BufferLimits,
    private readonly deps: WindowPublisherDeps,
    private readonly route: Route<T>,
  ) {}

  /** Buffers the records and returns at once; publishing happens in the background. */
  async write(records: readonly T[]): Promise<void> {
    for (const r of records) {
      const data = encodeMessage(r);
      this.queue.push({ ...this.route(r), data });
      this.bytes += data.byteLength;
    }
    let dropped = 0;
    while (
      this.queue.length > 0 &&
      (this.queue.length > this.limits.maxWindows || this.bytes > this.limits.maxBytes)
    ) {
      // The head may be in flight and may still land: drop the oldest message behind it, so
      // that what is counted as dropped really never reaches the stream.
      const at = this.queue[0] === this.inflight && this.queue.length > 1 ? 1 : 0;
      const [old] = this.queue.splice(at, 1) as [Pending];
      this.bytes -= old.data.byteLength;
      dropped++;
    }
    if (dropped > 0) {
      const reason = this.kind === "window" ? "buffer_full" : "event_buffer_full";
      this.deps.sensorMetrics.dropped.inc({ reason }, dropped);
      this.deps.logger.limited("warn", reason, `${this.kind} buffer full: dropped the oldest`, {
        dropped,
        buffered: this.queue.length,
      });
    }
    this.gauges();
    this.pumping ??= this.pump().finally(() => {
      this.pumping = undefined;
    });
  }

  /** Messages not yet acknowledged by JetStream. */
  get pending(): number {
    return this.queue.length;
  }

  /** Flushes for up to `timeoutMs`; what is still buffered then is counted as dropped. */
  async close(timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.queue.length > 0 && Date.now() < until) await sleep(20);
    this.closed = true;
    if (this.queue.length > 0) {
      this.deps.sensorMetrics.dropped.inc({ reason: "shutdown" }, this.queue.length);
      this.deps.logger.error(`stopping with ${this.kind}s NATS never acknowledged`, {
        dropped: this.queue.length,
      });
      this.queue.length = 0;
      this.bytes = 0;
      this.gauges();
    }
  }

  private async pump(): Promise<void> {
    const { initialMs, maxMs } = this.deps.backoff ?? { initialMs: 100, maxMs: 5000 };
    let delay = initialMs;
    while (this.queue.length > 0 && !this.closed) {
      const head = this.queue[0] as Pending;
      this.inflight = head;
      try {
        await this.target.publish(this.kind, head.subject, head.data, head.msgId);
        delay = initialMs;
        this.queue.shift(); // overflow never removes the in-flight head
        this.bytes -= head.data.byteLength;
        this.gauges();
      } catch (e) {
        this.deps.logger.limited(
          "warn",
          `publish:${this.kind}`,
          `publishing a ${this.kind} failed; retrying`,
          {
            error: (e as Error).message,
            buffered: this.queue.length,
            retryInMs: delay,
          },
        );
        await sleep(delay);
        delay = Math.min(maxMs, delay * 2);
      } finally {
        this.inflight = undefined;
      }
    }
  }

  /** Buffer gauges are the windows' (events are few and small). */
  private gauges(): void {
    if (this.kind !== "window") return;
    this.deps.busMetrics.bufferedWindows.set(this.queue.length);
    this.deps.busMetrics.bufferedBytes.set(this.bytes);
  }
}

export class WindowPublisher extends BufferedPublisher<WindowRecord> implements WindowSink {
  constructor(target: PublishTarget, limits: BufferLimits, deps: WindowPublisherDeps) {
    super("window", target, limits, deps, (r) => ({
      subject: windowsSubject(r.agentType, r.host),
      msgId: `${r.host}:${r.agentType}:${r.agentId}:${r.seq}:${r.start}`,
    }));
  }
}

/** Notable events as they happen; the windows carry the same facts a little later. */
export class EventPublisher extends BufferedPublisher<VigilEvent> implements EventSink {
  constructor(target: PublishTarget, limits: BufferLimits, deps: WindowPublisherDeps) {
    const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    let n = 0;
    super("event", target, limits, deps, (e) => ({
      subject: eventsSubject(e.kind, e.agentType, e.host),
      msgId: `${e.host}:${run}:${n++}`,
    }));
  }

  emit(event: VigilEvent): void {
    void this.write([event]);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
