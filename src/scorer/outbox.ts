/**
 * Delivery of alerts from the bus to Alertmanager. The VIGIL_ALERTS stream is the outbox: a
 * durable consumer acks an alert only once every Alertmanager took it, so alerts raised while
 * Alertmanager is down (or while this process is) arrive when it is back. A failed delivery is
 * redelivered with exponential backoff, without limit: an alert is never dropped.
 */
import type { Consumption, NatsBus } from "../bus/nats-bus.js";
import type { VigilAlert } from "../contracts/index.js";
import { isVigilError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";
import type { ScorerMetrics } from "../telemetry/metrics.js";
import { type AlertmanagerClient, toAlertmanagerAlert } from "./alertmanager.js";

export interface AlertOutboxOptions {
  /** Durable consumer name (default "vigil-alertmanager"); scorers sharing it split the work. */
  durable?: string;
  /** Longest wait between retries of one alert (default 60 s); retries start at 1 s, doubling. */
  maxBackoffMs?: number;
  /** How often vigil_scorer_outbox_depth is refreshed besides after deliveries (default 5 s). */
  depthIntervalMs?: number;
}

const INITIAL_BACKOFF_MS = 1000;
/** Resolved episodes remembered, so that a late retry of their firing alert cannot revive them. */
const RESOLVED_MEMORY = 10_000;
const DEPTH_AFTER_DELIVERY_MS = 200;

/** Retry delay after the `deliveryCount`-th failed delivery: 1 s, 2 s, 4 s ... up to the cap. */
export function backoffMs(deliveryCount: number, maxBackoffMs: number): number {
  const doublings = Math.min(Math.max(deliveryCount - 1, 0), 30);
  return Math.min(INITIAL_BACKOFF_MS * 2 ** doublings, maxBackoffMs);
}

export class AlertOutbox {
  private readonly resolved = new Set<string>();
  private consumption: Consumption | undefined;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;

  private constructor(
    private readonly client: AlertmanagerClient,
    private readonly metrics: ScorerMetrics,
    private readonly logger: Logger,
  ) {}

  /** Starts consuming alerts from the bus; resolves once the durable consumer is bound. */
  static async start(
    bus: NatsBus,
    client: AlertmanagerClient,
    metrics: ScorerMetrics,
    logger: Logger,
    options: AlertOutboxOptions = {},
  ): Promise<AlertOutbox> {
    const outbox = new AlertOutbox(client, metrics, logger);
    const maxBackoffMs = options.maxBackoffMs ?? 60_000;
    outbox.consumption = await bus.consume(
      "alert",
      {
        durable: options.durable ?? "vigil-alertmanager",
        // One at a time, in the order they arrive; the ack must not time out mid-request.
        concurrency: 1,
        ackWaitMs: Math.max(30_000, 2 * client.timeoutMs),
        maxDeliver: -1,
        nakDelayMs: (n) => backoffMs(n, maxBackoffMs),
      },
      (alert) => outbox.deliver(alert),
    );
    outbox.timer = setInterval(() => outbox.refreshDepth(), options.depthIntervalMs ?? 5000);
    outbox.timer.unref();
    outbox.refreshDepth();
    return outbox;
  }

  private async deliver(alert: VigilAlert): Promise<void> {
    // Retries are not in order: the firing alert of an episode can come back after its
    // resolution was delivered, and would make Alertmanager fire it again until it times out.
    if (alert.endsAt === undefined && this.resolved.has(alert.fingerprint)) return;
    // No Alertmanager configured: acked, and not counted as a delivery.
    if (this.client.urls.length === 0) return;
    try {
      await this.client.post([toAlertmanagerAlert(alert)]);
    } catch (e) {
      this.metrics.deliveries.inc({ result: "error" });
      this.logger.limited("warn", "alertmanager", "Alertmanager delivery failed; will retry", {
        error: (e as Error).message,
        ...(isVigilError(e) && e.hint ? { hint: e.hint } : {}),
      });
      this.depthSoon();
      throw e;
    }
    this.metrics.deliveries.inc({ result: "ok" });
    if (alert.endsAt !== undefined) this.remember(alert.fingerprint);
    this.depthSoon();
  }

  private remember(fingerprint: string): void {
    this.resolved.delete(fingerprint);
    this.resolved.add(fingerprint);
    if (this.resolved.size > RESOLVED_MEMORY) {
      const oldest = this.resolved.values().next().value;
      if (oldest !== undefined) this.resolved.delete(oldest);
    }
  }

  /** Soon after a delivery rather than at once: the bus acks (or naks) after we return. */
  private depthSoon(): void {
    if (this.soon || !this.consumption) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.refreshDepth();
    }, DEPTH_AFTER_DELIVERY_MS);
    this.soon.unref();
  }

  /** Coalesces: a burst of deliveries costs one consumer-info request at a time. */
  private refreshDepth(): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    const c = this.consumption;
    if (!c) return;
    this.refreshing = c
      .backlog()
      .then((n) => this.metrics.outboxDepth.set(n))
      .catch((e: unknown) =>
        this.logger.limited("warn", "outbox-depth", "could not read the outbox depth", {
          error: (e as Error).message,
        }),
      )
      .finally(() => {
        this.refreshing = undefined;
        if (this.refreshAgain) {
          this.refreshAgain = false;
          this.refreshDepth();
        }
      });
  }

  /** Stops consuming; a delivery in progress finishes (or fails and is retried later). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.soon);
    this.timer = undefined;
    this.soon = undefined;
    const c = this.consumption;
    this.consumption = undefined;
    await c?.stop();
    await this.refreshing;
  }
}
