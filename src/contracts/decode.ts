/**
 * The one way a consumer turns bytes from the bus into a message: size, JSON and schema checks.
 * Never throws: a bad message comes back with a closed-set reason (a metric label) and a
 * detail for the dead-letter queue.
 */
import type { z } from "zod";
import { alertSchema } from "./alert.js";
import { eventSchema } from "./event.js";
import { windowSchema } from "./window.js";

export const MESSAGE_SCHEMAS = {
  window: windowSchema,
  event: eventSchema,
  alert: alertSchema,
} as const;

export type MessageKind = keyof typeof MESSAGE_SCHEMAS;
export type Message<K extends MessageKind> = z.infer<(typeof MESSAGE_SCHEMAS)[K]>;

/** Default message size limit; the embedded server's max_payload is larger. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export type InvalidReason = "oversized" | "not_json" | "schema";

export type Decoded<K extends MessageKind> =
  | { ok: true; value: Message<K> }
  | { ok: false; reason: InvalidReason; detail: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function decodeMessage<K extends MessageKind>(
  kind: K,
  data: Uint8Array,
  maxBytes = MAX_MESSAGE_BYTES,
): Decoded<K> {
  if (data.byteLength > maxBytes) {
    return { ok: false, reason: "oversized", detail: `${data.byteLength} bytes > ${maxBytes}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(data));
  } catch (e) {
    return { ok: false, reason: "not_json", detail: (e as Error).message.slice(0, 200) };
  }
  const parsed = MESSAGE_SCHEMAS[kind].safeParse(json);
  if (!parsed.success) {
    const detail = describeIssues(parsed.error);
    return { ok: false, reason: "schema", detail };
  }
  return { ok: true, value: parsed.data as Message<K> };
}

/** The first few schema problems, "path: message; ...", for an error or a dead letter. */
export function describeIssues(error: z.ZodError, max = 5): string {
  return error.issues
    .slice(0, max)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

export function encodeMessage(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
