/**
 * Composition root: turns one validated Config into running objects. Nothing below this file
 * reads the environment or a global configuration; each module gets its slice here.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Registry } from "prom-client";
import { EmbeddedNats } from "./bus/embedded-nats.js";
import { NatsBus } from "./bus/nats-bus.js";
import { embeddedUrlFile } from "./cli/nats-flags.js";
import type { Config } from "./config/index.js";
import { ControlServer } from "./sensor/control-server.js";
import { createFileClassifier } from "./sensor/file-class.js";
import { createPrivacy } from "./sensor/privacy.js";
import { createRuleMatcher } from "./sensor/rules.js";
import { type EventSink, Sensor, type WindowSink } from "./sensor/sensor.js";
import { hostArch } from "./sensor/syscall-names.js";
import type { Logger } from "./telemetry/logger.js";
import { type BusMetrics, createBusMetrics, type SensorMetrics } from "./telemetry/metrics.js";

/** The checkout this file belongs to (works from src/ under tsx and from dist/src/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "bpf"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("cannot find Vigil's checkout (package.json next to bpf/)");
}

/** Home directories of people and root, from /etc/passwd, longest first. */
export function detectHomes(passwd = "/etc/passwd"): string[] {
  const homes = new Set<string>(["/root"]);
  try {
    for (const line of readFileSync(passwd, "utf8").split("\n")) {
      const f = line.split(":");
      const uid = Number(f[2]);
      const home = f[5];
      if (home && uid >= 1000 && uid < 65534 && home.startsWith("/home")) homes.add(home);
    }
  } catch {
    // no passwd: /root and the /home/* convention still apply
  }
  try {
    for (const d of readdirSync("/home")) homes.add(`/home/${d}`);
  } catch {
    // no /home
  }
  return [...homes].sort((a, b) => b.length - a.length);
}

export interface RunningBus {
  bus: NatsBus;
  metrics: BusMetrics;
  /** The nats-server this process started, when no URL was configured. */
  embedded: EmbeddedNats | undefined;
  stop(): Promise<void>;
}

/**
 * Connects to the configured NATS, or starts an embedded nats-server on loopback (JetStream
 * data under <dataDir>/nats) and records its URL so that other commands on the host find it.
 */
export async function startBus(
  config: Config,
  logger: Logger,
  registry: Registry,
): Promise<RunningBus> {
  const n = config.nats;
  let embedded: EmbeddedNats | undefined;
  let url = n.url;
  if (!url) {
    const storeDir = join(config.dataDir, "nats");
    embedded = await EmbeddedNats.start({
      storeDir,
      binary: n.embedded.binary,
      maxPayload: n.embedded.maxPayload,
    });
    url = embedded.url;
    await mkdir(storeDir, { recursive: true });
    await writeFile(embeddedUrlFile(config.dataDir), `${url}\n`, { mode: 0o600 });
    logger.info("embedded NATS started", { url, storeDir });
  }
  const metrics = createBusMetrics(registry);
  let bus: NatsBus;
  try {
    bus = await NatsBus.open(
      {
        servers: url.split(",").map((u) => u.trim()),
        ...(n.user ? { user: n.user } : {}),
        ...(n.password ? { password: n.password } : {}),
        ...(n.token ? { token: n.token } : {}),
        ...(n.credsFile ? { credsFile: n.credsFile } : {}),
        ...(n.tls.caFile || n.tls.certFile || n.tls.keyFile
          ? {
              tls: {
                ...(n.tls.caFile ? { caFile: n.tls.caFile } : {}),
                ...(n.tls.certFile ? { certFile: n.tls.certFile } : {}),
                ...(n.tls.keyFile ? { keyFile: n.tls.keyFile } : {}),
              },
            }
          : {}),
        allowAnonymous: n.allowAnonymous,
        name: `vigil@${config.host}`,
        maxMessageBytes: n.maxMessageBytes,
        streams: n.streams,
      },
      metrics,
      logger,
    );
  } catch (e) {
    await embedded?.stop();
    throw e;
  }
  return {
    bus,
    metrics,
    embedded,
    async stop() {
      await bus.close();
      if (embedded) {
        await rm(embeddedUrlFile(config.dataDir), { force: true });
        await embedded.stop();
      }
    },
  };
}

export interface RunningSensor {
  sensor: Sensor;
  control: ControlServer;
  stop(): Promise<void>;
}

export async function startSensor(
  config: Config,
  logger: Logger,
  sink: WindowSink,
  metrics: SensorMetrics,
  events?: EventSink,
): Promise<RunningSensor> {
  const s = config.sensor;
  const homes = s.privacy.homes === "auto" ? detectHomes() : [...s.privacy.homes];
  const privacy = createPrivacy({
    homes,
    extraPatterns: s.privacy.extraPatterns,
    disableBuiltins: s.privacy.disableBuiltins,
  });
  const classify = createFileClassifier({
    homes,
    workspaces: s.workspaces,
    extraSecretGlobs: s.secretGlobs,
  });
  const sensor = await Sensor.open(
    {
      host: config.host,
      arch: hostArch(),
      windowSeconds: s.windowSeconds,
      helper: {
        path: s.helperPath || join(repoRoot(), "bpf", "build", "vigil-bpf"),
        ngram: s.ngram,
        ngramMapEntries: s.ngramMapEntries,
        flowMapEntries: s.flowMapEntries,
        ringbufBytes: s.ringbufBytes,
        reportUntrackedExecs: s.reportUntrackedExecs,
      },
      restart: s.helperRestart,
    },
    {
      logger,
      metrics,
      rules: createRuleMatcher(s.rules),
      sink,
      ...(events ? { events } : {}),
      privacy,
      classify,
    },
  );
  let control: ControlServer;
  try {
    control = await ControlServer.open(
      s.controlSocket,
      {
        track: async (pid, agentType, agentId, fresh) => {
          const i = await sensor.track(pid, agentType, agentId, { fresh: fresh === true });
          return { instance: i.id, agentId: i.agentId };
        },
        status: () => sensor.status(),
      },
      logger,
    );
  } catch (e) {
    await sensor.stop();
    throw e;
  }
  return {
    sensor,
    control,
    async stop() {
      await control.close();
      await sensor.stop();
    },
  };
}
