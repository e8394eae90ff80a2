/**
 * vigil.event.v1: one notable thing an agent did, published as it happens (the window says
 * everything, a little later). Subject: vigil.v1.events.<kind>.<agentType>.<host>.
 */
import { z } from "zod";
import { agentIdSchema, agentTypeSchema, args, hostSchema, text } from "./ids.js";
import { FILE_CLASSES } from "./window.js";

export const EVENT_SCHEMA = "vigil.event.v1" as const;
export const EVENT_KINDS = ["agent", "exec", "file", "net", "privilege"] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

const base = {
  schema: z.literal(EVENT_SCHEMA),
  host: hostSchema,
  agentType: agentTypeSchema,
  agentId: agentIdSchema,
  pid: z.number().int(),
  ts: z.string().datetime(),
};

export const eventSchema = z.discriminatedUnion("kind", [
  z.object({
    ...base,
    kind: z.literal("agent"),
    phase: z.enum(["started", "ended"]),
    source: z.enum(["exec", "rule", "watch"]),
  }),
  z.object({
    ...base,
    kind: z.literal("exec"),
    path: text,
    argv: args,
    ppid: z.number().int(),
    uid: z.number().int(),
  }),
  z.object({
    ...base,
    kind: z.literal("file"),
    path: text,
    class: z.enum(FILE_CLASSES),
    op: z.enum(["read", "write"]),
  }),
  z.object({
    ...base,
    kind: z.literal("net"),
    direction: z.enum(["out", "in", "listen"]),
    protocol: z.string().max(32),
    address: text,
    port: z.number().int().min(0).max(65535),
  }),
  z.object({
    ...base,
    kind: z.literal("privilege"),
    syscall: z.string().max(64),
    args,
  }),
]);

export type VigilEvent = z.infer<typeof eventSchema>;

/** An event without the fields every event has. */
export type EventBody = VigilEvent extends infer E
  ? E extends VigilEvent
    ? Omit<E, "schema" | "host" | "agentType" | "agentId" | "pid" | "ts">
    : never
  : never;

export function makeEvent(
  host: string,
  who: { agentType: string; agentId: string },
  pid: number,
  epochMs: number,
  body: EventBody,
): VigilEvent {
  return {
    schema: EVENT_SCHEMA,
    host,
    agentType: who.agentType,
    agentId: who.agentId,
    pid,
    ts: new Date(epochMs).toISOString(),
    ...body,
  } as VigilEvent;
}
