/** The Gemini API as Gemini CLI 0.61 calls it: streamed tool calls, results, its JSON side calls. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type ModelServer, startModelServer } from "../../training/agents/model-server.js";
import { geminiApi } from "../../training/agents/protocols/gemini.js";

interface Part {
  text?: string;
  functionCall?: { id?: string; name: string; args: Record<string, unknown> };
}

interface Chunk {
  candidates: { content: { role: string; parts: Part[] }; finishReason?: string; index: number }[];
  usageMetadata: {
    promptTokenCount: number;
    candidatesTokenCount: number;
    totalTokenCount: number;
  };
}

const CWD = "/work/proj";
const MODEL = "gemini-3.8-flash";

// A sanitised Gemini CLI request: some of its tools (JSON schemas in parametersJsonSchema), the
// session context and the user's prompt, its generation config.
const TOOLS = [
  {
    functionDeclarations: [
      {
        name: "run_shell_command",
        description: "This tool executes a given shell command as `bash -c <command>`.",
        parametersJsonSchema: {
          type: "object",
          properties: {
            command: { type: "string", description: "Exact bash command to execute" },
            description: { type: "string" },
            dir_path: { type: "string" },
            is_background: { type: "boolean" },
          },
          required: ["command"],
        },
      },
      {
        name: "read_file",
        description: "Reads and returns the content of a specified file.",
        parametersJsonSchema: {
          type: "object",
          properties: {
            file_path: { type: "string" },
            start_line: { type: "integer", minimum: 1 },
          },
          required: ["file_path"],
        },
      },
      {
        name: "replace",
        description: "Replaces text within a file.",
        parametersJsonSchema: {
          type: "object",
          properties: {
            file_path: { type: "string" },
            instruction: { type: "string" },
            old_string: { type: "string" },
            new_string: { type: "string" },
            allow_multiple: { type: "boolean" },
          },
          required: ["file_path", "instruction", "old_string", "new_string"],
        },
      },
      {
        name: "grep_search",
        description: "Searches for a regular expression pattern within file contents.",
        parametersJsonSchema: {
          type: "object",
          properties: {
            pattern: { type: "string" },
            dir_path: { type: "string" },
            include_pattern: { type: "string" },
          },
          required: ["pattern"],
        },
      },
    ],
  },
];

const OPENING = [
  {
    role: "user",
    parts: [
      {
        text: `<session_context>\nThis is the Gemini CLI.\n- **Workspace Directories:**\n  - ${CWD}\n</session_context>`,
      },
      { text: "Work through the tasks" },
    ],
  },
];

const GENERATION = {
  temperature: 1,
  topP: 0.95,
  topK: 64,
  thinkingConfig: { includeThoughts: true, thinkingLevel: "HIGH" },
};

let server: ModelServer;

before(async () => {
  server = await startModelServer([geminiApi]);
});

after(async () => {
  await server.close();
});

function register(id: string): void {
  server.register(id, {
    cwd: CWD,
    seed: 3,
    thinkMs: [0, 0],
    summary: "All done.",
    steps: [
      { step: { tool: "shell", command: "false" } },
      { step: { tool: "edit", path: "a.js", old: "const a = 1;", new: "const a = 2;" } },
      { step: { tool: "grep", pattern: "export", path: ".", include: "*.js" } },
    ],
  });
}

async function stream(session: string, contents: unknown[]): Promise<Chunk[]> {
  const url = `${server.baseUrl(session)}/v1beta/models/${MODEL}:streamGenerateContent?alt=sse`;
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": "x" },
    body: JSON.stringify({
      contents,
      systemInstruction: { role: "user", parts: [{ text: "You are Gemini CLI." }] },
      tools: TOOLS,
      generationConfig: GENERATION,
    }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  // The SDK reads `data: <json>` records separated by blank lines.
  return (await res.text())
    .split("\n\n")
    .filter((r) => r.trim() !== "")
    .map((r) => {
      assert.ok(r.startsWith("data: "), r);
      return JSON.parse(r.slice("data: ".length)) as Chunk;
    });
}

/** The model turn the chunks make, as the CLI puts it in its history, and the finish reasons. */
function turn(chunks: Chunk[]): { parts: Part[]; finish: (string | undefined)[] } {
  const parts = chunks.flatMap((c) => c.candidates[0]?.content.parts ?? []);
  return { parts, finish: chunks.map((c) => c.candidates[0]?.finishReason) };
}

