/**
 * Runs one session: registers the plan with the sandbox's scripted model, starts the agent
 * process (optionally under a wrapper such as `vigil exec`) confined to the sandbox, and
 * collects what it did.
 */
import { spawn } from "node:child_process";
import { dirname, extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Sandbox } from "./sandbox.js";
import type { AttackName, ScenarioAgentType, SessionPlan, ToolCall } from "./types.js";

export interface SessionResult {
  sessionId: string;
  agentType: ScenarioAgentType;
  startedAt: number;
  endedAt: number;
  /** The agent's exit code (0: the model said stop); null if it was killed (timeout). */
  exitCode: number | null;
  /** startedAt: when the agent received its first attack tool call (ms epoch). */
  attack?: { name: AttackName; startedAt: number };
  /** One per executed tool call: when it started, the tool, whether it succeeded. */
  steps: { at: number; name: string; ok: boolean }[];
  /** The end of the agent's stderr (and the wrapper's), for diagnostics. */
  stderr: string;
}

export interface RunOptions {
  /** argv prefix, e.g. ["node", "main.js", "exec", "--socket", S, "--agent-type", T, "--"]. */
  wrap?: string[];
  /** Model think time per turn, ms (default [50, 200]). */
  thinkMs?: [number, number];
  /** Kill the session after this long (default 120 s); exitCode is then null. */
  timeoutMs?: number;
}

const TSX = import.meta.resolve("tsx");
/** The agent next to this module: agent.ts from source, agent.js from a build. */
const AGENT = fileURLToPath(
  new URL(`./agent${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

/** Fills the sandbox's placeholders in; a placeholder left over is a bug in a generator. */
export function resolveSteps(steps: readonly ToolCall[], sandbox: Sandbox): ToolCall[] {
  const values: Record<string, string> = {
    WEB: sandbox.services.web,
    SCRIPTS: sandbox.services.scripts,
    EXFIL_PORT: String(sandbox.services.exfilPort),
    DNS_PORT: String(sandbox.services.dnsPort),
    HOME: sandbox.home,
    TMP: sandbox.tmp,
  };
  return steps.map((s) => {
    const args: Record<string, string> = {};
    for (const [k, v] of Object.entries(s.arguments)) {
      args[k] = v.replace(/\{\{([A-Z_]+)\}\}/g, (m, name: string) => {
        const value = values[name];
        if (value === undefined) throw new Error(`unknown placeholder ${m} in a ${s.name} step`);
        return value;
      });
    }
    return { name: s.name, arguments: args };
  });
}

/** The agent's environment: nothing inherited, everything pointing into the sandbox. */
function agentEnv(sandbox: Sandbox): NodeJS.ProcessEnv {
  return {
    HOME: sandbox.home,
    TMPDIR: sandbox.tmp,
    PATH: `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    LANG: "C.UTF-8",
    SHELL: "/bin/sh",
    TERM: "dumb",
    USER: "agent",
    LOGNAME: "agent",
    GIT_CONFIG_NOSYSTEM: "1",
    NO_COLOR: "1",
    // Node hands NODE_V8_COVERAGE (set by c8 around the tests) to every child process even
    // when the environment is replaced, and each would write coverage files outside the
    // sandbox. Empty stops that.
    NODE_V8_COVERAGE: "",
  };
}

/** SIGKILL to a session's process group (it runs detached); nothing if it is gone. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // gone
  }
}

/**
 * The groups of the sessions running now. A parent that exits mid-session (a Ctrl-C of
 * `vigil demo` or `vigil eval scenarios`) would otherwise leave their `vigil exec` and agent
 * running: they are killed when this process exits.
 */
const runningGroups = new Set<number>();
process.on("exit", () => {
  for (const group of runningGroups) killGroup(group);
});

export async function runSession(
  plan: SessionPlan,
  sandbox: Sandbox,
  o: RunOptions = {},
): Promise<SessionResult> {
  const steps = resolveSteps(plan.steps, sandbox);
  sandbox.llm.register(plan.sessionId, {
    steps,
    seed: plan.seed,
    thinkMs: o.thinkMs ?? [50, 200],
    summary: `Finished ${plan.tasks} tasks.`,
  });
  const cwd = sandbox.workspace(plan.agentType);
  const argv = [
    ...(o.wrap ?? []),
    process.execPath,
    "--import",
    TSX,
    AGENT,
    "--llm",
    sandbox.services.llm,
    "--session",
    plan.sessionId,
    "--root",
    sandbox.root,
    "--agent-type",
    plan.agentType,
  ];
  const startedAt = Date.now();
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd,
    env: agentEnv(sandbox),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const result: SessionResult = {
    sessionId: plan.sessionId,
    agentType: plan.agentType,
    startedAt,
    endedAt: startedAt,
    exitCode: null,
    steps: [],
    stderr: "",
  };
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    result.stderr = (result.stderr + d.toString()).slice(-8000);
  });
  const pid = child.pid;
  if (pid !== undefined) runningGroups.add(pid);
  const killSession = () => {
    if (pid !== undefined) killGroup(pid);
  };
  const timer = setTimeout(killSession, o.timeoutMs ?? 120_000);
  const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on("error", (error) => resolve({ code: null, error }));
    child.on("close", (code) => resolve({ code }));
  });
  clearTimeout(timer);
  killSession(); // anything the session left running in its group
  if (pid !== undefined) runningGroups.delete(pid);
  result.endedAt = Date.now();
  result.exitCode = exit.code;
  if (exit.error) result.stderr += `\n${exit.error.message}`;
  for (const line of out.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const s = JSON.parse(line) as { at: number; name: string; ok: boolean };
      result.steps.push({ at: s.at, name: s.name, ok: s.ok });
    } catch {
      // a wrapper's own output
    }
  }
  const handed = plan.attack && sandbox.llm.progress(plan.sessionId).handedOut[plan.attack.atStep];
  if (plan.attack && handed !== undefined) {
    result.attack = { name: plan.attack.name, startedAt: handed };
  }
  sandbox.llm.forget(plan.sessionId);
  return result;
}
