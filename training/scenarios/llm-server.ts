/**
 * A scripted model behind the OpenAI chat-completions shape, on loopback. Each session (keyed
 * by the request's `user` field) is a list of tool calls handed out one per turn, after a
 * seeded "think" delay; when the list is done the model answers with finish_reason "stop".
 * The turn is the number of assistant messages in the request, so a retried request gets the
 * same answer. The time each step was handed out is recorded: it is when an attack started.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readBody } from "../agents/protocol.js";
import { prng } from "../random.js";
import type { ToolCall } from "./types.js";

export interface ScriptedSession {
  steps: readonly ToolCall[];
  seed: number;
  /** Think time per turn, uniform in [min, max] ms. */
  thinkMs: readonly [number, number];
  /** The final answer's text. */
  summary?: string;
}

export interface LlmServer {
  /** Base URL, OpenAI style: POST `${url}/chat/completions`. */
  url: string;
  register(sessionId: string, session: ScriptedSession): void;
  /** When each step was handed out (ms epoch; undefined: not yet), and when "stop" was. */
  progress(sessionId: string): { handedOut: (number | undefined)[]; stoppedAt?: number };
  forget(sessionId: string): void;
  close(): Promise<void>;
}

interface State extends ScriptedSession {
  handedOut: (number | undefined)[];
  stoppedAt?: number;
}

interface ChatMessage {
  role?: unknown;
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { message, type: "invalid_request_error", code } });
  res.writeHead(status, { "content-type": "application/json" }).end(body);
}

const NARRATION: Record<ToolCall["name"], string> = {
  bash: "Let me run that.",
  read_file: "I'll look at the file first.",
  write_file: "Writing the file now.",
  http_get: "Fetching the page.",
};

export async function startLlmServer(): Promise<LlmServer> {
  const sessions = new Map<string, State>();
  const pending = new Set<NodeJS.Timeout>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        pending.delete(t);
        resolve();
      }, ms);
      pending.add(t);
    });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      return fail(res, 404, "not_found", `no route ${req.method} ${req.url}`);
    }
    let body: { model?: unknown; messages?: unknown; user?: unknown };
    try {
      body = JSON.parse(await readBody(req, 16 * 1024 * 1024)) as typeof body;
    } catch (e) {
      return fail(res, 400, "bad_json", (e as Error).message);
    }
    if (!Array.isArray(body.messages) || typeof body.user !== "string") {
      return fail(res, 400, "bad_request", "expected messages[] and user (the session id)");
    }
    const state = sessions.get(body.user);
    if (!state) return fail(res, 404, "session_not_found", `no scripted session ${body.user}`);
    const messages = body.messages as ChatMessage[];
    const turn = messages.filter((m) => m.role === "assistant").length;
    const toolResults = messages.filter((m) => m.role === "tool").length;
    if (toolResults !== Math.min(turn, state.steps.length)) {
      return fail(res, 400, "missing_tool_result", `turn ${turn}: ${toolResults} tool results`);
    }
    const random = prng((state.seed * 7919 + turn * 104729) >>> 0);
    const [lo, hi] = state.thinkMs;
    await sleep(lo + random() * (hi - lo));
    const step = state.steps[turn];
    const now = Date.now();
    const usage = {
      prompt_tokens: Math.ceil(JSON.stringify(messages).length / 4),
      completion_tokens: 0,
      total_tokens: 0,
    };
    let choice: object;
    if (step) {
      state.handedOut[turn] ??= now;
      const id = `call_${Math.floor(random() * 2 ** 48).toString(36)}`;
      const args = JSON.stringify(step.arguments);
      usage.completion_tokens = Math.ceil(args.length / 4) + 8;
      choice = {
        index: 0,
        message: {
          role: "assistant",
          content: NARRATION[step.name],
          tool_calls: [{ id, type: "function", function: { name: step.name, arguments: args } }],
        },
        finish_reason: "tool_calls",
      };
    } else {
      state.stoppedAt ??= now;
      const content = state.summary ?? "Done: the task is complete.";
      usage.completion_tokens = Math.ceil(content.length / 4);
      choice = { index: 0, message: { role: "assistant", content }, finish_reason: "stop" };
    }
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const reply = JSON.stringify({
      id: `chatcmpl-${body.user}-${turn}`,
      object: "chat.completion",
      created: Math.floor(now / 1000),
      model: typeof body.model === "string" ? body.model : "scripted",
      choices: [choice],
      usage,
    });
    res.writeHead(200, { "content-type": "application/json" }).end(reply);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) fail(res, 500, "internal", (e as Error).message);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    register: (id, s) => {
      sessions.set(id, { ...s, handedOut: [] });
    },
    progress: (id) => {
      const s = sessions.get(id);
      if (!s) return { handedOut: [] };
      return s.stoppedAt === undefined
        ? { handedOut: [...s.handedOut] }
        : { handedOut: [...s.handedOut], stoppedAt: s.stoppedAt };
    },
    forget: (id) => {
      sessions.delete(id);
    },
    close: async () => {
      for (const t of pending) clearTimeout(t);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
