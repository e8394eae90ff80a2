/**
 * The scorer's HTTP endpoints, on loopback by default:
 * - /metrics: Prometheus text from the process's registry;
 * - /healthz: 200 while the process serves requests (liveness);
 * - /readyz: 200 when the bus is connected and no agent type's model is broken, else 503 with
 *   the reasons (a broken type is named, so an operator knows which model to fix);
 * - /status: JSON per agent type (model state, learning progress, activity, last alert), what
 *   `vigil status` prints. It names every agent type and its last alert, so it needs the same
 *   access as the bus: the reader role's password as a bearer token, when the bus has one.
 *
 * A port someone else holds does not stop Vigil: the error names the holder's uid, detection
 * goes on, and the server retries until the port is free.
 */
import { timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { ErrorCodes, VigilError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";

export interface StatusSource {
  /** Per agent type, anything JSON-serialisable. */
  status(): Record<string, unknown>;
  /** Reasons the scorer is not ready; empty when ready. */
  notReady(): string[];
}

export interface HttpOptions {
  /** Required as `Authorization: Bearer <token>` for /status; /status is open without one. */
  statusToken?: string;
  /** When the port is taken: log, keep retrying every this many ms, and do not fail. */
  retryMs?: number;
  logger?: Logger;
}

export class ScorerHttp {
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(
    private readonly server: Server,
    /** Where it listens, or where it will once the port is free (see `bound`). */
    readonly address: string,
    public bound: boolean,
  ) {}

  /** Listens on "host:port" (port 0 picks a free one; `address` says which). */
  static async listen(
    listen: string,
    registry: Registry,
    source: StatusSource,
    options: HttpOptions = {},
  ): Promise<ScorerHttp> {
    const at = listen.lastIndexOf(":");
    const host = listen.slice(0, at).replace(/^\[|\]$/g, "");
    const port = Number(listen.slice(at + 1));
    const token = options.statusToken ? Buffer.from(`Bearer ${options.statusToken}`) : undefined;
    const authorized = (header: string | undefined) => {
      if (!token) return true;
      const got = Buffer.from(header ?? "");
      return got.length === token.length && timingSafeEqual(got, token);
    };
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      const send = (code: number, type: string, body: string) => {
        res.writeHead(code, { "content-type": type, "cache-control": "no-store" });
        res.end(body);
      };
      if (req.method !== "GET" && req.method !== "HEAD") {
        send(405, "text/plain", "method not allowed\n");
        return;
      }
      if (path === "/metrics") {
        registry.metrics().then(
          (text) => send(200, registry.contentType, text),
          (e: unknown) => send(500, "text/plain", `${(e as Error).message}\n`),
        );
      } else if (path === "/healthz") {
        send(200, "text/plain", "ok\n");
      } else if (path === "/readyz") {
        const reasons = source.notReady();
        send(
          reasons.length === 0 ? 200 : 503,
          "text/plain",
          reasons.length === 0 ? "ready\n" : `${reasons.join("\n")}\n`,
        );
      } else if (path === "/status") {
        if (!authorized(req.headers.authorization)) {
          send(
            401,
            "text/plain",
            "the status names every agent: send the bus reader's password as a bearer token (vigil status does, run as the user that runs vigil run)\n",
          );
          return;
        }
        send(200, "application/json", `${JSON.stringify(source.status(), null, 2)}\n`);
      } else {
        send(404, "text/plain", "not found: try /metrics, /healthz, /readyz or /status\n");
      }
    });
    const bind = () =>
      new Promise<void>((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException) => {
          const holder = e.code === "EADDRINUSE" ? listenerUid(host, port) : undefined;
          reject(
            new VigilError(
              ErrorCodes.CONFIG_INVALID,
              `cannot listen on ${listen}: ${e.message}${
                holder === undefined ? "" : ` (held by uid ${holder})`
              }`,
              {
                hint:
                  e.code === "EADDRINUSE"
                    ? "another process uses that port: stop it, or set scorer.http.listen (VIGIL_SCORER_HTTP_LISTEN) to a free host:port"
                    : "set scorer.http.listen (VIGIL_SCORER_HTTP_LISTEN) to a local host:port",
                cause: e,
              },
            ),
          );
        };
        server.once("error", onError);
        server.listen(port, host, () => {
          server.off("error", onError);
          resolve();
        });
      });
    try {
      await bind();
    } catch (e) {
      const busy = ((e as VigilError).cause as NodeJS.ErrnoException | undefined)?.code;
      if (!options.retryMs || busy !== "EADDRINUSE") throw e;
      const log = options.logger;
      log?.error("the scorer's HTTP port is taken; detection goes on, /metrics and /status wait", {
        error: (e as Error).message,
        retryMs: options.retryMs,
      });
      const http = new ScorerHttp(server, listen, false);
      const again = () => {
        http.retry = setTimeout(() => {
          if (http.closed) return;
          bind().then(() => {
            if (http.closed) {
              server.close(); // closed while this bind was in flight
              return;
            }
            http.bound = true;
            log?.info("the scorer's HTTP port is free again: listening", { address: listen });
          }, again);
        }, options.retryMs);
        http.retry.unref();
      };
      again();
      return http;
    }
    const a = server.address() as AddressInfo;
    const shown = a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    return new ScorerHttp(server, shown, true);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The uid that owns a TCP socket listening on host:port in this network namespace, from
 * /proc/net/tcp{,6}; undefined when none is found. Hosts: an IPv4 address (a wildcard or
 * v4-mapped listener counts) or "::1". /proc prints addresses as 32-bit words in host order
 * (little-endian on the machines Vigil runs on).
 */
export function listenerUid(host: string, port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const word = (bytes: number[]) =>
    bytes
      .map((b) => b.toString(16).toUpperCase().padStart(2, "0"))
      .reverse()
      .join("");
  const v4 = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? word(host.split(".").map(Number)) : undefined;
  const wanted = new Set<string>(["00000000", "0".repeat(32)]);
  if (v4) {
    wanted.add(v4);
    wanted.add(`0000000000000000FFFF0000${v4}`);
  } else if (host === "::1") {
    wanted.add("00000000000000000000000001000000");
  } else {
    return undefined;
  }
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== "0A") continue; // LISTEN
      const [addr, p] = (f[1] ?? "").split(":");
      if (p === hexPort && wanted.has(addr ?? "")) return Number(f[7]);
    }
  }
  return undefined;
}
