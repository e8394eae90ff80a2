/**
 * The bus on NATS JetStream: the only module that imports the NATS client. Streams are made
 * idempotently at start; publishes wait for JetStream's ack and carry a message id, so a retry
 * is never stored twice; consumers validate every message and dead-letter what fails.
 */
import { readFileSync } from "node:fs";
import {
  AckPolicy,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import {
  type ConnectionOptions,
  credsAuthenticator,
  headers,
  type NatsConnection,
  nanos,
} from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import {
  DLQ_SUBJECT,
  decodeMessage,
  MAX_MESSAGE_BYTES,
  type Message,
  type MessageKind,
  STREAMS,
  SUBJECT_ROOT,
} from "../contracts/index.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";
import type { BusMetrics } from "../telemetry/metrics.js";

export interface NatsAuth {
  user?: string;
  password?: string;
  token?: string;
  /** A NATS credentials file (JWT + nkey seed). */
  credsFile?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

export interface NatsBusOptions extends NatsAuth {
  servers: string[];
  /**
   * Reply subjects' prefix (default _INBOX): a role's permissions let it read its own replies
   * only (bus-roles.ts).
   */
  inboxPrefix?: string;
  /**
   * Create or update Vigil's streams at open (default true). Off for a role that may not touch
   * $JS.API (the sensor and scorer users of the embedded server: `vigil run` made them).
   */
  manageStreams?: boolean;
  /** Connect without credentials to a server that is not on loopback. Off by default. */
  allowAnonymous?: boolean;
  name?: string;
  maxMessageBytes?: number;
  streams?: Partial<StreamLimits>;
}

export interface StreamLimits {
  windowsMaxAgeSeconds: number;
  windowsMaxBytes: number;
  eventsMaxAgeSeconds: number;
  eventsMaxBytes: number;
  alertsMaxAgeSeconds: number;
  alertsMaxBytes: number;
  dlqMaxAgeSeconds: number;
  dlqMaxBytes: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  windowsMaxAgeSeconds: 24 * 3600,
  windowsMaxBytes: 1024 ** 3,
  eventsMaxAgeSeconds: 24 * 3600,
  eventsMaxBytes: 1024 ** 3,
  alertsMaxAgeSeconds: 90 * 24 * 3600,
  alertsMaxBytes: 256 * 1024 ** 2,
  dlqMaxAgeSeconds: 7 * 24 * 3600,
  dlqMaxBytes: 256 * 1024 ** 2,
};

export { STREAMS };

const STREAM_OF_KIND: Record<MessageKind, string> = {
  window: STREAMS.windows,
  event: STREAMS.events,
  alert: STREAMS.alerts,
};

export interface ConsumeOptions {
  /** Consumers that share a durable name split the stream: each message goes to one of them. */
  durable: string;
  /** Subject filter inside the kind's stream, e.g. windowsFilter("coding-agent"). */
  filter?: string;
  /** Redeliver after this long without an ack (default 30 s). */
  ackWaitMs?: number;
  /**
   * Messages fetched ahead (default 64). Small enough that consumers sharing a durable split
   * the load instead of one of them holding everything.
   */
  batch?: number;
  /**
   * Deliveries of one message before JetStream gives up on it (default 20; -1 = unlimited,
   * for consumers that must never lose a message). An existing durable is updated to match.
   */
  maxDeliver?: number;
  /** Delay before a failed message is redelivered, from its delivery count (1 = first). */
  nakDelayMs?: (deliveryCount: number) => number;
  /**
   * Handler calls that may run at once (default 1: one after the other, in delivery order).
   * Each message is still acked or nak'd on its own.
   */
  concurrency?: number;
}

export interface MessageInfo {
  subject: string;
  streamSequence: number;
  redelivered: boolean;
  /** 1 on the first delivery. */
  deliveryCount: number;
}

export interface Consumption {
  /** Stops fetching; messages being handled finish first. */
  stop(): Promise<void>;
  /** Settles when the consume loop ends. */
  done: Promise<void>;
  /** Messages this durable has not acked yet: waiting in the stream, plus delivered and unacked. */
  backlog(): Promise<number>;
}

const DEFAULT_MAX_DELIVER = 20;
const DEFAULT_NAK_DELAY_MS = 1000;

const LOOPBACK = /^(nats|tls|wss?)?(:\/\/)?(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?\/?$/;

export function isLoopbackServer(server: string): boolean {
  return LOOPBACK.test(server.trim());
}

/** Connection options for the NATS client; refuses anonymous access to a remote server. */
export function connectionOptions(o: NatsBusOptions): ConnectionOptions {
  const hasCredentials = Boolean(
    o.credsFile || o.token || (o.user && o.password) || o.tls?.certFile,
  );
  if (!hasCredentials && !o.allowAnonymous && !o.servers.every(isLoopbackServer)) {
    throw new VigilError(
      ErrorCodes.NATS_INSECURE,
      `refusing to connect to ${o.servers.join(", ")} without credentials`,
      {
        hint: "give --nats-creds FILE, --nats-token, --nats-user/--nats-password or a TLS client certificate; or --nats-allow-anonymous if that server is meant to be open",
      },
    );
  }
  const opts: ConnectionOptions = {
    servers: o.servers,
    name: o.name ?? "vigil",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    waitOnFirstConnect: false,
  };
  if (o.inboxPrefix !== undefined) opts.inboxPrefix = o.inboxPrefix;
  if (o.user !== undefined) opts.user = o.user;
  if (o.password !== undefined) opts.pass = o.password;
  if (o.token !== undefined) opts.token = o.token;
  if (o.credsFile) {
    let creds: Uint8Array;
    try {
      creds = readFileSync(o.credsFile);
    } catch (cause) {
      throw new VigilError(ErrorCodes.NATS_CONNECT, `cannot read ${o.credsFile}`, {
        hint: "give the path of a NATS .creds file (JWT and nkey seed)",
        cause,
      });
    }
    opts.authenticator = credsAuthenticator(creds);
  }
  if (o.tls) {
    opts.tls = {
      ...(o.tls.caFile ? { caFile: o.tls.caFile } : {}),
      ...(o.tls.certFile ? { certFile: o.tls.certFile } : {}),
      ...(o.tls.keyFile ? { keyFile: o.tls.keyFile } : {}),
    };
  }
  return opts;
}

export class NatsBus {
  readonly maxMessageBytes: number;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly metrics: BusMetrics,
    private readonly logger: Logger,
    maxMessageBytes: number,
  ) {
    this.maxMessageBytes = maxMessageBytes;
  }

  static async open(o: NatsBusOptions, metrics: BusMetrics, logger: Logger): Promise<NatsBus> {
    let nc: NatsConnection;
    try {
      nc = await connect(connectionOptions(o));
    } catch (cause) {
      if (cause instanceof VigilError) throw cause;
      throw new VigilError(
        ErrorCodes.NATS_CONNECT,
        `cannot connect to NATS at ${o.servers.join(", ")}: ${(cause as Error).message}`,
        {
          hint: "check the URL and credentials, or run without --nats to use the embedded server",
          cause,
        },
      );
    }
    const maxMessageBytes = Math.min(
      o.maxMessageBytes ?? MAX_MESSAGE_BYTES,
      nc.info?.max_payload ?? Infinity,
    );
    const manage = o.manageStreams ?? true;
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { checkAPI: manage });
    } catch (cause) {
      await nc.close();
      throw new VigilError(
        ErrorCodes.NATS_CONNECT,
        `NATS at ${o.servers.join(", ")} answers, but not its JetStream API: ${(cause as Error).message}`,
        {
          hint: "enable JetStream on that server (nats-server -js), and check the user's permissions",
          cause,
        },
      );
    }
    const bus = new NatsBus(nc, jetstream(nc), jsm, metrics, logger, maxMessageBytes);
    metrics.connected.set(1);
    void bus.watchStatus();
    if (manage) {
      try {
        await bus.ensureStreams({ ...DEFAULT_STREAM_LIMITS, ...o.streams });
      } catch (e) {
        await nc.close();
        throw e;
      }
    }
    return bus;
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect") {
        this.metrics.connected.set(0);
        this.logger.warn("NATS disconnected; reconnecting", { server: s.server });
      } else if (s.type === "reconnect") {
        this.metrics.connected.set(1);
        this.metrics.reconnects.inc();
        this.logger.info("NATS reconnected", { server: s.server });
      }
    }
  }

  /** Creates or updates Vigil's streams; safe to run from every process at every start. */
  private async ensureStreams(l: StreamLimits): Promise<void> {
    const sec = (s: number) => nanos(s * 1000);
    const configs: (Partial<StreamConfig> & { name: string })[] = [
      {
        name: STREAMS.windows,
        subjects: [`${SUBJECT_ROOT}.windows.>`],
        max_age: sec(l.windowsMaxAgeSeconds),
        max_bytes: l.windowsMaxBytes,
      },
      {
        name: STREAMS.events,
        subjects: [`${SUBJECT_ROOT}.events.>`],
        max_age: sec(l.eventsMaxAgeSeconds),
        max_bytes: l.eventsMaxBytes,
      },
      {
        name: STREAMS.alerts,
        subjects: [`${SUBJECT_ROOT}.alerts.>`],
        max_age: sec(l.alertsMaxAgeSeconds),
        max_bytes: l.alertsMaxBytes,
      },
      // Bounded like the others: a hostile peer's flood of bad messages ages out the oldest.
      {
        name: STREAMS.dlq,
        subjects: [DLQ_SUBJECT],
        max_age: sec(l.dlqMaxAgeSeconds),
        max_bytes: l.dlqMaxBytes,
      },
    ];
    for (const c of configs) {
      const full: Partial<StreamConfig> & { name: string } = {
        ...c,
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_msg_size: this.maxMessageBytes,
        duplicate_window: nanos(120_000),
      };
      try {
        const info = await this.jsm.streams.info(c.name);
        await this.jsm.streams.update(c.name, { ...info.config, ...full });
      } catch (e) {
        if (!/stream not found/i.test((e as Error).message)) throw e;
        await this.jsm.streams.add(full);
      }
    }
  }

  /** Publishes and waits for JetStream's ack; `msgId` makes a retried publish a no-op. */
  async publish(
    kind: MessageKind,
    subject: string,
    data: Uint8Array,
    msgId?: string,
  ): Promise<void> {
    if (data.byteLength > this.maxMessageBytes) {
      throw new VigilError(
        ErrorCodes.BUS_MESSAGE_TOO_LARGE,
        `a ${kind} of ${data.byteLength} bytes is over the ${this.maxMessageBytes}-byte limit`,
      );
    }
    await this.js.publish(subject, data, { ...(msgId ? { msgID: msgId } : {}), timeout: 5000 });
    this.metrics.published.inc({ kind });
  }

  /**
   * Consumes validated messages of `kind` through a durable consumer; the handler's success
   * acks, its failure asks for redelivery. Invalid messages go to the dead-letter queue with
   * the reason and are acknowledged (terminated), never retried, never handed to the handler.
   */
  async consume<K extends MessageKind>(
    kind: K,
    options: ConsumeOptions,
    handler: (value: Message<K>, info: MessageInfo) => Promise<void>,
  ): Promise<Consumption> {
    const maxDeliver = options.maxDeliver ?? DEFAULT_MAX_DELIVER;
    const concurrency = options.concurrency ?? 1;
    const nakDelayMs = options.nakDelayMs ?? (() => DEFAULT_NAK_DELAY_MS);
    if (!Number.isInteger(maxDeliver) || (maxDeliver < 1 && maxDeliver !== -1)) {
      throw new VigilError(ErrorCodes.CONFIG_INVALID, `maxDeliver ${maxDeliver} is invalid`, {
        hint: "give a positive integer, or -1 for unlimited redeliveries",
      });
    }
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new VigilError(ErrorCodes.CONFIG_INVALID, `concurrency ${concurrency} is invalid`, {
        hint: "give a positive integer",
      });
    }
    const stream = STREAM_OF_KIND[kind];
    const config = {
      durable_name: options.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(options.ackWaitMs ?? 30_000),
      max_deliver: maxDeliver,
      ...(options.filter ? { filter_subject: options.filter } : {}),
    };
    let existing: ConsumerInfo | undefined;
    try {
      existing = await this.jsm.consumers.info(stream, options.durable);
    } catch {
      await this.jsm.consumers.add(stream, config);
    }
    if (existing && existing.config.max_deliver !== maxDeliver) {
      await this.jsm.consumers.update(stream, options.durable, { max_deliver: maxDeliver });
    }
    const consumer = await this.js.consumers.get(stream, options.durable);
    const messages: ConsumerMessages = await consumer.consume({
      max_messages: options.batch ?? 64,
    });
    const handle = async (m: JsMsg): Promise<void> => {
      const decoded = decodeMessage(kind, m.data, this.maxMessageBytes);
      if (!decoded.ok) {
        this.metrics.invalid.inc({ kind, reason: decoded.reason });
        this.logger.limited(
          "warn",
          `invalid:${kind}:${decoded.reason}`,
          "invalid message sent to the DLQ",
          {
            kind,
            reason: decoded.reason,
            detail: decoded.detail,
            subject: m.subject,
          },
        );
        await this.deadLetter(kind, m.subject, m.data, decoded.reason, decoded.detail);
        m.term();
        return;
      }
      try {
        await handler(decoded.value, {
          subject: m.subject,
          streamSequence: m.info.streamSequence,
          redelivered: m.info.redelivered,
          deliveryCount: m.info.deliveryCount,
        });
        this.metrics.consumed.inc({ kind });
        m.ack();
      } catch (e) {
        this.logger.limited(
          "error",
          `handler:${kind}`,
          "handling a message failed; it will be redelivered",
          {
            kind,
            error: (e as Error).message,
          },
        );
        m.nak(Math.max(0, nakDelayMs(m.info.deliveryCount)));
      }
    };
    const done = (async () => {
      const running = new Set<Promise<void>>();
      for await (const m of messages) {
        // At the limit, wait for a slot: with concurrency 1, messages are handled in order.
        while (running.size >= concurrency) await Promise.race(running);
        const p: Promise<void> = handle(m)
          // Only ack/nak on a closing connection can land here; never an unhandled rejection.
          .catch((e: unknown) =>
            this.logger.limited("error", `settle:${kind}`, "could not ack or nak a message", {
              kind,
              error: (e as Error).message,
            }),
          )
          .finally(() => running.delete(p));
        running.add(p);
      }
      await Promise.all(running);
    })();
    return {
      stop: async () => {
        messages.stop();
        await done;
      },
      done,
      backlog: async () => {
        const info = await this.jsm.consumers.info(stream, options.durable);
        return info.num_pending + info.num_ack_pending;
      },
    };
  }

  private async deadLetter(
    kind: MessageKind,
    subject: string,
    data: Uint8Array,
    reason: string,
    detail: string,
  ): Promise<void> {
    const h = headers();
    h.set("Vigil-Kind", kind);
    h.set("Vigil-Reason", reason);
    h.set("Vigil-Detail", detail.slice(0, 1000));
    h.set("Vigil-Subject", subject);
    // Keep what surely fits (headers included): a large message is stored truncated, flagged.
    const keep = Math.min(65536, Math.floor(this.maxMessageBytes / 2));
    const body = data.byteLength > keep ? data.subarray(0, keep) : data;
    if (body !== data) h.set("Vigil-Truncated", String(data.byteLength));
    try {
      await this.js.publish(DLQ_SUBJECT, body, { headers: h, timeout: 5000 });
    } catch (e) {
      this.logger.limited("error", "dlq", "could not write to the dead-letter queue", {
        error: (e as Error).message,
      });
    }
  }

  /** Raw access for tests and tools (capture, replay). */
  get connection(): NatsConnection {
    return this.nc;
  }

  get jetstream(): JetStreamClient {
    return this.js;
  }

  get manager(): JetStreamManager {
    return this.jsm;
  }

  async close(): Promise<void> {
    this.metrics.connected.set(0);
    await this.nc.drain().catch(() => this.nc.close());
  }
}
