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

const HELP = `usage: vigil exec --agent-type TYPE [--agent-id ID] [--socket PATH] -- command [args...]

Runs the command, and everything it starts, as one tracked agent instance of TYPE.
Needs a running sensor ('vigil sensor' or 'vigil run') and root (the sensor's socket is root-only).`;

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
  // sh stops itself, and execs the command once continued: the pid the sensor tags is the
  // command's own pid.
  const child = spawn("/bin/sh", ["-c", 'kill -STOP $$; exec "$@"', "vigil-exec", ...command], {
    stdio: "inherit",
  });
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
          hint: "start it first: sudo vigil sensor (or sudo npm start); vigil exec must run as root",
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
