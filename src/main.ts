/**
 * Composition root: turns one validated Config into running objects. Nothing below this file
 * reads the environment or a global configuration; each module gets its slice here.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Registry } from "prom-client";
import { ensureBusCredentials, readRoleCredentials, roleAuth } from "./bus/bus-credentials.js";
import { BUS_ROLES, type BusRole, rolePermissions } from "./bus/bus-roles.js";
import { EmbeddedNats } from "./bus/embedded-nats.js";
import { NatsBus, type NatsBusOptions } from "./bus/nats-bus.js";
import { embeddedUrlFile } from "./cli/nats-flags.js";
import type { Config } from "./config/index.js";
import { ControlServer, resolveGroup } from "./sensor/control-server.js";
import { createFileClassifier } from "./sensor/file-class.js";
import { createPathTrust } from "./sensor/path-trust.js";
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
  /**
   * The connection of a role: with the embedded server each role has its own user (its
   * permissions in bus-roles.ts); with a configured server, the one configured connection.
   */
  as(role: ServiceRole): NatsBus;
  metrics: BusMetrics;
  /** The nats-server this process started, when no URL was configured. */
  embedded: EmbeddedNats | undefined;
  stop(): Promise<void>;
}

export type ServiceRole = "sensor" | "scorer";

/** Connection options from the configuration, without servers. */
function configuredAuth(config: Config): Omit<NatsBusOptions, "servers"> {
  const n = config.nats;
  return {
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
    maxMessageBytes: n.maxMessageBytes,
    streams: n.streams,
  };
}

/**
 * A role's user on the embedded server of a `vigil run` on this host, when `url` is that
 * server's and no credentials were configured.
 */
export function localRoleOptions(
  config: Config,
  url: string,
  role: BusRole,
): Partial<NatsBusOptions> {
  const n = config.nats;
  if (n.user || n.token || n.credsFile || n.tls.certFile) return {};
  let local: string | undefined;
  try {
    local = readFileSync(embeddedUrlFile(config.dataDir), "utf8").trim();
  } catch {
    return {};
  }
  if (local !== url) return {};
  const c = readRoleCredentials(config.dataDir, role);
  return c ? roleAuth(role, c) : {};
}

/**
 * Connects to the configured NATS, or starts an embedded nats-server on loopback (JetStream
 * data under <dataDir>/nats) and records its URL so that other commands on the host find it.
 * The embedded server has a user per role and no anonymous access: the admin user makes the
 * streams, then each of `roles` gets a connection of its own.
 */
export async function startBus(
  config: Config,
  logger: Logger,
  registry: Registry,
  roles: readonly ServiceRole[],
): Promise<RunningBus> {
  const n = config.nats;
  const metrics = createBusMetrics(registry);
  const name = `vigil@${config.host}`;
  const open = (o: NatsBusOptions) => NatsBus.open({ name, ...o }, metrics, logger);
  const buses = new Map<ServiceRole, NatsBus>();
  const closeAll = async () => {
    for (const b of new Set(buses.values())) await b.close();
  };
  let embedded: EmbeddedNats | undefined;
  if (!n.url) {
    const storeDir = join(config.dataDir, "nats");
    const creds = await ensureBusCredentials(config.dataDir);
    embedded = await EmbeddedNats.start({
      storeDir,
      binary: n.embedded.binary,
      maxPayload: n.embedded.maxPayload,
      auth: {
        users: BUS_ROLES.map((role) => {
          const permissions = rolePermissions(role);
          return { ...creds[role], ...(permissions ? { permissions } : {}) };
        }),
      },
    });
    const url = embedded.url;
    try {
      const base = { servers: [url], maxMessageBytes: n.maxMessageBytes };
      const admin = await open({ ...base, ...creds.admin, streams: n.streams });
      await admin.close();
      for (const role of roles)
        buses.set(role, await open({ ...base, ...roleAuth(role, creds[role]) }));
      await writeFile(embeddedUrlFile(config.dataDir), `${url}\n`, { mode: 0o600 });
    } catch (e) {
      await closeAll();
      await embedded.stop();
      throw e;
    }
    logger.info("embedded NATS started", { url, storeDir, roles: BUS_ROLES.join(",") });
  } else {
    const servers = n.url.split(",").map((u) => u.trim());
    // A scorer next to a local `vigil run` uses that server's scorer user; else the config's.
    const role = roles.length === 1 ? roles[0] : undefined;
    const local = role && servers.length === 1 ? localRoleOptions(config, n.url.trim(), role) : {};
    const bus = await open({ servers, ...configuredAuth(config), ...local });
    for (const r of roles) buses.set(r, bus);
  }
  return {
    as(role) {
      const b = buses.get(role);
      if (!b) throw new Error(`no bus connection for the ${role} role`);
      return b;
    },
    metrics,
    embedded,
    async stop() {
      await closeAll();
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
  const helperPath = s.helperPath || join(repoRoot(), "bpf", "build", "vigil-bpf");
  const sensor = await Sensor.open(
    {
      host: config.host,
      arch: hostArch(),
      windowSeconds: s.windowSeconds,
      helper: {
        path: helperPath,
        ngram: s.ngram,
        ngramMapEntries: s.ngramMapEntries,
        flowMapEntries: s.flowMapEntries,
        ringbufBytes: s.ringbufBytes,
        reportUntrackedExecs: s.reportUntrackedExecs,
      },
      restart: s.helperRestart,
      maxInstancesPerUid: s.maxInstancesPerUid,
    },
    {
      logger,
      metrics,
      rules: createRuleMatcher(s.rules),
      trust: createPathTrust(s.trustedUids),
      sink,
      ...(events ? { events } : {}),
      privacy,
      classify,
    },
  );
  let control: ControlServer;
  try {
    const group = s.controlGroup === "" ? undefined : await resolveGroup(s.controlGroup);
    control = await ControlServer.open(
      s.controlSocket,
      {
        track: async (pid, agentType, agentId, fresh) => {
          const i = await sensor.track(pid, agentType, agentId, { fresh: fresh === true });
          return { instance: i.id, agentId: i.agentId };
        },
        status: () => sensor.status(),
        isTracked: (pid) => sensor.isTracked(pid),
      },
      logger,
      {
        proxy: join(dirname(helperPath), "vigil-control"),
        ...(group === undefined ? {} : { group }),
      },
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
