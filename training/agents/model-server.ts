/**
 * The scripted model: one loopback HTTP server that speaks each agent's real vendor API
 * (protocols/) and plays a session's steps back as that agent's own tool calls, one per turn,
 * after a seeded think time. Each session has its own base URL (`<url>/s/<id>`), which the
 * agent is pointed at by its documented setting (ANTHROPIC_BASE_URL, a Codex provider, ...).
 *
 * Which step comes next is read from the request, not kept as server state: every tool call
 * the server hands out carries the step's index in its id, so a retried request, a parallel
 * side request (titles, routing, summaries: requests that declare no shell tool) or an agent
 * that replays its history all get the right answer. The result the agent sends back for a
 * step is recorded with its exit code where the agent's text gives one.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { prng } from "../random.js";
import {
  type Answer,
  type Conversation,
  json,
  type Protocol,
  readBody,
  type ToolResult,
} from "./protocol.js";
import { renderStep } from "./render.js";
import type { PlannedStep } from "./steps.js";

export interface ScriptedRun {
  steps: readonly PlannedStep[];
  /** The agent's working directory: relative paths in steps are resolved against it. */
  cwd: string;
  seed: number;
  /** Think time per turn, uniform in [min, max] ms. */
  thinkMs: readonly [number, number];
  /** The final answer. */
  summary: string;
  /** Told when a step is first handed out and when its result first comes back. */
  onStep?: (index: number, event: "handed" | "result") => void;
}

export interface StepRecord {
  /** When the tool call was first handed out (ms epoch). */
  handedAt?: number;
  /** The agent's tool that carried it. */
  tool?: string;
  /** When the agent sent its result back. */
  resultAt?: number;
  /** The agent flagged no error and no non-zero exit code was reported. */
  ok?: boolean;
  exitCode?: number;
  /** The start of the result text. */
  output?: string;
}

export interface SessionLog {
  steps: StepRecord[];
  /** Requests that declared the agent's tools, and the others (titles, routing...). */
  requests: number;
  sideRequests: number;
  /** When the final answer was first given. */
  stoppedAt?: number;
  /** Requests no protocol serves, and request errors: for diagnostics. */
  unknown: string[];
}

/** A tool call's outcome that the agent reports outside its API (on its stdout). */
export interface ReportedOutcome {
  /** The id of the call, as the model server handed it out. */
  callId: string;
  exitCode?: number;
  isError: boolean;
}

export interface ModelServer {
  url: string;
  /** The base URL of a session: `${url}/s/${id}`. */
  baseUrl(id: string): string;
  register(id: string, run: ScriptedRun): void;
  log(id: string): SessionLog;
  /** Completes a step's record with what the agent reported of it, for APIs that do not say. */
  report(id: string, outcome: ReportedOutcome): void;
  forget(id: string): void;
  close(): Promise<void>;
}

const OUTPUT_KEPT = 4000;
const SHELL_TOOLS = ["Bash", "exec_command", "shell_command", "shell", "run_shell_command", "bash"];

const NARRATION: Record<string, string> = {
  shell: "Let me run that.",
  read: "I'll look at the file first.",
  write: "Writing the file now.",
  edit: "Making the change.",
  grep: "Searching the code.",
  glob: "Listing the matching files.",
  fetch: "Fetching the page.",
};

