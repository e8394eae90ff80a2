/**
 * The OpenAI Responses API (`POST /v1/responses`), as Codex calls it: `input` is the whole
 * history as items (messages, `function_call` / `custom_tool_call` with a `call_id`, and their
 * `function_call_output` / `custom_tool_call_output`), `tools` are `function` tools with a JSON
 * schema in `parameters` and `custom` (freeform) tools such as apply_patch. Answers stream as
 * named events, each with a `sequence_number`: response.created / in_progress, per output item
 * output_item.added, its deltas (output_text, function_call_arguments, custom_tool_call_input)
 * and output_item.done, then response.completed with the usage.
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

interface Item {
  type?: unknown;
  call_id?: unknown;
  output?: unknown;
}

/** A tool result's text; older Codex versions sent `{content, success}` instead of a string. */
function resultOf(output: unknown): ToolResult {
  if (output !== null && typeof output === "object" && !Array.isArray(output)) {
    const o = output as { content?: unknown; success?: unknown };
    return { text: textOf(o.content), isError: o.success === false };
  }
  return { text: textOf(output), isError: false };
}

function parse(body: unknown): Conversation {
  const b = body as {
    model?: unknown;
    input?: unknown;
    instructions?: unknown;
    tools?: unknown;
    stream?: unknown;
  };
  if (typeof b.input !== "string" && !Array.isArray(b.input)) {
    throw new Error("expected input (a string or an array of items)");
  }
  const tools = new Map<string, ToolDecl>();
  for (const t of Array.isArray(b.tools) ? b.tools : []) {
    const tool = t as { type?: unknown; name?: unknown; parameters?: unknown };
    if (typeof tool.name !== "string") continue;
    // Hosted tools (web_search, tool_search) have no name and run at the vendor.
    if (tool.type === "function") {
      tools.set(tool.name, { name: tool.name, kind: "function", ...schemaProps(tool.parameters) });
    } else if (tool.type === "custom") {
      tools.set(tool.name, { name: tool.name, kind: "custom", properties: {}, required: [] });
    }
  }
  const calls: string[] = [];
  const results = new Map<string, ToolResult>();
  for (const it of Array.isArray(b.input) ? (b.input as Item[]) : []) {
    if (typeof it?.call_id !== "string") continue;
    if (it.type === "function_call" || it.type === "custom_tool_call") calls.push(it.call_id);
    if (it.type === "function_call_output" || it.type === "custom_tool_call_output") {
      results.set(it.call_id, resultOf(it.output));
    }
  }
  return {
    tools,
    calls,
    results,
    stream: b.stream === true,
    model: typeof b.model === "string" ? b.model : "gpt-5",
    promptChars:
      JSON.stringify(b.input).length +
      (typeof b.instructions === "string" ? b.instructions.length : 0),
  };
}

type OutputItem =
  | { type: "message"; id: string; role: "assistant"; phase: string; text: string }
  | { type: "function_call"; id: string; call_id: string; name: string; arguments: string }
  | { type: "custom_tool_call"; id: string; call_id: string; name: string; input: string };

/** The item as the API shows it when done (`status: completed`, message text as a content part). */
function done(item: OutputItem): object {
  if (item.type !== "message") return { ...item, status: "completed" };
  const { text, ...rest } = item;
  return {
    ...rest,
    status: "completed",
    content: [{ type: "output_text", text, annotations: [], logprobs: [] }],
  };
}

function outputOf(answer: Answer, id: string): OutputItem[] {
  const message = (text: string, phase: string): OutputItem => ({
    type: "message",
    id: `msg_${id}`,
    role: "assistant",
    phase,
    text,
  });
  if (answer.kind === "text") return [message(answer.text, "final_answer")];
  const { call, callId } = answer;
  const tool: OutputItem =
    typeof call.input === "string"
      ? {
          type: "custom_tool_call",
          id: `ctc_${callId}`,
          call_id: `call_${callId}`,
          name: call.name,
          input: call.input,
        }
      : {
          type: "function_call",
          id: `fc_${callId}`,
          call_id: `call_${callId}`,
          name: call.name,
          arguments: JSON.stringify(call.input),
        };
  return [message(answer.narration, "commentary"), tool];
}

/** The events that stream one output item at `output_index`. */
function itemEvents(
  item: OutputItem,
  output_index: number,
): { type: string; [k: string]: unknown }[] {
  const item_id = item.id;
  const events: { type: string; [k: string]: unknown }[] = [];
  switch (item.type) {
    case "message": {
      const { text, ...rest } = item;
      const part = { type: "output_text", text: "", annotations: [], logprobs: [] };
      const at = { item_id, output_index, content_index: 0 };
      events.push(
        {
          type: "response.output_item.added",
          output_index,
          item: { ...rest, status: "in_progress", content: [] },
        },
        { type: "response.content_part.added", ...at, part },
      );
      for (const delta of chunks(text))
        events.push({ type: "response.output_text.delta", ...at, delta, logprobs: [] });
      events.push(
        { type: "response.output_text.done", ...at, text, logprobs: [] },
        { type: "response.content_part.done", ...at, part: { ...part, text } },
      );
      break;
    }
    case "function_call":
      events.push({
        type: "response.output_item.added",
        output_index,
        item: { ...item, arguments: "", status: "in_progress" },
      });
      for (const delta of chunks(item.arguments)) {
        events.push({
          type: "response.function_call_arguments.delta",
          item_id,
          output_index,
          delta,
        });
      }
      events.push({
        type: "response.function_call_arguments.done",
        item_id,
        output_index,
        arguments: item.arguments,
      });
      break;
    case "custom_tool_call":
      events.push({
        type: "response.output_item.added",
        output_index,
        item: { ...item, input: "", status: "in_progress" },
      });
      for (const delta of chunks(item.input)) {
        events.push({
          type: "response.custom_tool_call_input.delta",
          item_id,
          output_index,
          delta,
        });
      }
      events.push({
        type: "response.custom_tool_call_input.done",
        item_id,
        output_index,
        input: item.input,
      });
      break;
  }
  events.push({ type: "response.output_item.done", output_index, item: done(item) });
  return events;
}

function write(res: ServerResponse, answer: Answer, conv: Conversation, id: string): void {
  const items = outputOf(answer, id);
  const output = items.map(done);
  const input_tokens = Math.ceil(conv.promptChars / 4);
  const output_tokens = Math.ceil(JSON.stringify(output).length / 4);
  const response = {
    id: `resp_${id}`,
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    model: conv.model,
    parallel_tool_calls: true,
    tool_choice: "auto",
    error: null,
    incomplete_details: null,
  };
  const usage = {
    input_tokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input_tokens + output_tokens,
  };
  const completed = { ...response, status: "completed", output, usage };
  if (!conv.stream) {
    json(res, 200, completed);
    return;
  }
  const pending = { ...response, status: "in_progress", output: [], usage: null };
  const events: { type: string; [k: string]: unknown }[] = [
    { type: "response.created", response: pending },
    { type: "response.in_progress", response: pending },
    ...items.flatMap(itemEvents),
    { type: "response.completed", response: completed },
  ];
  sse(
    res,
    events.map((e, sequence_number) => ({ event: e.type, data: { ...e, sequence_number } })),
  );
}

export const openaiResponses: Protocol = {
  name: "openai-responses",
  matches: (method, path) => method === "POST" && path === "/v1/responses",
  parse: (body) => parse(body),
  write,
};
