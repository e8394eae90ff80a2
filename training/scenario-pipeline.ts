/**
 * The real pipeline for the scenario evaluation and the demo: a local Alertmanager, `vigil run`
 * as a child process (embedded NATS, the live eBPF sensor, the scorer; learning mode off, models
 * from a directory the evaluation fills), and a bus connection that records every window and
 * every alert with the time it arrived. Needs root (the sensor), like `vigil run`.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import type { Consumption } from "../src/bus/nats-bus.js";
import { NatsBus } from "../src/bus/nats-bus.js";
import { natsOptionsFromFlags } from "../src/cli/nats-flags.js";
import { statusHeaders } from "../src/cli/status-command.js";
import type { VigilAlert, WindowRecord } from "../src/contracts/index.js";
import { ErrorCodes, VigilError } from "../src/errors.js";
import { freePort } from "../src/free-port.js";
import { createSilentLogger } from "../src/telemetry/logger.js";
import { createBusMetrics } from "../src/telemetry/metrics.js";
import { type LocalAlertmanager, startAlertmanager } from "./local-alertmanager.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));

export interface PipelineOptions {
  /** Scratch directory: data, models, socket. */
  dir: string;
  windowSeconds: number;
  /** Normal windows in a row that resolve an alert (default 3). */
  resolveAfterWindows?: number;
  /**
   * Where the agents live: their HOME is masked as ~ and classified as a home, their
   * workspaces as workspaces, as the sensor does for real users' homes and projects.
   */
  homes?: readonly string[];
  workspaces?: readonly string[];
  log?: (line: string) => void;
}

export interface ReceivedAlert {
  alert: VigilAlert;
  /** When the alert reached the bus (ms epoch). */
  at: number;
}

/** How to run the vigil CLI the way this process runs (compiled, or TypeScript through tsx). */
export function vigilCommand(): string[] {
  const compiled = fileURLToPath(import.meta.url).endsWith(".js");
  return compiled
    ? [process.execPath, join(REPO, "src", "cli", "main.js")]
    : [
        process.execPath,
        "--import",
        import.meta.resolve("tsx"),
        join(REPO, "src", "cli", "main.ts"),
      ];
}

export class VigilPipeline {
  readonly windows: WindowRecord[] = [];
  readonly alerts: ReceivedAlert[] = [];
  private consumers: Consumption[] = [];
  private stderr: () => string = () => "";

  private constructor(
    readonly am: LocalAlertmanager,
    private readonly run: ChildProcess,
    private readonly exited: Promise<number | null>,
    readonly bus: NatsBus,
    readonly socket: string,
    readonly modelsDir: string,
    readonly scorerAddress: string,
    readonly dataDir: string,
  ) {}

