import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type ModelServer, startModelServer } from "../../training/agents/model-server.js";
import { openaiChat } from "../../training/agents/protocols/openai-chat.js";

const CWD = "/work/proj";

const fn = (name: string, properties: Record<string, unknown>, required: string[]) => ({
  type: "function",
  function: {
    name,
    description: `The ${name} tool.`,
    parameters: { type: "object", properties, required },
  },
});
const str = { type: "string" };

// Sanitised from Qwen Code 0.24: its system prompt, the user's request, some of its 14 tools.
const QWEN_TOOLS = [
  fn(
    "run_shell_command",
    { command: str, is_background: { type: "boolean" }, description: str, directory: str },
    ["command"],
  ),
  fn("read_file", { file_path: str, offset: { type: "number" }, limit: { type: "number" } }, [
    "file_path",
  ]),
  fn("edit", { file_path: str, old_string: str, new_string: str }, [
    "file_path",
    "old_string",
    "new_string",
  ]),
  fn("write_file", { file_path: str, content: str }, ["file_path", "content"]),
];
const QWEN_OPENING = [
  { role: "system", content: "You are Qwen Code, a non-interactive CLI agent." },
  { role: "user", content: [{ type: "text", text: "Work through the tasks" }] },
];

// Sanitised from opencode 1.18 (the AI SDK's openai-compatible client): camelCase arguments.
const OPENCODE_TOOLS = [
  fn("bash", { command: str, timeout: { type: "number" }, workdir: str }, ["command"]),
  fn("read", { filePath: str, offset: { type: "number" }, limit: { type: "number" } }, [
    "filePath",
  ]),
  fn("write", { content: str, filePath: str }, ["content", "filePath"]),
];

interface Call {
  id: string;
  name: string;
  arguments: string;
}

interface Reply {
  content: string;
  calls: Call[];
  finish: string | null;
  usage: unknown;
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer sk-test" },
    body: JSON.stringify(body),
  });
}

/** A streamed reply put together as an OpenAI client does: deltas by tool-call index. */
async function streamed(res: Response): Promise<Reply> {
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const frames = (await res.text()).split("\n\n").filter((f) => f.trim() !== "");
  assert.equal(frames.at(-1), "data: [DONE]");
  const reply: Reply = { content: "", calls: [], finish: null, usage: undefined };
  const ids = new Set<string>();
  for (const frame of frames.slice(0, -1)) {
    assert.match(frame, /^data: \{/);
    const chunk = JSON.parse(frame.slice("data: ".length));
    assert.equal(chunk.object, "chat.completion.chunk");
    ids.add(chunk.id);
    if (chunk.usage) reply.usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    reply.content += choice.delta.content ?? "";
    for (const d of choice.delta.tool_calls ?? []) {
      const call = reply.calls[d.index] ?? { id: "", name: "", arguments: "" };
      reply.calls[d.index] = call;
      if (d.id) call.id = d.id;
      if (d.function?.name) call.name = d.function.name;
      call.arguments += d.function?.arguments ?? "";
    }
    if (choice.finish_reason) reply.finish = choice.finish_reason;
  }
  assert.equal(ids.size, 1, "one completion id across the chunks");
  return reply;
}

let server: ModelServer;
before(async () => {
  server = await startModelServer([openaiChat]);
});
after(async () => {
  await server.close();
});

test("protocol openai-chat - streams a function call", async () => {
  server.register("q1", {
    cwd: CWD,
    seed: 1,
    thinkMs: [0, 0],
    summary: "All done.",
    steps: [{ step: { tool: "shell", command: "ls -la" } }],
  });
  const body = {
    model: "qwen3-coder-plus",
    messages: QWEN_OPENING,
    tools: QWEN_TOOLS,
    max_tokens: 32768,
    stream: true,
    stream_options: { include_usage: true },
  };
  const reply = await streamed(await post(server.baseUrl("q1"), body));
  assert.equal(reply.finish, "tool_calls");
  assert.equal(reply.calls.length, 1);
  const [call] = reply.calls;
  assert.equal(call?.name, "run_shell_command");
  assert.match(call?.id ?? "", /^call_vgl0x/);
  assert.deepEqual(JSON.parse(call?.arguments ?? ""), {
    command: "ls -la",
    description: "ls -la",
  });
  assert.ok(reply.content.length > 0, "narration before the call");
  assert.deepEqual(Object.keys(reply.usage as object).sort(), [
    "completion_tokens",
    "prompt_tokens",
    "total_tokens",
  ]);
});

test("protocol openai-chat - records the tool result's exit code, then the next step", async () => {
  server.register("q2", {
    cwd: CWD,
    seed: 2,
    thinkMs: [0, 0],
    summary: "All done.",
    steps: [
      { step: { tool: "shell", command: "false" } },
      { step: { tool: "read", path: "a.js" } },
    ],
  });
  const first = await streamed(
    await post(server.baseUrl("q2"), {
      model: "m",
      messages: QWEN_OPENING,
      tools: QWEN_TOOLS,
      stream: true,
    }),
  );
  assert.equal(first.usage, undefined, "no usage chunk unless asked for");
  const call = first.calls[0] as Call;
  const messages = [
    ...QWEN_OPENING,
    {
      role: "assistant",
      content: first.content,
      tool_calls: [
        { id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } },
      ],
    },
    {
      role: "tool",
      tool_call_id: call.id,
      content: [
        { type: "text", text: "Command: false\nOutput: (empty)\nExit Code: 1\nSignal: (none)" },
      ],
    },
  ];
  const second = await streamed(
    await post(server.baseUrl("q2"), { model: "m", messages, tools: QWEN_TOOLS, stream: true }),
  );
  assert.equal(second.calls[0]?.name, "read_file");
  assert.deepEqual(JSON.parse(second.calls[0]?.arguments ?? ""), { file_path: `${CWD}/a.js` });
  const step = server.log("q2").steps[0];
  assert.equal(step?.tool, "run_shell_command");
  assert.equal(step?.ok, false);
  assert.equal(step?.exitCode, 1);
});

