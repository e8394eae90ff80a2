/**
 * vigil.alert.v1: an agent instance behaves unlike its baseline. Published on
 * vigil.v1.alerts.<agentType> (and sent to Alertmanager by the scorer). `endsAt` set = resolved.
 */
import { z } from "zod";

export const ALERT_SCHEMA = "vigil.alert.v1" as const;
export const SEVERITIES = ["info", "warning", "critical"] as const;

export const alertSchema = z.object({
  schema: z.literal(ALERT_SCHEMA),
  /** Stable for one anomalous episode of one instance: dedupe and resolve key. */
  fingerprint: z.string().min(1),
  alertname: z.string().min(1),
  host: z.string().min(1),
  agentType: z.string().min(1),
  agentId: z.string().min(1),
  severity: z.enum(SEVERITIES),
  score: z.number(),
  threshold: z.number(),
  modelVersion: z.string(),
  /** One sentence a person can act on. */
  summary: z.string(),
  explanation: z.object({
    features: z.array(
      z.object({
        name: z.string(),
        observed: z.number(),
        baseline: z.number(),
        contribution: z.number(),
      }),
    ),
    novel: z.array(z.object({ kind: z.string(), value: z.string() })),
  }),
  windowStart: z.string().datetime(),
  windowEnd: z.string().datetime(),
  startsAt: z.string().datetime(),
  endsAt: z.string().datetime().optional(),
});

export type VigilAlert = z.infer<typeof alertSchema>;