/** The exit code an agent's tool result reports, in the forms the agents use. */
export function exitCodeOf(text: string): number | undefined {
  const m =
    /Process exited with code (-?\d+)/.exec(text) ??
    /\bExit code:? (-?\d+)/i.exec(text) ??
    /"exit_code":\s*(-?\d+)/.exec(text) ??
    /\bexit status (-?\d+)/i.exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function outcome(r: ToolResult): Pick<StepRecord, "ok" | "exitCode" | "output"> {
  const exitCode = exitCodeOf(r.text);
  return {
    ok: !r.isError && (exitCode === undefined || exitCode === 0),
    ...(exitCode === undefined ? {} : { exitCode }),
    output: r.text.slice(0, OUTPUT_KEPT),
  };
}

const STEP_ID = /vgl(\d+)x/;

/** The index of the last step in the history, -1 if none. */
function lastStep(conv: Conversation): { index: number; id?: string } {
  let best: { index: number; id?: string } = { index: -1 };
  for (const id of conv.calls) {
    const m = STEP_ID.exec(id);
    if (m?.[1] !== undefined && Number(m[1]) > best.index) best = { index: Number(m[1]), id };
  }
  // An API without call ids: the count of calls made so far.
  if (best.index < 0 && conv.calls.length > 0) {
    best = { index: conv.calls.length - 1, id: String(conv.calls.length - 1) };
  }
  return best;
}

export async function startModelServer(protocols: readonly Protocol[]): Promise<ModelServer> {
  const sessions = new Map<
    string,
    { run: ScriptedRun; log: SessionLog; reported: Map<number, ReportedOutcome> }
  >();
  const timers = new Set<NodeJS.Timeout>();
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });
  let served = 0;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const m = /^\/s\/([A-Za-z0-9_.-]+)(\/.*)$/.exec(url.pathname);
    const session = m?.[1] === undefined ? undefined : sessions.get(m[1]);
    if (!m || !session) {
      json(res, 404, {
        error: { type: "not_found_error", message: `no session at ${url.pathname}` },
      });
      return;
    }
    const path = m[2] ?? "/";
    const method = req.method ?? "GET";
    const protocol = protocols.find((p) => p.matches(method, path));
    if (!protocol) {
      if (session.log.unknown.length < 50) session.log.unknown.push(`${method} ${path}`);
      json(res, 404, { error: { type: "not_found_error", message: `no route ${method} ${path}` } });
      return;
    }
    let conv: Conversation;
    try {
      conv = protocol.parse(
        JSON.parse(await readBody(req, 32 * 1024 * 1024)),
        path,
        url.searchParams,
      );
    } catch (e) {
      if (session.log.unknown.length < 50)
        session.log.unknown.push(`${path}: ${(e as Error).message}`);
      json(res, 400, { error: { type: "invalid_request_error", message: (e as Error).message } });
      return;
    }
    const { run, log } = session;
    const main = SHELL_TOOLS.some((n) => conv.tools.has(n));
    const responseId = `${m[1]}-${served++}`;
    if (!main) {
      // Titles, topic and routing checks: an agent's helper calls, answered in a word.
      log.sideRequests++;
      protocol.write(res, { kind: "text", text: "Workspace tasks" }, conv, responseId);
      return;
    }
    log.requests++;
    const last = lastStep(conv);
    if (last.index >= 0 && last.id !== undefined) {
      const result = conv.results.get(last.id);
      const rec = log.steps[last.index];
      if (result && rec && rec.resultAt === undefined) {
        Object.assign(rec, { resultAt: Date.now(), ...outcome(result) });
        run.onStep?.(last.index, "result");
      }
    }
    const next = last.index + 1;
    const random = prng((run.seed * 7919 + next * 104729) >>> 0);
    const [lo, hi] = run.thinkMs;
    await sleep(lo + random() * (hi - lo));
    const planned = run.steps[next];
    let answer: Answer;
    if (planned) {
      const call = renderStep(planned.step, conv.tools, run.cwd);
      const rec = log.steps[next] ?? {};
      log.steps[next] = rec;
      if (rec.handedAt === undefined) {
        rec.handedAt = Date.now();
        run.onStep?.(next, "handed");
      }
      rec.tool = call.name;
      const callId = `vgl${next}x${Math.floor(random() * 2 ** 40).toString(36)}`;
      answer = { kind: "tool", callId, call, narration: NARRATION[planned.step.tool] ?? "" };
    } else {
      log.stoppedAt ??= Date.now();
      answer = { kind: "text", text: run.summary };
    }
    protocol.write(res, answer, conv, responseId);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) json(res, 500, { error: { type: "api_error", message: String(e) } });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    baseUrl: (id) => `${url}/s/${id}`,
    register: (id, run) => {
      sessions.set(id, {
        run,
        log: { steps: [], requests: 0, sideRequests: 0, unknown: [] },
        reported: new Map(),
      });
    },
    log: (id) => {
      const s = sessions.get(id);
      if (!s) throw new Error(`no session ${id}`);
      const log = structuredClone(s.log);
      for (const [index, r] of s.reported) {
        const rec = log.steps[index];
        if (!rec) continue;
        if (r.exitCode !== undefined) rec.exitCode = r.exitCode;
        rec.ok = rec.ok !== false && !r.isError && (r.exitCode ?? 0) === 0;
      }
      return log;
    },
    report: (id, outcome) => {
      const index = STEP_ID.exec(outcome.callId)?.[1];
      if (index !== undefined) sessions.get(id)?.reported.set(Number(index), outcome);
    },
    forget: (id) => {
      sessions.delete(id);
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
