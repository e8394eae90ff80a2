/**
 * A test's prerequisite checks and cleanup, run the way the Atomic Red Team runner runs them (its
 * dependency executor, `sh -c` or `bash -c`) but outside the agent: confined like the agent
 * (its user, its /tmp, the loopback-only network) and not an agent process, so Vigil does not
 * score them.
 */
import { spawn } from "node:child_process";
import {
  type Confinement,
  confinedArgv,
  confinedNamespace,
  killNamespace,
  liveNamespaces,
} from "../agents/isolation.js";

export interface ConfinedResult {
  /** null: killed after the timeout. */
  exitCode: number | null;
  /** The end of stdout and stderr together. */
  output: string;
}

export async function runConfined(
  c: Confinement,
  env: Readonly<Record<string, string>>,
  shell: "sh" | "bash",
  script: string,
  cwd: string,
  timeoutMs: number,
): Promise<ConfinedResult> {
  const argv = confinedArgv(c, env, [`/bin/${shell}`, "-c", script]);
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd,
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const add = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout.on("data", add);
  child.stderr.on("data", add);
  const exited = new Promise<number | null>((resolve) => {
    child.on("error", (e) => {
      add(Buffer.from(e.message));
      resolve(null);
    });
    child.on("exit", (c) => resolve(c));
  });
  const ns = child.pid === undefined ? undefined : await confinedNamespace(child.pid);
  if (ns) liveNamespaces.add(ns);
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    killNamespace(ns);
  }, timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  killNamespace(ns);
  if (ns) liveNamespaces.delete(ns);
  await Promise.race([
    new Promise((r) => child.once("close", r)),
    new Promise((r) => setTimeout(r, 1000)),
  ]);
  child.stdout.destroy();
  child.stderr.destroy();
  return { exitCode: killed ? null : code, output };
}
