/**
 * Who may do what on the embedded bus. `vigil run` generates one user per role, with a random
 * password, in <dataDir>/nats/credentials.json (0600, its owner only); nats-server has no
 * anonymous user, so a local user or an agent without that file cannot even connect.
 *
 * - admin: everything; makes the streams at start; what `vigil replay` and `vigil capture` use.
 * - sensor: publishes windows and events, nothing else (no $JS.API: it cannot read, delete or
 *   reconfigure a stream, nor publish an alert).
 * - scorer: reads windows through its durable consumer, publishes alerts and dead letters,
 *   reads the alert stream through the Alertmanager outbox's consumer.
 * - reader: `vigil tail`: subscribes to vigil.v1.> and publishes nothing. (`vigil capture`
 *   needs a JetStream consumer, and a role that may create consumers can also rewrite the
 *   scorer's durable one, so capture runs as admin.)
 *
 * Each role's replies come on an inbox prefix of its own, so one role cannot read another's
 * JetStream answers (a consumer's messages travel on the consumer's inbox).
 */
import { DLQ_SUBJECT, STREAMS, SUBJECT_ROOT } from "../contracts/index.js";

export const BUS_ROLES = ["admin", "sensor", "scorer", "reader"] as const;
export type BusRole = (typeof BUS_ROLES)[number];

export interface RolePermissions {
  publish: string[];
  subscribe: string[];
}

export function inboxPrefix(role: BusRole): string {
  return `_INBOX_${role}`;
}

/** Subjects a consumer of `stream` needs: its info, create/update, pull, ack. */
function consumerOf(stream: string): string[] {
  return [
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.*`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.ACK.${stream}.>`,
  ];
}

/** The permissions of a role; undefined for admin (everything). */
export function rolePermissions(role: BusRole): RolePermissions | undefined {
  const inbox = `${inboxPrefix(role)}.>`;
  switch (role) {
    case "admin":
      return undefined;
    case "sensor":
      return {
        publish: [`${SUBJECT_ROOT}.windows.>`, `${SUBJECT_ROOT}.events.>`],
        subscribe: [inbox],
      };
    case "scorer":
      return {
        publish: [
          `${SUBJECT_ROOT}.alerts.>`,
          DLQ_SUBJECT,
          "$JS.API.INFO",
          ...consumerOf(STREAMS.windows),
          ...consumerOf(STREAMS.alerts),
        ],
        subscribe: [inbox],
      };
    case "reader":
      return { publish: [], subscribe: [inbox, `${SUBJECT_ROOT}.>`] };
  }
}
