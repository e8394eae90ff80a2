/**
 * The Gemini API (`POST /v1beta/models/<model>:generateContent`, and
 * `:streamGenerateContent?alt=sse`), as Gemini CLI calls it through the Google GenAI SDK: tools
 * as `functionDeclarations` (a JSON schema in `parametersJsonSchema`, or `parameters`),
 * `functionCall` parts in model turns and `functionResponse` parts in user turns (`response.output`,
 * or `response.error` when the tool failed), both carrying the call's id. A streamed answer is a
 * series of GenerateContentResponse chunks, the last one with the finish reason and usage.
 *
 * The CLI's utility calls (model routing, next-speaker and loop checks) ask for JSON
 * (`responseMimeType: application/json` and a `responseJsonSchema`) and parse it: they get an
 * object that fits the schema and asks for nothing, see sample().
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
} from "../protocol.js";
import type { ToolDecl } from "../render.js";

const PATH = /^\/v1[a-z0-9]*\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

/** The JSON schema of requests that asked for a JSON answer. */
const jsonSchemas = new WeakMap<Conversation, unknown>();

interface Part {
  text?: unknown;
  functionCall?: { id?: unknown; name?: unknown };
  functionResponse?: { id?: unknown; name?: unknown; response?: unknown };
}

function resultOf(response: unknown, tool: unknown): ToolResult {
  const r = (response ?? {}) as { output?: unknown; error?: unknown };
  if (r.error !== undefined) {
    return { text: typeof r.error === "string" ? r.error : JSON.stringify(r.error), isError: true };
  }
  const text = typeof r.output === "string" ? r.output : JSON.stringify(response);
  // The shell tool reports a command it ran with an "Output:" field; without one, the CLI
  // refused to run it (its guard against command substitution, for one).
  return { text, isError: tool === "run_shell_command" && !/^Output:/m.test(text) };
}

function parse(body: unknown, path: string): Conversation {
  const b = body as {
    contents?: unknown;
    tools?: unknown;
    systemInstruction?: unknown;
    generationConfig?: {
      responseMimeType?: unknown;
      responseJsonSchema?: unknown;
      responseSchema?: unknown;
    };
  };
  if (!Array.isArray(b.contents)) throw new Error("expected contents[]");
  const tools = new Map<string, ToolDecl>();
  for (const t of Array.isArray(b.tools) ? b.tools : []) {
    const decls = (t as { functionDeclarations?: unknown }).functionDeclarations;
    for (const d of Array.isArray(decls) ? decls : []) {
      const f = d as { name?: unknown; parametersJsonSchema?: unknown; parameters?: unknown };
      if (typeof f.name !== "string") continue;
      tools.set(f.name, {
        name: f.name,
        kind: "function",
        ...schemaProps(f.parametersJsonSchema ?? f.parameters),
      });
    }
  }
  // Results are keyed by call id and by their position too: calls without an id are counted.
  const calls: string[] = [];
  const results = new Map<string, ToolResult>();
  let responses = 0;
  for (const c of b.contents as { parts?: unknown }[]) {
    if (!Array.isArray(c.parts)) continue;
    for (const p of c.parts as Part[]) {
      const call = p.functionCall;
      if (call) calls.push(typeof call.id === "string" ? call.id : String(calls.length));
      const fr = p.functionResponse;
      if (fr) {
        const result = resultOf(fr.response, fr.name);
        if (typeof fr.id === "string") results.set(fr.id, result);
        results.set(String(responses++), result);
      }
    }
  }
  const conv: Conversation = {
    tools,
    calls,
    results,
    stream: path.endsWith(":streamGenerateContent"),
    model: PATH.exec(path)?.[1] ?? "gemini",
    promptChars:
      JSON.stringify(b.contents).length + JSON.stringify(b.systemInstruction ?? "").length,
  };
  const g = b.generationConfig;
  if (g?.responseMimeType === "application/json") {
    jsonSchemas.set(conv, g.responseJsonSchema ?? g.responseSchema ?? {});
  }
  return conv;
}

/**
 * A value of `schema` that asks for nothing: the first enum value (the next-speaker check lists
 * "user" first), the lowest score (1 on the routers' 1-100 scales, or the declared minimum), a
 * confidence of 0, false, no items; strings are `text`. Types may be upper case (the SDK's Type).
 */
export function sample(schema: unknown, text: string, depth = 0): unknown {
  const s = (schema ?? {}) as {
    type?: unknown;
    enum?: unknown;
    minimum?: unknown;
    properties?: Record<string, unknown>;
    anyOf?: unknown;
  };
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  if (Array.isArray(s.anyOf) && s.anyOf.length > 0) return sample(s.anyOf[0], text, depth + 1);
  const declared = Array.isArray(s.type) ? s.type[0] : s.type;
  const type =
    typeof declared === "string" ? declared.toLowerCase() : s.properties ? "object" : "string";
  switch (type) {
    case "integer":
      return typeof s.minimum === "number" ? s.minimum : 1;
    case "number":
      return typeof s.minimum === "number" ? s.minimum : 0;
    case "boolean":
      return false;
    case "array":
      return [];
    case "object": {
      const out: Record<string, unknown> = {};
      if (depth > 8) return out;
      for (const [k, v] of Object.entries(s.properties ?? {})) out[k] = sample(v, text, depth + 1);
      return out;
    }
    case "null":
      return null;
    default:
      return text;
  }
}

function write(res: ServerResponse, answer: Answer, conv: Conversation, id: string): void {
  const promptTokenCount = Math.ceil(conv.promptChars / 4);
  const schema = jsonSchemas.get(conv);
  const text =
    answer.kind === "tool"
      ? answer.narration
      : schema !== undefined
        ? JSON.stringify(sample(schema, answer.text))
        : answer.text;
  const last: object[] =
    answer.kind === "tool"
      ? [{ functionCall: { id: answer.callId, name: answer.call.name, args: answer.call.input } }]
      : [];
  const pieces = conv.stream ? chunks(text) : [text];
  let emitted = 0;
  const responses = pieces.map((piece, i) => {
    const final = i === pieces.length - 1;
    const parts: object[] = [{ text: piece }, ...(final ? last : [])];
    emitted += Math.ceil(JSON.stringify(parts).length / 4);
    return {
      candidates: [
        { content: { role: "model", parts }, ...(final ? { finishReason: "STOP" } : {}), index: 0 },
      ],
      usageMetadata: {
        promptTokenCount,
        candidatesTokenCount: emitted,
        totalTokenCount: promptTokenCount + emitted,
      },
      modelVersion: conv.model,
      responseId: id,
    };
  });
  if (conv.stream)
    sse(
      res,
      responses.map((data) => ({ data })),
    );
  else json(res, 200, responses[0]);
}

export const geminiApi: Protocol = {
  name: "gemini",
  matches: (method, path) => method === "POST" && PATH.test(path),
  parse: (body, path) => parse(body, path),
  write,
};