  static async start(o: PipelineOptions): Promise<VigilPipeline> {
    if (process.getuid?.() !== 0) {
      throw new VigilError(
        ErrorCodes.USAGE,
        "the scenario evaluation needs root: it runs the eBPF sensor",
        {
          hint: "run it as root (sudo)",
        },
      );
    }
    const log = o.log ?? (() => {});
    const dataDir = join(o.dir, "data");
    const modelsDir = join(o.dir, "models");
    const socket = join(o.dir, "sensor.sock");
    mkdirSync(modelsDir, { recursive: true });
    const am = await startAlertmanager();
    const listen = `127.0.0.1:${await freePort()}`;
    const configFile = join(o.dir, "config.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        sensor: {
          privacy: { homes: ["/root", ...(o.homes ?? [])] },
          workspaces: [...(o.workspaces ?? [])],
        },
      }),
    );
    const env = {
      ...process.env,
      VIGIL_CONFIG: configFile,
      VIGIL_DATA_DIR: dataDir,
      VIGIL_SENSOR_CONTROL_SOCKET: socket,
      VIGIL_SENSOR_WINDOW_SECONDS: String(o.windowSeconds),
      VIGIL_SCORER_MODELS_DIR: modelsDir,
      VIGIL_SCORER_HTTP_LISTEN: listen,
      VIGIL_SCORER_ALERTMANAGER_URLS: am.url,
      VIGIL_SCORER_LEARNING_ENABLED: "false",
      VIGIL_SCORER_RELOAD_INTERVAL_MS: "500",
      VIGIL_SCORER_ALERTS_RESOLVE_AFTER_WINDOWS: String(o.resolveAfterWindows ?? 3),
      VIGIL_LOG_LEVEL: "warn",
    };
    const [cmd, ...args] = vigilCommand();
    const run = spawn(cmd as string, [...args, "run"], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    run.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8000);
    });
    const exited = new Promise<number | null>((r) => run.on("exit", (code) => r(code)));
    // If this process exits first (an error, Ctrl-C), vigil run still stops its sensor and NATS.
    const stopOnExit = () => run.kill("SIGINT");
    process.once("exit", stopOnExit);
    void exited.then(() => process.off("exit", stopOnExit));
    const urlFile = join(dataDir, "nats", "url");
    const deadline = Date.now() + 60_000;
    let gone = false;
    void exited.then(() => {
      gone = true;
    });
    while (!(existsSync(urlFile) && existsSync(socket))) {
      if (gone || Date.now() > deadline) {
        run.kill("SIGKILL");
        await am.stop();
        throw new VigilError(ErrorCodes.USAGE, `vigil run did not start: ${stderr.slice(-2000)}`, {
          hint: "check that 'sudo npm start' works on this machine",
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // The evaluation reads what the pipeline did: the admin user of the run's own server.
    const bus = await NatsBus.open(
      natsOptionsFromFlags({}, { dataDir, role: "admin" }),
      createBusMetrics(new Registry()),
      createSilentLogger(),
    );
    const p = new VigilPipeline(am, run, exited, bus, socket, modelsDir, listen, dataDir);
    p.stderr = () => stderr;
    const tag = `${process.pid}-${Date.now()}`;
    p.consumers.push(
      await bus.consume("window", { durable: `vigil-eval-w-${tag}` }, async (w) => {
        p.windows.push(w);
      }),
      await bus.consume("alert", { durable: `vigil-eval-a-${tag}` }, async (a) => {
        p.alerts.push({ alert: a, at: Date.now() });
      }),
    );
    log(
      `pipeline up: vigil run (window ${o.windowSeconds} s), Alertmanager ${am.url}, scorer ${listen}`,
    );
    return p;
  }

  /** argv prefix that starts a command as a tracked agent instance. */
  wrap(agentType: string, agentId: string): string[] {
    return [
      ...vigilCommand(),
      "exec",
      "--user",
      "root",
      "--socket",
      this.socket,
      "--agent-type",
      agentType,
      "--agent-id",
      agentId,
      "--",
    ];
  }

  /** The scorer's /status document. */
  async status(): Promise<{
    agentTypes: Record<string, { model: { state: string; version?: string } }>;
  }> {
    const res = await fetch(`http://${this.scorerAddress}/status`, {
      headers: statusHeaders(this.dataDir, this.scorerAddress),
      signal: AbortSignal.timeout(5000),
    });
    return (await res.json()) as {
      agentTypes: Record<string, { model: { state: string; version?: string } }>;
    };
  }

  /** Waits until the scorer has every given type's model active. */
  async waitForModels(types: readonly string[], timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status();
      const missing = types.filter((t) => s.agentTypes[t]?.model.state !== "active");
      if (missing.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(
          `the scorer did not load models for ${missing.join(", ")}: ${JSON.stringify(s)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(): Promise<void> {
    for (const c of this.consumers) await c.stop().catch(() => {});
    await this.bus.close();
    this.run.kill("SIGINT");
    const timer = setTimeout(() => this.run.kill("SIGKILL"), 20_000);
    await this.exited;
    clearTimeout(timer);
    await this.am.stop();
  }

  /** The end of vigil run's stderr, for error messages. */
  get runStderr(): string {
    return this.stderr();
  }
}
