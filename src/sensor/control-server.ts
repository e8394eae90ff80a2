/**
 * The sensor's local control socket: `vigil exec` asks it to track a process. One JSON object
 * per line each way. A small native process (bpf/build/vigil-control) owns the socket, because
 * it can read SO_PEERCRED and Node cannot: each request arrives with the pid, uid and gid the
 * kernel recorded when the peer connected. Root may track any process; any other peer (a member
 * of `sensor.controlGroup`, when set) only processes whose real and effective uid are its own.
 * The socket is 0600, or root:group 0660 in a 0710 directory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { existsSync } from "node:fs";
import { chmod, chown, lstat, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { AGENT_ID, AGENT_TYPE } from "../contracts/index.js";
import { ErrorCodes, isVigilError, VigilError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";

export interface ControlHandler {
  track(
    pid: number,
    agentType: string,
    agentId?: string,
    fresh?: boolean,
  ): Promise<{ instance: number; agentId: string }>;
  status(): unknown;
  /** Whether the pid already belongs to a tracked instance. */
  isTracked(pid: number): boolean;
}

export interface ControlRequest {
  op: "track" | "status";
  pid?: number;
  agentType?: string;
  agentId?: string;
  /** The process was stopped before its exec and has no children yet. */
  fresh?: boolean;
}

/** Who is asking, as the kernel saw it at connect(2). */
export interface Peer {
  pid: number;
  uid: number;
  gid: number;
}

export interface ControlOptions {
  /** The native socket owner (bpf/build/vigil-control). */
  proxy: string;
  /** A gid whose members may connect (and track their own processes); none when undefined. */
  group?: number;
}

export class ControlServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly path: string,
    private readonly exited: Promise<void>,
  ) {}

  static async open(
    path: string,
    handler: ControlHandler,
    logger: Logger,
    options: ControlOptions,
  ): Promise<ControlServer> {
    if (!existsSync(options.proxy)) {
      throw new VigilError(
        ErrorCodes.HELPER_MISSING,
        `the control socket's owner ${options.proxy} is missing`,
        { hint: "build it with `make -C bpf` (scripts/setup.sh does this)" },
      );
    }
    await prepareDirectory(dirname(path), options.group);
    const args = options.group === undefined ? [path] : [path, String(options.group)];
    const child = spawn(options.proxy, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr = (stderr + d).slice(-2000);
    });
    let up = false;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    // Split on "\n" only (readline would also end a line at "\r"); the proxy refuses control
    // bytes in requests, so a request can never forge the "R <conn> <pid> <uid>" prefix.
    const lines = new EventEmitter();
    let pending = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      pending += d;
      for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
        lines.emit("line", pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    child.stdin?.on("error", (e) =>
      logger.warn("control socket owner's input", { error: e.message }),
    );
    await new Promise<void>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => {
        if (up) {
          if (!stopping.has(child)) logger.error("control socket owner exited", { code, stderr });
          return;
        }
        reject(
          new VigilError(
            ErrorCodes.TRACK_FAILED,
            `the control socket ${path} could not be opened (exit ${code}): ${stderr.trim()}`,
            { hint: "check that its directory is root's and that no other sensor uses it" },
          ),
        );
      });
      lines.once("line", (l: string) => {
        up = l === "ready";
        if (up) resolve();
        else reject(new Error(`control: ${l}`));
      });
    });
    lines.on("line", (line: string) => {
      const m = /^R (\d+) (-?\d+) (\d+) (\d+) (.*)$/s.exec(line);
      if (!m) return;
      const conn = m[1] as string;
      const peer: Peer = { pid: Number(m[2]), uid: Number(m[3]), gid: Number(m[4]) };
      void handle(m[5] as string, peer, handler).then(
        (res) => answer(child, conn, res),
        (e: unknown) => {
          logger.warn("control request failed", { error: (e as Error).message, uid: peer.uid });
          answer(child, conn, {
            ok: false,
            code: isVigilError(e) ? e.code : "VIGIL_ERR_TRACK_FAILED",
            error: (e as Error).message,
          });
        },
      );
    });
    return new ControlServer(child, path, exited);
  }

  async close(): Promise<void> {
    stopping.add(this.child);
    this.child.stdin?.end(); // EOF: it removes the socket and exits
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 2000);
    await this.exited;
    clearTimeout(timer);
  }
}

const stopping = new WeakSet<ChildProcess>();