function callOf(parts: Part[]): NonNullable<Part["functionCall"]> {
  const call = parts.find((p) => p.functionCall)?.functionCall;
  assert.ok(call, "a functionCall part");
  return call;
}

test("protocol gemini - streams a function call", async () => {
  register("stream");
  const chunks = await stream("stream", OPENING);
  const { parts, finish } = turn(chunks);
  // Only the last chunk finishes the turn; the CLI retries a stream without a finish reason.
  assert.deepEqual(
    finish.slice(0, -1),
    finish.slice(0, -1).map(() => undefined),
  );
  assert.equal(finish.at(-1), "STOP");
  assert.ok(parts.some((p) => typeof p.text === "string" && p.text.length > 0));
  const call = callOf(parts);
  assert.equal(call.name, "run_shell_command");
  assert.equal(call.args.command, "false");
  assert.equal(call.args.description, "false");
  assert.match(call.id ?? "", /^vgl0x/);
  const usage = chunks.at(-1)?.usageMetadata;
  assert.ok(usage && usage.totalTokenCount === usage.promptTokenCount + usage.candidatesTokenCount);
  server.forget("stream");
});

test("protocol gemini - records the tool result and hands out the next step", async () => {
  register("result");
  const first = callOf(turn(await stream("result", OPENING)).parts);
  const history = [
    ...OPENING,
    { role: "model", parts: [{ text: "Let me run that." }, { functionCall: first }] },
    {
      role: "user",
      parts: [
        {
          functionResponse: {
            id: first.id,
            name: first.name,
            response: {
              output:
                "<untrusted_context>\nOutput: (empty)\nExit Code: 1\nProcess Group PGID: 4242\n</untrusted_context>",
            },
          },
        },
      ],
    },
  ];
  const second = callOf(turn(await stream("result", history)).parts);
  assert.equal(second.name, "replace");
  assert.deepEqual(second.args, {
    file_path: `${CWD}/a.js`,
    old_string: "const a = 1;",
    new_string: "const a = 2;",
    instruction: "Edit a.js",
  });
  const log = server.log("result");
  assert.equal(log.steps[0]?.tool, "run_shell_command");
  assert.equal(log.steps[0]?.ok, false);
  assert.equal(log.steps[0]?.exitCode, 1);
  assert.equal(log.steps[1]?.tool, "replace");
  assert.equal(log.steps[1]?.resultAt, undefined);

  // A failed tool comes back as response.error; then the grep, then the final text.
  const third = callOf(
    turn(
      await stream("result", [
        ...history,
        { role: "model", parts: [{ functionCall: second }] },
        {
          role: "user",
          parts: [
            {
              functionResponse: {
                id: second.id,
                name: second.name,
                response: { error: "old_string not found" },
              },
            },
          ],
        },
      ]),
    ).parts,
  );
  assert.equal(third.name, "grep_search");
  assert.deepEqual(third.args, { pattern: "export", dir_path: CWD, include_pattern: "*.js" });
  const after = server.log("result");
  assert.equal(after.steps[1]?.ok, false);
  assert.equal(after.steps[1]?.exitCode, undefined);
  assert.equal(after.requests, 3);

  // No step left: the final text, and the turn ends.
  const done = turn(
    await stream("result", [
      ...history,
      { role: "model", parts: [{ functionCall: second }] },
      {
        role: "user",
        parts: [
          { functionResponse: { id: second.id, name: second.name, response: { error: "x" } } },
        ],
      },
      { role: "model", parts: [{ functionCall: third }] },
      {
        role: "user",
        parts: [
          {
            functionResponse: {
              id: third.id,
              name: third.name,
              response: { output: "Found 1 match" },
            },
          },
        ],
      },
    ]),
  );
  assert.equal(done.parts.map((p) => p.text ?? "").join(""), "All done.");
  assert.ok(done.parts.every((p) => p.functionCall === undefined));
  assert.equal(done.finish.at(-1), "STOP");
  assert.equal(server.log("result").steps[2]?.ok, true);
  server.forget("result");
});

