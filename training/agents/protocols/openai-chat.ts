/**
 * The OpenAI Chat Completions API (`POST /v1/chat/completions`), as OpenAI-compatible agents
 * call it (Qwen Code, opencode through the AI SDK's openai-compatible provider): tools as
 * `{type: "function", function: {name, parameters}}`, `tool_calls` on assistant messages and
 * `{role: "tool", tool_call_id, content}` messages for the results, which carry no error flag
 * (the exit code is read from their text). Streamed answers are `chat.completion.chunk` deltas:
 * the role, the text, each tool call's id and name then its arguments in pieces, a last chunk
 * with the finish reason, a usage chunk when `stream_options.include_usage` asks for it, and
 * `data: [DONE]`.
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

interface Message {
  role?: unknown;
  content?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
}

interface Request {
  model?: unknown;
  messages?: unknown;
  tools?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown };
}

/** Whether the agent asked for the usage chunk at the end of the stream. */
const wantsUsage = new WeakMap<Conversation, boolean>();

function parse(body: unknown): Conversation {
  const b = body as Request;
  if (!Array.isArray(b.messages)) throw new Error("expected messages[]");
  const tools = new Map<string, ToolDecl>();
  for (const t of Array.isArray(b.tools) ? b.tools : []) {
    const fn = (t as { type?: unknown; function?: { name?: unknown; parameters?: unknown } })
      .function;
    if (typeof fn?.name !== "string") continue;
    tools.set(fn.name, { name: fn.name, kind: "function", ...schemaProps(fn.parameters) });
  }
  const calls: string[] = [];
  const results = new Map<string, ToolResult>();
  for (const m of b.messages as Message[]) {
    if (m.role === "assistant" && Array.isArray(m.tool_calls)) {
      for (const c of m.tool_calls as { id?: unknown }[]) {
        if (typeof c.id === "string") calls.push(c.id);
      }
    }
    if (m.role === "tool" && typeof m.tool_call_id === "string") {
      results.set(m.tool_call_id, { text: textOf(m.content), isError: false });
    }
  }
  const conv: Conversation = {
    tools,
    calls,
    results,
    stream: b.stream === true,
    model: typeof b.model === "string" ? b.model : "gpt",
    promptChars: JSON.stringify(b.messages).length,
  };
  wantsUsage.set(conv, b.stream_options?.include_usage === true);
  return conv;
}

function write(res: ServerResponse, answer: Answer, conv: Conversation, id: string): void {
  const text = answer.kind === "tool" ? answer.narration : answer.text;
  const toolCall =
    answer.kind === "tool"
      ? {
          id: `call_${answer.callId}`,
          name: answer.call.name,
          // A text input is a freeform tool's, which parse() never declares.
          arguments:
            typeof answer.call.input === "string"
              ? answer.call.input
              : JSON.stringify(answer.call.input),
        }
      : undefined;
  const finish_reason = toolCall ? "tool_calls" : "stop";
  const prompt_tokens = Math.ceil(conv.promptChars / 4);
  const completion_tokens = Math.ceil((text.length + (toolCall?.arguments.length ?? 0)) / 4);
  const usage = {
    prompt_tokens,
    completion_tokens,
    total_tokens: prompt_tokens + completion_tokens,
  };
  const head = {
    id: `chatcmpl-${id}`,
    created: Math.floor(Date.now() / 1000),
    model: conv.model,
  };
  if (!conv.stream) {
    const tool_calls = toolCall && [
      {
        id: toolCall.id,
        type: "function",
        function: { name: toolCall.name, arguments: toolCall.arguments },
      },
    ];
    json(res, 200, {
      ...head,
      object: "chat.completion",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: text, ...(tool_calls ? { tool_calls } : {}) },
          finish_reason,
        },
      ],
      usage,
    });
    return;
  }
  const chunk = (delta: object, finish: string | null = null) => ({
    data: {
      ...head,
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta, finish_reason: finish }],
    },
  });
  const events: { data: unknown }[] = [chunk({ role: "assistant", content: "" })];
  for (const content of chunks(text)) events.push(chunk({ content }));
  if (toolCall) {
    events.push(
      chunk({
        tool_calls: [
          {
            index: 0,
            id: toolCall.id,
            type: "function",
            function: { name: toolCall.name, arguments: "" },
          },
        ],
      }),
    );
    for (const args of chunks(toolCall.arguments)) {
      events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: args } }] }));
    }
  }
  events.push(chunk({}, finish_reason));
  if (wantsUsage.get(conv)) {
    events.push({ data: { ...head, object: "chat.completion.chunk", choices: [], usage } });
  }
  sse(res, events, "[DONE]");
}

export const openaiChat: Protocol = {
  name: "openai-chat",
  matches: (method, path) =>
    method === "POST" && (path === "/v1/chat/completions" || path === "/chat/completions"),
  parse: (body) => parse(body),
  write,
};
