/**
 * `vigil exec --agent-type T [--agent-id ID] -- cmd...`: runs cmd as a tracked agent. The child
 * stops itself before exec; it continues only once the sensor has tagged it, so nothing the
 * command does escapes the sensor. With no sensor running it refuses to run the command
 * (an agent that silently runs unwatched is worse than one that does not start).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ErrorCodes, VigilError } from "../errors.js";
import { controlRequest } from "../sensor/control-server.js";

const HELP = `usage: vigil exec --agent-type TYPE [--agent-id ID] [--user USER] [--socket PATH] -- command [args...]

Runs the command, and everything it starts, as one tracked agent instance of TYPE.
Needs a running sensor ('vigil sensor' or 'vigil run'), and root or membership of the sensor's
controlGroup (whose members may track only their own processes).

The command runs as the user who invoked sudo (SUDO_UID), or as --user USER (a name or uid),
with that user's groups and no_new_privs: an agent that is root can stop Vigil, detach its
BPF programs and rewrite its models.`;

export interface TargetUser {
  uid: number;
  gid: number;
  name: string;
  home: string;
}

/** A user from /etc/passwd by name or uid. */
export function lookupUser(spec: string, passwd = "/etc/passwd"): TargetUser | undefined {
  for (const line of readFileSync(passwd, "utf8").split("\n")) {
    const f = line.split(":");
    if (f.length < 7) continue;
    if (f[0] === spec || f[2] === spec) {
      return { name: f[0] ?? spec, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? "/" };
    }
  }
  return undefined;
}

/**
 * Who the agent runs as: --user, else the user sudo was invoked by, else the caller.
 * Undefined: the caller, unchanged.
 */
export function targetUser(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  euid: number,
): TargetUser | undefined {
  const spec = flag ?? (euid === 0 && env.SUDO_UID ? env.SUDO_UID : undefined);
  if (spec === undefined) return undefined;
  const user = lookupUser(spec);
  if (!user) {
    throw new VigilError(ErrorCodes.USAGE, `no user ${JSON.stringify(spec)} in /etc/passwd`, {
      hint: "give --user an existing user name or uid",
    });
  }
  if (user.uid !== euid && euid !== 0) {
    throw new VigilError(ErrorCodes.USAGE, `only root can run an agent as ${user.name}`, {
      hint: "run vigil exec with sudo, or drop --user",
    });
  }
  return user.uid === euid ? undefined : user;
}

function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

async function waitStopped(pid: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const s = processState(pid);
    if (s === "T" || s === "t") return;
    if (s === undefined || s === "Z") throw new Error("the command's launcher exited early");
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error("the command's launcher did not stop in time");
}

export async function execCommand(argv: string[]): Promise<number> {
  const dash = argv.indexOf("--");
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const command = dash >= 0 ? argv.slice(dash + 1) : [];
  const { values } = parseArgs({
    args: own,
    options: {
      "agent-type": { type: "string" },
      "agent-id": { type: "string" },
      user: { type: "string" },
      socket: { type: "string", default: "/run/vigil/sensor.sock" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const agentType = values["agent-type"];
  if (!agentType || command.length === 0) {
    throw new VigilError(ErrorCodes.USAGE, "vigil exec needs --agent-type and a command after --", {
      hint: "vigil exec --agent-type coding-agent -- claude",
    });
  }
  const euid = process.geteuid?.() ?? 0;
  const user = targetUser(values.user, process.env, euid);
  if (user === undefined && euid === 0 && values.user === undefined) {
    process.stderr.write(
      "vigil: warning: the agent runs as root and can stop Vigil; run vigil exec through sudo from your account, or pass --user USER\n",
    );
  }
  // setpriv (util-linux) sets the groups, gid and uid, and no_new_privs, in that order, then
  // execs the command: the pid stays the same through every exec.
  const drop = user
    ? [
        "setpriv",
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        "--init-groups",
        "--no-new-privs",
        "--",
      ]
    : [];
  const env = user
    ? { ...process.env, HOME: user.home, USER: user.name, LOGNAME: user.name }
    : process.env;
  // sh stops itself, and execs the command once continued: the pid the sensor tags is the
  // command's own pid.
  const child = spawn(
    "/bin/sh",
    ["-c", 'kill -STOP $$; exec "$@"', "vigil-exec", ...drop, ...command],
    { stdio: "inherit", env },
  );
  const exited = new Promise<number>((resolve) => {
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
  });
  const pid = child.pid;
  try {
    if (pid === undefined) throw new Error("could not start /bin/sh");
    await waitStopped(pid, 5000);
    const res = await controlRequest(values.socket, {
      op: "track",
      pid,
      agentType,
      fresh: true,
      ...(values["agent-id"] ? { agentId: values["agent-id"] } : {}),
    }).catch((cause: NodeJS.ErrnoException) => {
      throw new VigilError(
        ErrorCodes.SENSOR_UNREACHABLE,
        `no sensor answers at ${values.socket} (${cause.code ?? cause.message})`,
        {
          hint: "start it first: sudo vigil sensor (or sudo npm start); vigil exec must run as root or in the group sensor.controlGroup names",
          cause,
        },
      );
    });
    if (res.ok !== true) {
      throw new VigilError(ErrorCodes.TRACK_FAILED, `the sensor refused: ${String(res.error)}`);
    }
    process.stderr.write(`vigil: tracking ${agentType} ${String(res.agentId)} (pid ${pid})\n`);
  } catch (e) {
    child.kill("SIGKILL");
    await exited;
    throw e;
  }
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => child.kill(sig));
  }
  child.kill("SIGCONT");
  return exited;
}

function signalNumber(signal: NodeJS.Signals): number {
  const n: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGKILL: 9,
    SIGTERM: 15,
  };
  return n[signal] ?? 0;
}