/** A group name or numeric gid to a gid, through the system's name service. */
export async function resolveGroup(group: string): Promise<number> {
  if (/^[0-9]+$/.test(group)) return Number(group);
  const { execFile } = await import("node:child_process");
  const line = await new Promise<string>((resolve) =>
    execFile("getent", ["group", group], (e, out) => resolve(e ? "" : String(out))),
  );
  const gid = Number(line.split(":")[2]);
  if (!line || !Number.isInteger(gid)) {
    throw new VigilError(ErrorCodes.CONFIG_INVALID, `sensor.controlGroup: no group ${group}`, {
      hint: `create it (groupadd ${group}) or set sensor.controlGroup to an existing group`,
    });
  }
  return gid;
}

/**
 * The socket's directory must be ours and writable by nobody else (sshd's StrictModes): a
 * directory others can write lets them swap the socket for their own.
 */
async function prepareDirectory(dir: string, group: number | undefined): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new VigilError(
      ErrorCodes.UNSAFE_PATH,
      `the control socket's directory ${dir} must be a directory owned by uid ${uid} that no one else can write`,
      { hint: `chown ${uid} ${dir} && chmod go-w ${dir}, or set sensor.controlSocket elsewhere` },
    );
  }
  if (group !== undefined) {
    await chown(dir, uid, group);
    await chmod(dir, 0o710);
  }
}

function answer(child: ChildProcess, conn: string, value: unknown): void {
  if (child.stdin?.writable) child.stdin.write(`${conn} ${JSON.stringify(value)}\n`);
}

/** The real, effective, saved and filesystem uids of a process; undefined when it is gone. */
async function processUids(pid: number): Promise<number[] | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const m = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    return m ? m.slice(1, 5).map(Number) : undefined;
  } catch {
    return undefined;
  }
}

async function handle(line: string, peer: Peer, handler: ControlHandler): Promise<unknown> {
  let req: ControlRequest;
  try {
    req = JSON.parse(line) as ControlRequest;
  } catch {
    return { ok: false, code: "VIGIL_ERR_USAGE", error: "request is not JSON" };
  }
  if (req === null || typeof req !== "object") {
    return { ok: false, code: "VIGIL_ERR_USAGE", error: "request must be a JSON object" };
  }
  const trusted = peer.uid === 0 || peer.uid === process.getuid?.();
  if (req.op === "status") {
    if (trusted) return { ok: true, status: handler.status() };
    return {
      ok: false,
      code: ErrorCodes.FORBIDDEN,
      error: "the sensor's status names every tracked agent: ask as root",
    };
  }
  if (req.op !== "track") return { ok: false, code: "VIGIL_ERR_USAGE", error: "unknown op" };
  if (!Number.isInteger(req.pid) || (req.pid as number) <= 1) {
    return { ok: false, code: "VIGIL_ERR_USAGE", error: "pid must be an integer > 1" };
  }
  if (typeof req.agentType !== "string" || !AGENT_TYPE.test(req.agentType)) {
    return {
      ok: false,
      code: "VIGIL_ERR_USAGE",
      error: "agentType must match /^[a-z0-9][a-z0-9_-]{0,62}$/",
    };
  }
  if (
    req.agentId !== undefined &&
    (typeof req.agentId !== "string" || !AGENT_ID.test(req.agentId))
  ) {
    return {
      ok: false,
      code: "VIGIL_ERR_USAGE",
      error: "agentId must match /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/",
    };
  }
  if (!trusted) {
    // A tracked agent must not re-track itself (or its children) under a type with no model.
    if (handler.isTracked(peer.pid) || handler.isTracked(req.pid as number)) {
      return {
        ok: false,
        code: ErrorCodes.FORBIDDEN,
        error: `pid ${handler.isTracked(peer.pid) ? peer.pid : req.pid} is already a tracked agent's: only root may track it anew`,
      };
    }
    const uids = await processUids(req.pid as number);
    if (!uids || uids.some((u) => u !== peer.uid)) {
      return {
        ok: false,
        code: ErrorCodes.FORBIDDEN,
        error: `uid ${peer.uid} may only track its own processes; pid ${req.pid} is ${
          uids ? `uid ${uids[1]}'s` : "gone"
        }`,
      };
    }
  }
  const res = await handler.track(
    req.pid as number,
    req.agentType,
    req.agentId,
    req.fresh === true,
  );
  return { ok: true, ...res };
}

/** Client side: one request, one answer. */
export async function controlRequest(
  path: string,
  req: ControlRequest,
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  const { connect } = await import("node:net");
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from the sensor at ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on("data", (c: string) => {
      buf += c;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      } catch (e) {
        reject(e);
      }
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