test("protocol gemini - counts calls that carry no id", async () => {
  register("noid");
  // The first step handed out, then echoed back without its id, as an API without ids would.
  const { id: _, ...first } = callOf(turn(await stream("noid", OPENING)).parts);
  const history = [
    ...OPENING,
    {
      role: "model",
      parts: [{ functionCall: first }],
    },
    {
      role: "user",
      parts: [
        {
          functionResponse: {
            name: "run_shell_command",
            response: { output: "Output: (empty)\nExit Code: 2" },
          },
        },
      ],
    },
  ];
  const { parts, finish } = turn(await stream("noid", history));
  assert.equal(callOf(parts).name, "replace");
  assert.equal(finish.at(-1), "STOP");
  const log = server.log("noid");
  assert.equal(log.steps[0]?.ok, false);
  assert.equal(log.steps[0]?.exitCode, 2);
  server.forget("noid");
});

test("protocol gemini - answers the CLI's JSON side calls in their schema", async () => {
  register("json");
  const ask = async (schema: unknown): Promise<Record<string, unknown>> => {
    const url = `${server.baseUrl("json")}/v1beta/models/gemini-3.5-flash-lite:generateContent`;
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        contents: OPENING,
        systemInstruction: {
          role: "user",
          parts: [{ text: "You are a specialized Task Routing AI." }],
        },
        generationConfig: {
          ...GENERATION,
          responseMimeType: "application/json",
          responseJsonSchema: schema,
        },
      }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Chunk;
    assert.equal(body.candidates[0]?.finishReason, "STOP");
    const text = body.candidates[0]?.content.parts.map((p) => p.text ?? "").join("") ?? "";
    return JSON.parse(text) as Record<string, unknown>;
  };
  // The model router's schema, in the SDK's upper-case types.
  const routed = await ask({
    type: "OBJECT",
    properties: { complexity_reasoning: { type: "STRING" }, complexity_score: { type: "INTEGER" } },
    required: ["complexity_reasoning", "complexity_score"],
  });
  assert.equal(typeof routed.complexity_reasoning, "string");
  assert.equal(routed.complexity_score, 1);
  const next = await ask({
    type: "object",
    properties: {
      reasoning: { type: "string" },
      next_speaker: { type: "string", enum: ["user", "model"] },
    },
    required: ["reasoning", "next_speaker"],
  });
  assert.equal(next.next_speaker, "user");
  const loop = await ask({
    type: "object",
    properties: {
      unproductive_state_analysis: { type: "string" },
      unproductive_state_confidence: { type: "number" },
    },
  });
  assert.equal(loop.unproductive_state_confidence, 0);
  const log = server.log("json");
  assert.equal(log.sideRequests, 3);
  assert.equal(log.steps.length, 0);
  server.forget("json");
});

test("protocol gemini - a command the CLI refused to run is a failed step, one it ran is not", async () => {
  for (const [id, output, ok] of [
    [
      "refused",
      "Command injection detected: command substitution syntax ($(), backticks, <() or >()) found in command arguments.",
      false,
    ],
    [
      "ran",
      "<untrusted_context>\nOutput: hello\nProcess Group PGID: 7\n</untrusted_context>",
      true,
    ],
  ] as const) {
    register(id);
    const first = callOf(turn(await stream(id, OPENING)).parts);
    await stream(id, [
      ...OPENING,
      { role: "model", parts: [{ functionCall: first }] },
      {
        role: "user",
        parts: [{ functionResponse: { id: first.id, name: first.name, response: { output } } }],
      },
    ]);
    assert.equal(server.log(id).steps[0]?.ok, ok, id);
  }
});
