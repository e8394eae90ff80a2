/**
 * One session of a real agent CLI: its settings written into its HOME, its steps registered with
 * the scripted model, the agent started confined (isolation.ts) in its workspace with one
 * headless prompt, and waited for. The agent process is the spawned process itself (unshare,
 * sh, prlimit, setpriv and env each exec the next), so `pid` is the process Vigil's default rules
 * see exec the agent's binary and track as an instance.
 */
import { spawn } from "node:child_process";
import { lchownSync, lstatSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { AgentCli } from "./clis/index.js";
import {
  type Confinement,
  confinedArgv,
  confinedNamespace,
  killNamespace,
  liveNamespaces,
} from "./isolation.js";
import type { ModelServer, SessionLog } from "./model-server.js";
import type { PlannedStep } from "./steps.js";

export interface AgentSessionOptions {
  cli: AgentCli;
  /** The directory holding node_modules/.bin of the agent CLIs (agents/ of this checkout). */
  agentsDir: string;
  server: ModelServer;
  sessionId: string;
  steps: readonly PlannedStep[];
  seed: number;
  thinkMs: readonly [number, number];
  cwd: string;
  home: string;
  confinement: Confinement;
  /** Killed after this long (default 300 s). */
  timeoutMs?: number;
  prompt?: string;
  onStep?: (index: number, event: "handed" | "result") => void;
}

export interface AgentSessionResult {
  sessionId: string;
  agent: string;
  /** The agent's process (the root of the instance Vigil tracks). */
  pid: number | undefined;
  startedAt: number;
  endedAt: number;
  /** null: killed (timeout). */
  exitCode: number | null;
  timedOut: boolean;
  log: SessionLog;
  /** The ends of the agent's output, for diagnostics. */
  stdout: string;
  stderr: string;
}

const KEEP = 8000;

/** The environment every agent gets besides its own variables: nothing from the harness. */
export function baseEnv(home: string, user: string): Record<string, string> {
  return {
    HOME: home,
    USER: user,
    LOGNAME: user,
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    SHELL: "/bin/bash",
    LANG: "C.UTF-8",
    TERM: "dumb",
    TMPDIR: "/tmp",
    GIT_CONFIG_NOSYSTEM: "1",
  };
}

/**
 * Writes `files` (relative to `home`) owned by the agent user. HOME is the agent's: code it ran
 * before (a test's prerequisites) may have planted links there, so root follows none, neither
 * in the directories nor in the file.
 */
export function writeHomeFiles(
  home: string,
  files: Record<string, string>,
  uid: number,
  gid: number,
): void {
  for (const [rel, content] of Object.entries(files)) {
    const path = join(home, rel);
    let dir = home;
    for (const part of dirname(rel)
      .split("/")
      .filter((x) => x && x !== ".")) {
      dir = join(dir, part);
      const st = lstatSync(dir, { throwIfNoEntry: false });
      if (st === undefined) {
        mkdirSync(dir, { mode: 0o700 });
        lchownSync(dir, uid, gid);
      } else if (!st.isDirectory() || st.isSymbolicLink()) {
        throw new Error(`refusing to write ${path}: ${dir} is not a plain directory`);
      }
    }
    rmSync(path, { force: true }); // a link is removed, not followed
    writeFileSync(path, content, { mode: 0o600, flag: "wx" });
    lchownSync(path, uid, gid);
  }
}

export async function runAgentSession(o: AgentSessionOptions): Promise<AgentSessionResult> {
  const { cli, confinement: c } = o;
  const setting = {
    baseUrl: o.server.baseUrl(o.sessionId),
    home: o.home,
    cwd: o.cwd,
    prompt: o.prompt ?? "Please work through today's tasks in this repository.",
  };
  writeHomeFiles(o.home, cli.homeFiles(setting), c.user.uid, c.user.gid);
  o.server.register(o.sessionId, {
    steps: o.steps,
    cwd: o.cwd,
    seed: o.seed,
    thinkMs: o.thinkMs,
    summary: "Done: the tasks are complete.",
    ...(o.onStep ? { onStep: o.onStep } : {}),
  });
  const env = { ...baseEnv(o.home, c.user.name), ...cli.env(setting) };
  const bin = join(o.agentsDir, "node_modules", ".bin", cli.bin);
  const argv = confinedArgv(c, env, [bin, ...cli.args(setting)]);
  const startedAt = Date.now();
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: o.cwd,
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  let line = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout = (stdout + d.toString()).slice(-KEEP);
    if (!cli.outcomeOf) return;
    const lines = (line + d.toString()).split("\n");
    line = lines.pop() ?? "";
    for (const l of lines) {
      const r = cli.outcomeOf(l);
      if (r) o.server.report(o.sessionId, r);
    }
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-KEEP);
  });
  // "exit", not "close": a process that escaped the session's namespace could hold its pipes.
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.on("error", (error) => resolve({ code: null, error }));
    child.on("exit", (code) => resolve({ code }));
  });
  const ns = child.pid === undefined ? undefined : await confinedNamespace(child.pid);
  if (ns) liveNamespaces.add(ns);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killNamespace(ns);
  }, o.timeoutMs ?? 300_000);
  const exit = await exited;
  clearTimeout(timer);
  killNamespace(ns); // what the session left running: background jobs, daemons
  if (ns) liveNamespaces.delete(ns);
  // The output still in the pipes, briefly: nothing left in the namespace holds them now.
  await Promise.race([
    new Promise((r) => child.once("close", r)),
    new Promise((r) => setTimeout(r, 1000)),
  ]);
  child.stdout.destroy();
  child.stderr.destroy();
  const log = o.server.log(o.sessionId);
  o.server.forget(o.sessionId);
  return {
    sessionId: o.sessionId,
    agent: cli.name,
    pid: child.pid,
    startedAt,
    endedAt: Date.now(),
    exitCode: timedOut ? null : exit.code,
    timedOut,
    log,
    stdout,
    stderr: exit.error ? `${stderr}\n${exit.error.message}` : stderr,
  };
}
