/**
 * The README's main job, end to end: `vigil run` (embedded NATS + sensor), an agent started with
 * `vigil exec`, and its windows and events read back from the bus; then a clean shutdown.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Registry } from "prom-client";
import { NatsBus } from "../../src/bus/nats-bus.js";
import { natsOptionsFromFlags } from "../../src/cli/nats-flags.js";
import { statusHeaders } from "../../src/cli/status-command.js";
import type { VigilEvent, WindowRecord } from "../../src/contracts/index.js";
import { freePort } from "../../src/free-port.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { createBusMetrics } from "../../src/telemetry/metrics.js";
import { rootOnly } from "../helpers/root.js";
import { waitFor } from "../helpers/sensor-harness.js";
import { tempDir } from "../helpers/temp-dir.js";
import { CLI, TSX, vigilExecArgv } from "../helpers/vigil-run.js";

async function waitForAsync(pred: () => Promise<boolean>, timeoutMs: number, what: string) {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test(
  "vigil run - an agent's windows and events reach the bus, the scorer learns it; SIGINT stops everything",
  rootOnly(),
  async () => {
    const root = tempDir("vigil-run-");
    const dataDir = join(root, "data");
    const socket = join(root, "sensor.sock");
    const key = join(root, "home", ".ssh", "id_ed25519");
    mkdirSync(join(root, "home", ".ssh"), { recursive: true });
    writeFileSync(key, "not a real key\n");
    const env = {
      ...process.env,
      VIGIL_DATA_DIR: dataDir,
      VIGIL_SENSOR_CONTROL_SOCKET: socket,
      VIGIL_SENSOR_WINDOW_SECONDS: "1",
      VIGIL_HOST: "e2e-host",
      VIGIL_SCORER_MODELS_DIR: join(root, "models"),
      VIGIL_SCORER_HTTP_LISTEN: `127.0.0.1:${await freePort()}`,
    };
    let stderr = "";
    const run: ChildProcess = spawn(process.execPath, ["--import", TSX, CLI, "run"], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    run.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const runExit = new Promise<number | null>((r) => run.on("exit", (code) => r(code)));
    let bus: NatsBus | undefined;
    try {
      const urlFile = join(dataDir, "nats", "url");
      await waitFor(
        () => existsSync(urlFile) && existsSync(socket),
        20_000,
        `vigil run to start: ${stderr}`,
      );
      const url = readFileSync(urlFile, "utf8").trim();
      assert.match(url, /^nats:\/\/127\.0\.0\.1:\d+$/, "the embedded server is on loopback");
      bus = await NatsBus.open(
        natsOptionsFromFlags({}, { dataDir, role: "admin" }),
        createBusMetrics(new Registry()),
        createSilentLogger(),
      );
      const windows: WindowRecord[] = [];
      const events: VigilEvent[] = [];
      const cw = await bus.consume("window", { durable: "e2e-w" }, async (w) => {
        windows.push(w);
      });
      const ce = await bus.consume("event", { durable: "e2e-e" }, async (e) => {
        events.push(e);
      });

      const exec = spawn(
        process.execPath,
        vigilExecArgv(socket, "coding-agent", "e2e", ["sh", "-c", `cat ${key} > /dev/null; true`]),
        { stdio: "ignore", env },
      );
      assert.equal(await new Promise((r) => exec.on("exit", r)), 0, "vigil exec ran the command");

      await waitFor(
        () => windows.some((w) => w.agentId === "e2e" && w.final),
        15_000,
        "the final window",
      );
      await waitFor(
        () => events.some((e) => e.kind === "agent" && e.phase === "ended"),
        15_000,
        "the end event",
      );
      await Promise.all([cw.stop(), ce.stop()]);

      // The scorer runs in the same process: coding-agent has no model, so it is learning.
      const listen = env.VIGIL_SCORER_HTTP_LISTEN;
      const ready = await fetch(`http://${listen}/readyz`);
      assert.equal(ready.status, 200, await ready.text());
      let status: {
        agentTypes: Record<string, { learning?: { state: string; windows: number } }>;
      } = {
        agentTypes: {},
      };
      const anonymous = await fetch(`http://${listen}/status`);
      assert.equal(anonymous.status, 401, "the status needs the bus's access");
      assert.match(await anonymous.text(), /bearer token/);
      const headers = statusHeaders(dataDir, listen as string);
      await waitForAsync(
        async () => {
          status = (await (
            await fetch(`http://${listen}/status`, { headers })
          ).json()) as typeof status;
          return (status.agentTypes["coding-agent"]?.learning?.windows ?? 0) > 0;
        },
        10_000,
        "the scorer learning coding-agent",
      );
      assert.equal(status.agentTypes["coding-agent"]?.learning?.state, "learning");
      const metrics = await (await fetch(`http://${listen}/metrics`)).text();
      assert.match(metrics, /vigil_sensor_windows_total\{agent_type="coding-agent"\} [1-9]/);
      assert.match(
        metrics,
        /vigil_scorer_windows_skipped_total\{agent_type="coding-agent",reason="learning"\} [1-9]/,
      );

      const mine = windows.filter((w) => w.agentId === "e2e");
      assert.ok(mine.every((w) => w.host === "e2e-host" && w.agentType === "coding-agent"));
      const all = mine.flatMap((w) => w.execs.map((e) => e.argv[0]));
      assert.ok(all.includes("cat") && all.includes("sh"), `execs: ${all}`);
      assert.ok(
        mine.some((w) =>
          w.files.some((f) => f.class === "secret" && f.path.endsWith("id_ed25519")),
        ),
      );

      const kinds = events
        .filter((e) => e.agentId === "e2e")
        .map((e) => (e.kind === "agent" ? `agent:${e.phase}` : e.kind));
      assert.equal(kinds[0], "agent:started");
      assert.equal(kinds.at(-1), "agent:ended");
      assert.ok(kinds.includes("exec") && kinds.includes("file"), `events: ${kinds}`);
      const secret = events.find((e) => e.kind === "file");
      assert.ok(secret?.kind === "file" && secret.class === "secret" && secret.op === "read");
    } finally {
      await bus?.close();
      run.kill("SIGINT");
      const code = await Promise.race([
        runExit,
        new Promise((r) => setTimeout(() => r("timeout"), 20_000)),
      ]);
      assert.equal(code, 0, `vigil run stops cleanly on SIGINT: ${stderr.slice(-2000)}`);
      assert.ok(!existsSync(join(dataDir, "nats", "url")), "the URL file is removed");
      assert.ok(!existsSync(socket), "the control socket is removed");
    }
  },
);
