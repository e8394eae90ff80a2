/**
 * A real `vigil run` for tests that attack it: its own data directory, control socket, models
 * and HTTP port under a temporary root, started as the CLI is, stopped with SIGINT.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../src/free-port.js";
import { REPO } from "./build-fixture.js";
import { waitFor } from "./sensor-harness.js";
import { tempDir } from "./temp-dir.js";

export const TSX = import.meta.resolve("tsx");
export const CLI = join(REPO, "src/cli/main.ts");

/**
 * node's argv for `vigil exec` from this checkout: `command` runs as root on purpose (a test's
 * workload), so the user is given and sudo's invoker never is.
 */
export function vigilExecArgv(
  socket: string,
  agentType: string,
  agentId: string | undefined,
  command: string[],
  flags: string[] = ["--user", "root"],
): string[] {
  return [
    "--import",
    TSX,
    CLI,
    "exec",
    ...flags,
    "--socket",
    socket,
    "--agent-type",
    agentType,
    ...(agentId === undefined ? [] : ["--agent-id", agentId]),
    "--",
    ...command,
  ];
}

export interface VigilRun {
  root: string;
  dataDir: string;
  socket: string;
  modelsDir: string;
  listen: string;
  env: NodeJS.ProcessEnv;
  /** The embedded server's URL (from <dataDir>/nats/url). */
  url: string;
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

export interface VigilRunOptions {
  env?: Record<string, string>;
  /** Called with the data directory before `vigil run` starts (plant files there). */
  prepare?: (dataDir: string) => void;
}

/** Starts `vigil run`; resolves once its bus and control socket are up. */
export async function startVigilRun(o: VigilRunOptions = {}): Promise<VigilRun> {
  const root = tempDir("vigil-sec-");
  // Others may traverse the root, as /var/lib is: what protects the bus must be Vigil's own modes.
  chmodSync(root, 0o755);
  const dataDir = join(root, "data");
  const socket = join(root, "run", "sensor.sock");
  const modelsDir = join(root, "models");
  const listen = `127.0.0.1:${await freePort()}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VIGIL_DATA_DIR: dataDir,
    VIGIL_SENSOR_CONTROL_SOCKET: socket,
    VIGIL_SENSOR_WINDOW_SECONDS: "1",
    VIGIL_HOST: "sec-host",
    VIGIL_SCORER_MODELS_DIR: modelsDir,
    VIGIL_SCORER_HTTP_LISTEN: listen,
    ...o.env,
  };
  o.prepare?.(dataDir);
  const child = spawn(process.execPath, ["--import", TSX, CLI, "run"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err = (err + d.toString()).slice(-20_000);
  });
  let gone = false;
  const exited = new Promise<number | null>((r) =>
    child.on("exit", (code) => {
      gone = true;
      r(code);
    }),
  );
  const urlFile = join(dataDir, "nats", "url");
  await waitFor(
    () => gone || (existsSync(urlFile) && existsSync(socket)),
    30_000,
    `vigil run to start: ${err}`,
  );
  const url = gone ? "" : readFileSync(urlFile, "utf8").trim();
  return {
    root,
    dataDir,
    socket,
    modelsDir,
    listen,
    env,
    url,
    child,
    stderr: () => err,
    exited,
    async stop() {
      if (!gone) child.kill("SIGINT");
      const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** The uid and gid of `nobody`: an unprivileged local user. */
export const NOBODY = 65534;

/** Runs a command as an unprivileged user (no groups, no new privileges). */
export function runAsNobody(
  argv: string[],
  o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    "setpriv",
    [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--no-new-privs", "--", ...argv],
    {
      encoding: "utf8",
      timeout: o.timeoutMs ?? 30_000,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", ...o.env },
      cwd: "/",
    },
  );
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}