test("protocol openai-chat - opencode: a title request is a side request, results reported on stdout", async () => {
  server.register("o1", {
    cwd: CWD,
    seed: 3,
    thinkMs: [0, 0],
    summary: "All done.",
    steps: [
      { step: { tool: "shell", command: "make test" } },
      { step: { tool: "write", path: "b.js", content: "export const b = 3;\n" } },
    ],
  });
  const user = { role: "user", content: "Work through the tasks" };
  const title = await streamed(
    await post(server.baseUrl("o1"), {
      model: "scripted-1",
      messages: [{ role: "system", content: "You are a title generator." }, user],
      stream: true,
    }),
  );
  assert.equal(title.finish, "stop");
  assert.equal(title.calls.length, 0);
  assert.ok(title.content.length > 0);

  // Not streamed: one chat.completion with the message's tool_calls.
  const res = await post(server.baseUrl("o1"), {
    model: "scripted-1",
    messages: [{ role: "system", content: "You are opencode." }, user],
    tools: OPENCODE_TOOLS,
    tool_choice: "auto",
    stream: false,
  });
  assert.equal(res.status, 200);
  const completion = (await res.json()) as {
    object: string;
    choices: {
      message: { tool_calls: { id: string; function: { name: string; arguments: string } }[] };
      finish_reason: string;
    }[];
  };
  assert.equal(completion.object, "chat.completion");
  const choice = completion.choices[0];
  assert.equal(choice?.finish_reason, "tool_calls");
  const call = choice?.message.tool_calls[0];
  assert.equal(call?.function.name, "bash");
  assert.deepEqual(JSON.parse(call?.function.arguments ?? ""), { command: "make test" });

  // opencode's tool message carries the output only; its exit code comes from its stdout.
  const messages = [
    { role: "system", content: "You are opencode." },
    user,
    {
      role: "assistant",
      content: "",
      tool_calls: [{ id: call?.id, type: "function", function: call?.function }],
    },
    { role: "tool", tool_call_id: call?.id, content: "make: *** No rule to make target 'test'." },
  ];
  const next = await streamed(
    await post(server.baseUrl("o1"), {
      model: "scripted-1",
      messages,
      tools: OPENCODE_TOOLS,
      stream: true,
    }),
  );
  assert.equal(next.calls[0]?.name, "write");
  assert.deepEqual(JSON.parse(next.calls[0]?.arguments ?? ""), {
    filePath: `${CWD}/b.js`,
    content: "export const b = 3;\n",
  });
  assert.equal(server.log("o1").steps[0]?.ok, true, "nothing in the text says it failed");
  server.report("o1", { callId: call?.id ?? "", exitCode: 2, isError: false });
  const log = server.log("o1");
  assert.equal(log.steps[0]?.ok, false);
  assert.equal(log.steps[0]?.exitCode, 2);
  assert.equal(log.sideRequests, 1);
  assert.equal(log.requests, 2);
});
