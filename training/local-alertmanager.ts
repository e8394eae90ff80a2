/**
 * A local Alertmanager (Debian's prometheus-alertmanager) for the scenario evaluation, the demo
 * and integration tests: loopback only,
 * a free port kept across stop()/start(), a temp config with one "null" receiver and short
 * grouping, temp storage, clustering off. Alerts live in its memory: a restart forgets them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../src/free-port.js";

const CANDIDATES = [
  "/usr/bin/prometheus-alertmanager",
  "/usr/local/bin/alertmanager",
  "/usr/bin/alertmanager",
];
const READY_TIMEOUT_MS = 15_000;

/** An alert as GET /api/v2/alerts returns it (the fields tests look at). */
export interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  fingerprint: string;
  status: { state: string };
}

export interface LocalAlertmanager {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** The active alerts (GET /api/v2/alerts: resolved ones are not listed). */
  alerts(): Promise<GettableAlert[]>;
  /** SIGTERM, and waits for the exit. Idempotent. */
  stop(): Promise<void>;
  /** Starts again on the same port (after stop()); resolves once ready. */
  start(): Promise<void>;
}

const CONFIG = `route:
  receiver: "null"
  group_wait: 100ms
  group_interval: 100ms
  repeat_interval: 1h
receivers:
  - name: "null"
`;

const running = new Map<ChildProcess, string>();
// A process that dies (a failed test, Ctrl-C) must not leave Alertmanagers or their files behind.
process.on("exit", () => {
  for (const [c, dir] of running) {
    c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

function findBinary(): string {
  const found = CANDIDATES.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      "Alertmanager not found (prometheus-alertmanager): apt-get install prometheus-alertmanager",
    );
  }
  return found;
}

export async function startAlertmanager(): Promise<LocalAlertmanager> {
  const binary = findBinary();
  const dir = mkdtempSync(join(tmpdir(), "vigil-am-"));
  const configFile = join(dir, "alertmanager.yml");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = "";

  const start = async (): Promise<void> => {
    if (child) return;
    output = "";
    // stop() removes the directory: a restarted Alertmanager starts empty, as a real one does.
    mkdirSync(dir, { recursive: true });
    writeFileSync(configFile, CONFIG);
    const c = spawn(
      binary,
      [
        `--config.file=${configFile}`,
        `--storage.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--cluster.listen-address=",
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-4000);
    };
    c.stdout?.on("data", keep);
    c.stderr?.on("data", keep);
    let gone = false;
    exited = new Promise((resolve) =>
      c.once("exit", () => {
        gone = true;
        running.delete(c);
        resolve();
      }),
    );
    child = c;
    running.set(c, dir);
    const until = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (gone) {
        child = undefined;
        throw new Error(`Alertmanager exited during start:\n${output}`);
      }
      try {
        const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(500) });
        await res.arrayBuffer();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) {
        await stop();
        throw new Error(
          `Alertmanager not ready on ${url} within ${READY_TIMEOUT_MS} ms:\n${output}`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    child = undefined;
    c.kill("SIGTERM");
    const timer = setTimeout(() => c.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    url,
    start,
    async stop() {
      await stop();
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    },
    async alerts() {
      const res = await fetch(`${url}/api/v2/alerts`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) throw new Error(`GET /api/v2/alerts: HTTP ${res.status}`);
      return (await res.json()) as GettableAlert[];
    },
  };
}
