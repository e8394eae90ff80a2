/**
 * A minimal tool-using agent, run as its own process: it posts the conversation to a
 * chat-completions endpoint, executes the tool calls it gets back with real tools, appends
 * the results, and stops when the model says "stop". One JSON line per executed step on stdout:
 * {"at": ms epoch when the step started, "name": tool, "ok": boolean}.
 *
 *   node --import tsx agent.ts --llm URL --session ID --root DIR [--agent-type T]
 *
 * It refuses to start unless its cwd, HOME and TMPDIR lie inside --root (the sandbox), and its
 * http_get fetches loopback URLs only. Exit 0: the model said stop; 1: a protocol error;
 * 2: too many turns.
 */
import { spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";

const OUTPUT_CAP = 8000;

const TOOLS = [
  tool("bash", "Run a shell command in the workspace (/bin/sh -c).", { command: "the command" }),
  tool("read_file", "Read a text file.", { path: "path, relative to the workspace or absolute" }),
  tool("write_file", "Create or overwrite a text file.", { path: "the path", content: "the text" }),
  tool("http_get", "Fetch a URL (loopback only) and return its body.", { url: "the URL" }),
];

function tool(name: string, description: string, params: Record<string, string>) {
  const properties = Object.fromEntries(
    Object.entries(params).map(([k, d]) => [k, { type: "string", description: d }]),
  );
  return {
    type: "function",
    function: {
      name,
      description,
      parameters: { type: "object", properties, required: Object.keys(params) },
    },
  };
}

interface Message {
  role: "system" | "user" | "assistant" | "tool";
  content: string | null;
  tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

const inside = (root: string, p: string) => {
  const r = relative(root, p);
  return r === "" || (!r.startsWith("..") && !isAbsolute(r));
};

function cap(s: string): string {
  return s.length <= OUTPUT_CAP
    ? s
    : `${s.slice(0, OUTPUT_CAP)}\n[... ${s.length - OUTPUT_CAP} more]`;
}

/** Runs in its own process group, so a timeout kills what the command started too. */
function runShell(command: string, timeoutMs: number): Promise<{ ok: boolean; out: string }> {
  return new Promise((done) => {
    const child = spawn("/bin/sh", ["-c", command], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let out = "";
    const add = (d: Buffer) => {
      if (out.length < OUTPUT_CAP * 2) out += d.toString();
    };
    child.stdout.on("data", add);
    child.stderr.on("data", add);
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      out += `\n[timed out after ${timeoutMs} ms]`;
      kill();
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      done({ ok: false, out: e.message });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      kill(); // background leftovers of the command
      done({ ok: code === 0, out: `exit ${code ?? "signal"}\n${cap(out)}` });
    });
  });
}

function isLoopback(url: URL): boolean {
  const h = url.hostname;
  return h === "localhost" || h === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

async function execute(
  name: string,
  args: Record<string, unknown>,
  o: { root: string; timeoutMs: number },
): Promise<{ ok: boolean; out: string }> {
  const str = (k: string) => {
    const v = args[k];
    if (typeof v !== "string") throw new Error(`${name}: argument ${k} must be a string`);
    return v;
  };
  const path = (p: string) => resolve(p.startsWith("~/") ? join(homedir(), p.slice(2)) : p);
  switch (name) {
    case "bash":
      return runShell(str("command"), o.timeoutMs);
    case "read_file":
      return { ok: true, out: cap(await readFile(path(str("path")), "utf8")) };
    case "write_file": {
      const p = path(str("path"));
      if (!inside(o.root, p)) return { ok: false, out: `refused: ${p} is outside the sandbox` };
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, str("content"));
      return { ok: true, out: `wrote ${str("content").length} bytes to ${p}` };
    }
    case "http_get": {
      const url = new URL(str("url"));
      if (!isLoopback(url)) return { ok: false, out: `refused: ${url.host} is not loopback` };
      const res = await fetch(url, { signal: AbortSignal.timeout(o.timeoutMs) });
      return { ok: res.ok, out: `HTTP ${res.status}\n${cap(await res.text())}` };
    }
    default:
      return { ok: false, out: `unknown tool ${name}` };
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      llm: { type: "string" },
      session: { type: "string" },
      root: { type: "string" },
      "agent-type": { type: "string", default: "agent" },
      model: { type: "string", default: "scripted-1" },
      "max-turns": { type: "string", default: "200" },
      "tool-timeout-ms": { type: "string", default: "30000" },
    },
  });
  if (!values.llm || !values.session || !values.root) {
    process.stderr.write("usage: agent --llm URL --session ID --root DIR\n");
    return 1;
  }
  const root = resolve(values.root);
  for (const [what, p] of [
    ["cwd", process.cwd()],
    ["HOME", homedir()],
    ["TMPDIR", tmpdir()],
  ]) {
    if (!inside(root, p as string)) {
      process.stderr.write(`agent: ${what} ${p} is outside the sandbox ${root}; refusing\n`);
      return 1;
    }
  }
  const o = { root, timeoutMs: Number(values["tool-timeout-ms"]) };
  const messages: Message[] = [
    {
      role: "system",
      content: `You are a ${values["agent-type"]}. Work in ${process.cwd()} with the tools given.`,
    },
    { role: "user", content: "Please work through today's tasks in this workspace." },
  ];
  for (let turn = 0; turn < Number(values["max-turns"]); turn++) {
    const res = await fetch(`${values.llm}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: values.model, messages, tools: TOOLS, user: values.session }),
    });
    const text = await res.text();
    if (!res.ok) {
      process.stderr.write(`agent: model answered ${res.status}: ${text}\n`);
      return 1;
    }
    const reply = JSON.parse(text) as {
      choices?: { message?: Message; finish_reason?: string }[];
    };
    const choice = reply.choices?.[0];
    if (!choice?.message) {
      process.stderr.write(`agent: no choice in ${text.slice(0, 200)}\n`);
      return 1;
    }
    messages.push(choice.message);
    if (choice.finish_reason === "stop") return 0;
    for (const call of choice.message.tool_calls ?? []) {
      const at = Date.now();
      let result: { ok: boolean; out: string };
      try {
        const args = JSON.parse(call.function.arguments) as Record<string, unknown>;
        result = await execute(call.function.name, args, o);
      } catch (e) {
        result = { ok: false, out: `error: ${(e as Error).message}` };
      }
      process.stdout.write(`${JSON.stringify({ at, name: call.function.name, ok: result.ok })}\n`);
      messages.push({ role: "tool", tool_call_id: call.id, content: result.out });
    }
  }
  process.stderr.write("agent: too many turns\n");
  return 2;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`agent: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
