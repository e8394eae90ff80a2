import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type ModelServer, startModelServer } from "../../training/agents/model-server.js";
import { openaiResponses } from "../../training/agents/protocols/openai-responses.js";

interface Event {
  event: string;
  data: { type: string; sequence_number: number; [k: string]: unknown };
}

interface Item {
  type: string;
  id?: string;
  call_id?: string;
  name?: string;
  arguments?: string;
  input?: string;
  phase?: string;
  content?: { type: string; text: string }[];
}

const CWD = "/work/proj";

// A sanitised Codex 0.171 request: its function and freeform tools, a hosted tool, and the
// developer / environment / user messages it opens a session with.
const TOOLS = [
  {
    type: "function",
    name: "exec_command",
    description:
      "Runs a command in a PTY, returning output or a session ID for ongoing interaction.",
    strict: false,
    parameters: {
      type: "object",
      properties: {
        cmd: { type: "string", description: "Shell command to execute." },
        workdir: { type: "string" },
        tty: { type: "boolean" },
        yield_time_ms: { type: "number" },
      },
      required: ["cmd"],
      additionalProperties: false,
    },
  },
  {
    type: "custom",
    name: "apply_patch",
    description: "The `apply_patch` tool can be used to edit files.",
    format: { type: "grammar", syntax: "lark", definition: "start: begin_patch hunk+ end_patch" },
  },
  { type: "web_search", external_web_access: true },
];

const OPENING = [
  { type: "message", role: "developer", content: [{ type: "input_text", text: "You are Codex." }] },
  {
    type: "message",
    role: "user",
    content: [
      {
        type: "input_text",
        text: `<environment_context>\n  <cwd>${CWD}</cwd>\n</environment_context>`,
      },
    ],
  },
  {
    type: "message",
    role: "user",
    content: [{ type: "input_text", text: "Work through the tasks" }],
  },
];

