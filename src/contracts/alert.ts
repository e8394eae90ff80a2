/**
 * vigil.alert.v1: an agent instance behaves unlike its baseline. Published on
 * vigil.v1.alerts.<agentType> (and sent to Alertmanager by the scorer). `endsAt` set = resolved.
 */
import { z } from "zod";
import { agentIdSchema, agentTypeSchema, hostSchema, LIMITS, text, versionSchema } from "./ids.js";

export const ALERT_SCHEMA = "vigil.alert.v1" as const;
export const SEVERITIES = ["info", "warning", "critical"] as const;

export const alertSchema = z.object({
  schema: z.literal(ALERT_SCHEMA),
  /** Stable for one anomalous episode of one instance: dedupe and resolve key. */
  fingerprint: z.string().min(1).max(128),
  alertname: z.string().min(1).max(128),
  host: hostSchema,
  agentType: agentTypeSchema,
  agentId: agentIdSchema,
  severity: z.enum(SEVERITIES),
  score: z.number(),
  threshold: z.number(),
  /** The model's version, or "" while the type is learning (rules alone). */
  modelVersion: z.union([versionSchema, z.literal("")]),
  /** One sentence a person can act on. */
  summary: text,
  explanation: z.object({
    features: z
      .array(
        z.object({
          name: z.string().max(256),
          observed: z.number(),
          baseline: z.number(),
          contribution: z.number(),
        }),
      )
      .max(LIMITS.explanation),
    novel: z.array(z.object({ kind: z.string().max(64), value: text })).max(LIMITS.explanation),
  }),
  windowStart: z.string().datetime(),
  windowEnd: z.string().datetime(),
  startsAt: z.string().datetime(),
  endsAt: z.string().datetime().optional(),
});

export type VigilAlert = z.infer<typeof alertSchema>;
