/**
 * The Anthropic Messages API (`POST /v1/messages`), as Claude Code calls it: tools with
 * `input_schema`, `tool_use` blocks in assistant messages and `tool_result` blocks (with
 * `is_error`) in user messages; answers streamed as message_start, content blocks (text_delta,
 * input_json_delta), message_delta with the stop reason, message_stop.
 */
import type { ServerResponse } from "node:http";
import {
  type Answer,
  type Conversation,
  chunks,
  json,
  type Protocol,
  schemaProps,
  sse,
  type ToolResult,
  textOf,
} from "../protocol.js";
import type { ToolDecl } from "../render.js";

interface Block {
  type?: unknown;
  id?: unknown;
  tool_use_id?: unknown;
  content?: unknown;
  is_error?: unknown;
}

function parse(body: unknown): Conversation {
  const b = body as {
    model?: unknown;
    messages?: unknown;
    tools?: unknown;
    stream?: unknown;
  };
  if (!Array.isArray(b.messages)) throw new Error("expected messages[]");
  const tools = new Map<string, ToolDecl>();
  for (const t of Array.isArray(b.tools) ? b.tools : []) {
    const tool = t as { name?: unknown; input_schema?: unknown };
    if (typeof tool.name !== "string" || tool.input_schema === undefined) continue;
    tools.set(tool.name, { name: tool.name, kind: "function", ...schemaProps(tool.input_schema) });
  }
  const calls: string[] = [];
  const results = new Map<string, ToolResult>();
  for (const m of b.messages as { role?: unknown; content?: unknown }[]) {
    if (!Array.isArray(m.content)) continue;
    for (const c of m.content as Block[]) {
      if (c.type === "tool_use" && typeof c.id === "string") calls.push(c.id);
      if (c.type === "tool_result" && typeof c.tool_use_id === "string") {
        results.set(c.tool_use_id, { text: textOf(c.content), isError: c.is_error === true });
      }
    }
  }
  return {
    tools,
    calls,
    results,
    stream: b.stream === true,
    model: typeof b.model === "string" ? b.model : "claude",
    promptChars: JSON.stringify(b.messages).length,
  };
}

function write(res: ServerResponse, answer: Answer, conv: Conversation, id: string): void {
  const input_tokens = Math.ceil(conv.promptChars / 4);
  const content: object[] = [];
  if (answer.kind === "tool") {
    content.push({ type: "text", text: answer.narration });
    content.push({
      type: "tool_use",
      id: `toolu_${answer.callId}`,
      name: answer.call.name,
      input: answer.call.input,
    });
  } else {
    content.push({ type: "text", text: answer.text });
  }
  const stop_reason = answer.kind === "tool" ? "tool_use" : "end_turn";
  const output_tokens = Math.ceil(JSON.stringify(content).length / 4);
  const message = { id: `msg_${id}`, type: "message", role: "assistant", model: conv.model };
  if (!conv.stream) {
    json(res, 200, {
      ...message,
      content,
      stop_reason,
      stop_sequence: null,
      usage: { input_tokens, output_tokens },
    });
    return;
  }
  const events: { event: string; data: unknown }[] = [
    {
      event: "message_start",
      data: {
        type: "message_start",
        message: {
          ...message,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens, output_tokens: 1 },
        },
      },
    },
  ];
  content.forEach((block, index) => {
    const b = block as { type: string; text?: string; input?: unknown };
    if (b.type === "text") {
      events.push({
        event: "content_block_start",
        data: { type: "content_block_start", index, content_block: { type: "text", text: "" } },
      });
      for (const text of chunks(b.text ?? "")) {
        events.push({
          event: "content_block_delta",
          data: { type: "content_block_delta", index, delta: { type: "text_delta", text } },
        });
      }
    } else {
      events.push({
        event: "content_block_start",
        data: { type: "content_block_start", index, content_block: { ...b, input: {} } },
      });
      for (const partial_json of chunks(JSON.stringify(b.input))) {
        events.push({
          event: "content_block_delta",
          data: {
            type: "content_block_delta",
            index,
            delta: { type: "input_json_delta", partial_json },
          },
        });
      }
    }
    events.push({ event: "content_block_stop", data: { type: "content_block_stop", index } });
  });
  events.push(
    {
      event: "message_delta",
      data: {
        type: "message_delta",
        delta: { stop_reason, stop_sequence: null },
        usage: { output_tokens },
      },
    },
    { event: "message_stop", data: { type: "message_stop" } },
  );
  sse(res, events);
}

export const anthropicMessages: Protocol = {
  name: "anthropic-messages",
  matches: (method, path) => method === "POST" && path === "/v1/messages",
  parse: (body) => parse(body),
  write,
};