function request(input: unknown[], extra: Record<string, unknown> = {}) {
  return {
    model: "gpt-5.5",
    stream: true,
    input,
    tools: TOOLS,
    tool_choice: "auto",
    parallel_tool_calls: true,
    reasoning: { effort: "medium" },
    store: false,
    include: ["reasoning.encrypted_content"],
    ...extra,
  };
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/v1/responses`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "text/event-stream",
      authorization: "Bearer sk-test",
    },
    body: JSON.stringify(body),
  });
}

/** The server-sent events of a reply, as the Responses API frames them. */
async function events(res: Response): Promise<Event[]> {
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const out: Event[] = [];
  for (const frame of (await res.text()).split("\n\n")) {
    if (frame.trim() === "") continue;
    const event = /^event: (.+)$/m.exec(frame)?.[1];
    const data = /^data: (.+)$/m.exec(frame)?.[1];
    assert.ok(event && data, `malformed frame: ${frame}`);
    out.push({ event, data: JSON.parse(data) });
  }
  out.forEach((e, i) => {
    assert.equal(e.data.type, e.event);
    assert.equal(e.data.sequence_number, i);
  });
  assert.equal(out[0]?.event, "response.created");
  assert.equal(out.at(-1)?.event, "response.completed");
  return out;
}

/** The output items as response.output_item.done gives them. */
function doneItems(evs: Event[]): Item[] {
  return evs.filter((e) => e.event === "response.output_item.done").map((e) => e.data.item as Item);
}

function deltas(evs: Event[], type: string, itemId: string | undefined): string {
  return evs
    .filter((e) => e.event === type && e.data.item_id === itemId)
    .map((e) => String(e.data.delta))
    .join("");
}

let server: ModelServer;
before(async () => {
  server = await startModelServer([openaiResponses]);
});
after(async () => {
  await server.close();
});

test("protocol openai-responses - streams a function call, then a custom tool call, then the final text", async () => {
  server.register("t1", {
    cwd: CWD,
    seed: 3,
    thinkMs: [0, 0],
    summary: "All done.",
    steps: [
      { step: { tool: "shell", command: "false" } },
      { step: { tool: "edit", path: "a.js", old: "const a = 1;", new: "const a = 2;" } },
    ],
  });
  const url = server.baseUrl("t1");

  const first = await events(await post(url, request(OPENING)));
  const [narration, call] = doneItems(first);
  assert.equal(narration?.type, "message");
  assert.equal(narration?.phase, "commentary");
  assert.equal(call?.type, "function_call");
  assert.equal(call?.name, "exec_command");
  assert.deepEqual(JSON.parse(call?.arguments ?? ""), { cmd: "false" });
  assert.equal(deltas(first, "response.function_call_arguments.delta", call?.id), call?.arguments);
  assert.match(call?.call_id ?? "", /^call_vgl0x/);
  const completed = first.at(-1)?.data.response as {
    status: string;
    output: Item[];
    usage: object;
  };
  assert.equal(completed.status, "completed");
  assert.deepEqual(completed.output, doneItems(first));
  assert.ok(completed.usage);

  // Codex sends the whole history back, with the command's output and its exit code.
  const history = [
    ...OPENING,
    narration,
    {
      type: "function_call",
      id: call?.id,
      name: call?.name,
      arguments: call?.arguments,
      call_id: call?.call_id,
    },
    {
      type: "function_call_output",
      call_id: call?.call_id,
      output:
        "Chunk ID: 1a2b3c\nWall time: 0.0000 seconds\nProcess exited with code 1\nOriginal token count: 0\nOutput:\n",
    },
  ];
  const second = await events(await post(url, request(history)));
  assert.equal(server.log("t1").steps[0]?.ok, false);
  assert.equal(server.log("t1").steps[0]?.exitCode, 1);
  const patch = doneItems(second).find((i) => i.type === "custom_tool_call");
  assert.equal(patch?.name, "apply_patch");
  assert.equal(
    patch?.input,
    "*** Begin Patch\n*** Update File: /work/proj/a.js\n@@\n-const a = 1;\n+const a = 2;\n*** End Patch\n",
  );
  assert.equal(deltas(second, "response.custom_tool_call_input.delta", patch?.id), patch?.input);

  const third = await events(
    await post(
      url,
      request([
        ...history,
        {
          type: "custom_tool_call",
          id: patch?.id,
          call_id: patch?.call_id,
          name: "apply_patch",
          input: patch?.input,
        },
        {
          type: "custom_tool_call_output",
          call_id: patch?.call_id,
          output:
            "Exit code: 0\nWall time: 0 seconds\nOutput:\nSuccess. Updated the following files:\nM /work/proj/a.js\n",
        },
      ]),
    ),
  );
  const log = server.log("t1");
  assert.equal(log.steps[1]?.tool, "apply_patch");
  assert.equal(log.steps[1]?.ok, true);
  assert.equal(log.steps[1]?.exitCode, 0);
  const [final] = doneItems(third);
  assert.equal(final?.type, "message");
  assert.equal(final?.phase, "final_answer");
  assert.equal(final?.content?.[0]?.text, "All done.");
  assert.equal(deltas(third, "response.output_text.delta", final?.id), "All done.");
  assert.ok(log.stoppedAt !== undefined);
  assert.equal(log.requests, 3);
});

test("protocol openai-responses - answers a request without stream as one response object", async () => {
  server.register("t2", {
    cwd: CWD,
    seed: 1,
    thinkMs: [0, 0],
    summary: "Done.",
    steps: [{ step: { tool: "read", path: "a.js" } }],
  });
  const res = await post(server.baseUrl("t2"), request(OPENING, { stream: false }));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = (await res.json()) as { object: string; status: string; output: Item[] };
  assert.equal(body.object, "response");
  assert.equal(body.status, "completed");
  const call = body.output.find((i) => i.type === "function_call");
  assert.deepEqual(JSON.parse(call?.arguments ?? ""), { cmd: "sed -n '1,200p' a.js" });
});

test("protocol openai-responses - a request without the shell tool is a side request", async () => {
  server.register("t3", { cwd: CWD, seed: 1, thinkMs: [0, 0], summary: "Done.", steps: [] });
  const evs = await events(await post(server.baseUrl("t3"), { ...request(OPENING), tools: [] }));
  assert.equal(doneItems(evs)[0]?.content?.[0]?.text, "Workspace tasks");
  assert.equal(server.log("t3").sideRequests, 1);
  assert.equal(server.log("t3").requests, 0);
});

test("protocol openai-responses - a body without input is a 400", async () => {
  server.register("t4", { cwd: CWD, seed: 1, thinkMs: [0, 0], summary: "Done.", steps: [] });
  const res = await post(server.baseUrl("t4"), { model: "gpt-5.5", tools: TOOLS });
  assert.equal(res.status, 400);
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /input/);
});
