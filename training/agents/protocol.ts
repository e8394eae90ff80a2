/**
 * What the scripted model server needs from each vendor API it speaks: read the agent's request
 * into a neutral conversation (declared tools, the tool calls made so far and their results),
 * and write an answer (one tool call, or the final text) in that API's wire format, streamed
 * when the agent asked for a stream.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Rendered, ToolDecl } from "./render.js";

export interface Conversation {
  /** The tools the agent declared, by name. */
  tools: Map<string, ToolDecl>;
  /** Ids (or, where the API has none, names) of the tool calls in the history, in order. */
  calls: string[];
  /** The results the agent sent back, by call id (or by position where the API has no ids). */
  results: Map<string, ToolResult>;
  stream: boolean;
  model: string;
  /** A rough size of the prompt, for the usage fields. */
  promptChars: number;
}

export interface ToolResult {
  text: string;
  /** The agent flagged the call as failed (is_error, status "error"...). */
  isError: boolean;
}

export type Answer =
  | { kind: "tool"; callId: string; call: Rendered; narration: string }
  | { kind: "text"; text: string };

export interface Protocol {
  readonly name: string;
  /** Whether this protocol serves `method path` (the path below the session prefix, no query). */
  matches(method: string, path: string): boolean;
  /** Throws an Error whose message is sent back as a 400 when the body is not this API's. */
  parse(body: unknown, path: string, query: URLSearchParams): Conversation;
  write(res: ServerResponse, answer: Answer, conv: Conversation, responseId: string): void;
}

/** Server-sent events: `event:` lines where the API names its events, then the JSON data. */
export function sse(
  res: ServerResponse,
  events: readonly { event?: string; data: unknown }[],
  done?: string,
): void {
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  for (const e of events) {
    res.write(`${e.event ? `event: ${e.event}\n` : ""}data: ${JSON.stringify(e.data)}\n\n`);
  }
  if (done !== undefined) res.write(`data: ${done}\n\n`);
  res.end();
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Splits a string in a few pieces, as a model streams its output. */
export function chunks(s: string, n = 3): string[] {
  if (s.length === 0) return [""];
  const size = Math.ceil(s.length / n);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

/** A JSON-schema object's properties as ToolDecl wants them. */
export function schemaProps(schema: unknown): Pick<ToolDecl, "properties" | "required"> {
  const s = (schema ?? {}) as {
    properties?: Record<string, { type?: unknown }>;
    required?: unknown;
  };
  const properties: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    const t = v?.type;
    properties[k] = typeof t === "string" ? t.toLowerCase() : undefined;
  }
  const required = Array.isArray(s.required) ? s.required.filter((r) => typeof r === "string") : [];
  return { properties, required };
}

/** Text content of a message part list (strings, or {type:"text", text} / {text} objects). */
export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return content === undefined ? "" : JSON.stringify(content);
  return content
    .map((c) => {
      if (typeof c === "string") return c;
      const o = c as { text?: unknown };
      return typeof o.text === "string" ? o.text : "";
    })
    .join("\n");
}

/** A request's body as text; an Error past `maxBytes`, so a peer cannot fill memory. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > maxBytes) throw new Error("request body too large");
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts).toString("utf8");
}
