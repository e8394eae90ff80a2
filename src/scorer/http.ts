/**
 * The scorer's HTTP endpoints, on loopback by default:
 * - /metrics: Prometheus text from the process's registry;
 * - /healthz: 200 while the process serves requests (liveness);
 * - /readyz: 200 when the bus is connected and no agent type's model is broken, else 503 with
 *   the reasons (a broken type is named, so an operator knows which model to fix);
 * - /status: JSON per agent type (model state, learning progress, activity, last alert), what
 *   `vigil status` prints.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { ErrorCodes, VigilError } from "../errors.js";

export interface StatusSource {
  /** Per agent type, anything JSON-serialisable. */
  status(): Record<string, unknown>;
  /** Reasons the scorer is not ready; empty when ready. */
  notReady(): string[];
}

export class ScorerHttp {
  private constructor(
    private readonly server: Server,
    readonly address: string,
  ) {}

  /** Listens on "host:port" (port 0 picks a free one; `address` says which). */
  static async listen(
    listen: string,
    registry: Registry,
    source: StatusSource,
  ): Promise<ScorerHttp> {
    const at = listen.lastIndexOf(":");
    const host = listen.slice(0, at).replace(/^\[|\]$/g, "");
    const port = Number(listen.slice(at + 1));
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
        send(200, "application/json", `${JSON.stringify(source.status(), null, 2)}\n`);
      } else {
        send(404, "text/plain", "not found: try /metrics, /healthz, /readyz or /status\n");
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) =>
        reject(
          new VigilError(ErrorCodes.CONFIG_INVALID, `cannot listen on ${listen}: ${e.message}`, {
            hint:
              e.code === "EADDRINUSE"
                ? "another process uses that port: set scorer.http.listen (VIGIL_SCORER_HTTP_LISTEN) to a free host:port"
                : "set scorer.http.listen (VIGIL_SCORER_HTTP_LISTEN) to a local host:port",
            cause: e,
          }),
        ),
      );
      server.listen(port, host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    const shown = a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    return new ScorerHttp(server, shown);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
