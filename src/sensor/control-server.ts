/**
 * The sensor's local control socket: `vigil exec` asks it to track a process. One JSON object
 * per line each way. The socket is created mode 0600 in a root-owned directory, so only root
 * can ask the sensor to track (or learn about) anything.
 */
import { chmod, mkdir, rm } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { AGENT_ID, AGENT_TYPE } from "../contracts/index.js";
import { isVigilError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";

export interface ControlHandler {
  track(
    pid: number,
    agentType: string,
    agentId?: string,
    fresh?: boolean,
  ): Promise<{ instance: number; agentId: string }>;
  status(): unknown;
}

export interface ControlRequest {
  op: "track" | "status";
  pid?: number;
  agentType?: string;
  agentId?: string;
  /** The process was stopped before its exec and has no children yet. */
  fresh?: boolean;
}

const MAX_LINE = 64 * 1024;

export class ControlServer {
  private constructor(
    private readonly server: Server,
    readonly path: string,
  ) {}

  static async open(path: string, handler: ControlHandler, logger: Logger): Promise<ControlServer> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await rm(path, { force: true }); // a stale socket from a sensor that did not stop cleanly
    const server = createServer((sock) => serve(sock, handler, logger));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => resolve());
    });
    await chmod(path, 0o600);
    return new ControlServer(server, path);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}

function serve(sock: Socket, handler: ControlHandler, logger: Logger): void {
  let buf = "";
  sock.setEncoding("utf8");
  sock.on("error", () => {});
  sock.on("data", (chunk: string) => {
    buf += chunk;
    if (buf.length > MAX_LINE) {
      reply(sock, { ok: false, code: "VIGIL_ERR_USAGE", error: "request too large" });
      sock.destroy();
      return;
    }
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      void handle(line, handler).then(
        (res) => reply(sock, res),
        (e: unknown) => {
          logger.warn("control request failed", { error: (e as Error).message });
          reply(sock, {
            ok: false,
            code: isVigilError(e) ? e.code : "VIGIL_ERR_TRACK_FAILED",
            error: (e as Error).message,
          });
        },
      );
    }
  });
}

function reply(sock: Socket, value: unknown): void {
  if (!sock.destroyed) sock.write(`${JSON.stringify(value)}\n`);
}

async function handle(line: string, handler: ControlHandler): Promise<unknown> {
  let req: ControlRequest;
  try {
    req = JSON.parse(line) as ControlRequest;
  } catch {
    return { ok: false, code: "VIGIL_ERR_USAGE", error: "request is not JSON" };
  }
  if (req.op === "status") return { ok: true, status: handler.status() };
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
