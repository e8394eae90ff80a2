/**
 * `npm run bench:scorer`, parts 2 and 3 (described in bench/scorer.ts): detection latency with
 * the live sensor, and the memory of `vigil run` and of `vigil scorer` alone.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { statusHeaders } from "../src/cli/status-command.js";
import { freePort } from "../src/free-port.js";
import { startAlertmanager, type TestAlertmanager } from "../test/helpers/alertmanager.js";
import { CLI, TSX, vigilExecArgv } from "../test/helpers/vigil-run.js";
import {
  childrenRss,
  type Percentiles,
  percentiles,
  rssMiB,
  sleep,
  stopChild,
  track,
  until,
} from "./lib/proc.js";

const HOST = "bench-host";
const E2E_TYPE = "bench-agent";
export const WINDOW_SECONDS = 1;

const now = () => performance.now();
const log = (s: string) => process.stderr.write(`bench:scorer: ${s}\n`);

/** One benign step of the agent: list, read, grep and write in its workspace, then a pause. */
const BENIGN_STEP = `step() {
  ls -la "$W/src" > /dev/null
  cat "$W/src/file$((RANDOM % 8)).txt" > /dev/null
  grep -c line "$W"/src/*.txt > /dev/null
  wc -l "$W/README.md" > /dev/null
  echo "$RANDOM" > "$W/out/$ID.txt"
  sleep 0.$((RANDOM % 3 + 1))
}`;

/** A benign instance: steps for $3 seconds, then ends (agents come and go). */
const BENIGN_SCRIPT = `W="$1"; ID="$2"; end=$((SECONDS + $3))
${BENIGN_STEP}
while [ "$SECONDS" -lt "$end" ]; do step; done`;

/** A trial: $3 benign steps, the anomalous action ($4 = the connect), then benign work. */
const TRIAL_SCRIPT = `W="$1"; ID="$2"
${BENIGN_STEP}
for ((k = 0; k < $3; k++)); do step; done
eval "$4"
cat "$HOME/.ssh/id_rsa" > /dev/null
end=$((SECONDS + 3)); while [ "$SECONDS" -lt "$end" ]; do step; done`;

interface Live {
  root: string;
  env: NodeJS.ProcessEnv;
  socket: string;
  home: string;
  workspace: string;
}

function makeLive(root: string, am: TestAlertmanager, listen: string): Live {
  const home = join(root, "home");
  const workspace = join(root, "workspace");
  mkdirSync(join(home, ".ssh"), { recursive: true });
  writeFileSync(join(home, ".ssh", "id_rsa"), "not a real key\n");
  mkdirSync(join(workspace, "src"), { recursive: true });
  mkdirSync(join(workspace, "out"), { recursive: true });
  writeFileSync(join(workspace, "README.md"), "bench workspace\n".repeat(20));
  for (let i = 0; i < 8; i++) {
    writeFileSync(join(workspace, "src", `file${i}.txt`), `line ${i}\n`.repeat(50 + 30 * i));
  }
  const socket = join(root, "sensor.sock");
  const env = {
    ...process.env,
    HOME: home,
    VIGIL_HOST: HOST,
    VIGIL_DATA_DIR: join(root, "data"),
    VIGIL_SENSOR_CONTROL_SOCKET: socket,
    VIGIL_SENSOR_WINDOW_SECONDS: String(WINDOW_SECONDS),
    VIGIL_SCORER_MODELS_DIR: join(root, "models"),
    VIGIL_SCORER_HTTP_LISTEN: listen,
    VIGIL_SCORER_ALERTMANAGER_URLS: am.url,
    VIGIL_SCORER_LEARNING_MIN_WINDOWS: "240",
    VIGIL_SCORER_LEARNING_MIN_DURATION_SECONDS: "45",
    VIGIL_LOG_LEVEL: "warn",
  };
  return { root, env, socket, home, workspace };
}

function vigilExec(l: Live, id: string, script: string, args: string[]): ChildProcess {
  return track(
    spawn(
      process.execPath,
      vigilExecArgv(l.socket, E2E_TYPE, id, [
        "bash",
        "-c",
        script,
        "bench",
        l.workspace,
        id,
        ...args,
      ]),
      { env: l.env, cwd: l.workspace, stdio: "ignore" },
    ),
  );
}

/** Keeps `wanted` benign instances running, each living 6-12 s. */
function benignAgents(l: Live) {
  const state = { wanted: 0, started: 0 };
  const live = new Set<ChildProcess>();
  const slot = async (k: number) => {
    while (k < state.wanted) {
      const c = vigilExec(l, `benign-${k}-${state.started++}`, BENIGN_SCRIPT, [
        String(6 + Math.floor(Math.random() * 7)),
      ]);
      live.add(c);
      await new Promise((r) => c.once("exit", r));
      live.delete(c);
    }
  };
  return {
    set(n: number) {
      const before = state.wanted;
      state.wanted = n;
      for (let k = before; k < n; k++) void slot(k);
    },
    started: () => state.started,
    async stop() {
      state.wanted = 0;
      await Promise.all([...live].map((c) => stopChild(c)));
    },
  };
}

/** Alerts fired so far by a scorer, from its /metrics. */
async function fires(listen: string): Promise<number> {
  const text = await fetch(`http://${listen}/metrics`)
    .then((r) => r.text())
    .catch(() => "");
  let n = 0;
  for (const m of text.matchAll(/^vigil_scorer_alerts_total\{[^}]*action="fire"[^}]*\} (\d+)/gm)) {
    n += Number(m[1]);
  }
  return n;
}

async function json<T>(url: string, headers: Record<string, string> = {}): Promise<T | undefined> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
    return res.ok ? ((await res.json()) as T) : undefined;
  } catch {
    return undefined;
  }
}

interface TypeStatus {
  model?: { state: string; version?: string };
  learning?: { state: string; windows?: number; progress?: number };
  received?: number;
  scored?: number;
}
type Status = { agentTypes: Record<string, TypeStatus> };

interface Trial {
  agentId: string;
  /** action (listener accept) -> alert listed by Alertmanager, ms */
  latencyMs?: number;
  outcome: "alerted" | "no-alert" | "no-connect";
  /** an alert of this instance was listed before the action (its first windows) */
  alertedBeforeAction?: boolean;
  summary?: string;
  /** Date.now() at the accept, to compare with the alert's windowEnd (same host clock) */
  acceptedWall?: number;
  /** the alert's window_end annotation (ms since the epoch) */
  windowEndWall?: number;
  /** action -> end of the window the alert was raised on, ms */
  toWindowEndMs?: number;
  /** end of that window -> alert listed by Alertmanager, ms */
  afterWindowEndMs?: number;
}

export interface Part2 {
  windowSeconds: number;
  learnSeconds: number;
  model?: { family: string; version: string; threshold: number };
  benignInstances: number;
  anomaly: string;
  trials: Trial[];
  latency: Percentiles;
  toWindowEnd: Percentiles;
  afterWindowEnd: Percentiles;
  targetMs: number;
  /**
   * Benign instances started during the trials; alerts fired (vigil_scorer_alerts_total) during
   * the trials by every instance; trial instances that alerted (before or after the action).
   */
  falseAlarms: { benignInstances: number; firesDuringTrials: number; trialsAlerted: number };
  rss: {
    idleMiB: number;
    afterLearningMiB: number;
    afterTrialsMiB: number;
    childrenIdleMiB: Record<string, number>;
    childrenAfterMiB: Record<string, number>;
    scorerOnlyMiB?: number;
  };
  notes: string[];
}

async function runTrial(l: Live, am: TestAlertmanager, i: number, connect: string) {
  const agentId = `trial-${i}`;
  let acceptedAt: number | undefined;
  let acceptedWall = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    if (acceptedAt === undefined) acceptedWall = Date.now();
    acceptedAt ??= now();
    sock.on("error", () => {});
    sock.end("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  // 14-20 benign steps (about 0.4 s each) first: an alert on the instance's first windows (a
  // new instance's start can look unusual) has resolved before the action, which then lands
  // at a random point of a window
  const pre = String(14 + Math.floor(Math.random() * 7));
  const c = vigilExec(l, agentId, TRIAL_SCRIPT, [pre, connect.replace("PORT", String(port))]);
  const filter = encodeURIComponent(`agent_id="${agentId}"`);
  const url = `${am.url}/api/v2/alerts?filter=${filter}`;
  let trial: Trial = { agentId, outcome: "no-alert" };
  let earlier = false;
  const end = now() + 20_000;
  while (now() < end) {
    const t = now();
    const alerts = await json<{ annotations: Record<string, string> }[]>(url);
    const seen = now();
    // Only an alert on a window that ended after the action is the action's.
    if (alerts && alerts.length > 0 && acceptedAt === undefined) earlier = true;
    const mine = alerts?.find(
      (a) => acceptedAt !== undefined && Date.parse(a.annotations.window_end ?? "") > acceptedWall,
    );
    if (mine && acceptedAt !== undefined) {
      trial = {
        agentId,
        outcome: "alerted",
        latencyMs: seen - acceptedAt,
        summary: mine.annotations.summary ?? "",
        acceptedWall,
        windowEndWall: Date.parse(mine.annotations.window_end ?? ""),
      };
      break;
    }
    await sleep(Math.max(0, 20 - (now() - t)));
  }
  if (trial.outcome === "no-alert" && acceptedAt === undefined) trial.outcome = "no-connect";
  if (earlier) trial.alertedBeforeAction = true;
  await stopChild(c, "SIGTERM", 10_000);
  // Not waiting for close(): a connection whose peer was killed need not end cleanly.
  for (const sock of sockets) sock.destroy();
  server.close();
  return trial;
}

export async function part2(root: string, trials: number): Promise<Part2 | undefined> {
  if (process.getuid?.() !== 0) {
    log("part 2 skipped: the eBPF sensor needs root");
    return undefined;
  }
  const notes: string[] = [];
  const am = await startAlertmanager();
  const listen = `127.0.0.1:${await freePort()}`;
  const l = makeLive(root, am, listen);
  let stderr = "";
  const run = track(
    spawn(process.execPath, ["--import", TSX, CLI, "run"], {
      env: l.env,
      stdio: ["ignore", "ignore", "pipe"],
    }),
  );
  run.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const agents = benignAgents(l);
  const status = () =>
    json<Status>(`http://${listen}/status`, statusHeaders(join(root, "data"), listen));
  try {
    const urlFile = join(root, "data", "nats", "url");
    const up = await until(
      async () => existsSync(urlFile) && existsSync(l.socket) && (await status()) !== undefined,
      60_000,
    );
    if (!up) throw new Error(`vigil run did not start: ${stderr}`);
    await sleep(5000);
    const idleMiB = rssMiB(run.pid as number);
    const childrenIdleMiB = childrenRss(run.pid as number);
    log(`part 2: vigil run up (RSS ${idleMiB.toFixed(0)} MiB); benign agents learning`);

    const learn0 = now();
    agents.set(5);
    let lastLog = 0;
    const learned = await until(
      async () => {
        const t = (
          await json<Status>(`http://${listen}/status`, statusHeaders(join(root, "data"), listen))
        )?.agentTypes[E2E_TYPE];
        if (now() - lastLog > 15_000) {
          lastLog = now();
          log(`  ${JSON.stringify(t?.learning ?? t?.model ?? {})}`);
        }
        return t?.model?.state === "active";
      },
      480_000,
      1000,
    );
    const learnSeconds = (now() - learn0) / 1000;
    if (!learned) throw new Error(`no model for ${E2E_TYPE} after ${learnSeconds} s: ${stderr}`);
    const modelsDir = join(root, "models", E2E_TYPE);
    const version = readFileSync(join(modelsDir, "current"), "utf8").trim();
    const manifest = JSON.parse(readFileSync(join(modelsDir, version, "manifest.json"), "utf8"));
    const model = { family: manifest.family, version, threshold: manifest.threshold };
    log(`  ${model.family} model ${version} active after ${learnSeconds.toFixed(0)} s`);
    agents.set(2);
    await sleep(5000);
    const afterLearningMiB = rssMiB(run.pid as number);

    const nc = ["/usr/bin/nc", "/bin/nc"].find((p) => existsSync(p));
    const connect = nc
      ? `${nc} -w 1 127.0.0.1 PORT < /dev/null > /dev/null`
      : "curl -s -m 2 http://127.0.0.1:PORT/ > /dev/null";
    const anomaly = `${nc ? "nc" : "curl"} to a new loopback port, then read ~/.ssh/id_rsa`;
    if (!nc) notes.push("nc is not installed here: the trials connect with curl");
    const firesBefore = await fires(listen);
    const benignBefore = agents.started();
    const done: Trial[] = [];
    for (let i = 0; i < trials; i++) {
      const t = await runTrial(l, am, i, connect);
      done.push(t);
      log(
        `  trial ${i}: ${t.outcome}${t.latencyMs === undefined ? "" : ` ${t.latencyMs.toFixed(0)} ms`}`,
      );
      await sleep(200 + Math.random() * 800);
    }
    const afterTrialsMiB = rssMiB(run.pid as number);
    const childrenAfterMiB = childrenRss(run.pid as number);
    await agents.stop();
    for (const t of done) {
      if (t.windowEndWall === undefined || t.acceptedWall === undefined) continue;
      if (t.latencyMs === undefined) continue;
      t.toWindowEndMs = t.windowEndWall - t.acceptedWall;
      t.afterWindowEndMs = t.acceptedWall + t.latencyMs - t.windowEndWall;
    }
    const falseAlarms = {
      benignInstances: agents.started() - benignBefore,
      firesDuringTrials: (await fires(listen)) - firesBefore,
      trialsAlerted: done.filter((t) => t.outcome === "alerted" || t.alertedBeforeAction).length,
    };
    const natsUrl = readFileSync(urlFile, "utf8").trim();
    const scorerOnlyMiB = await scorerOnly(root, natsUrl, join(root, "models"));
    const lat = done.flatMap((t) => (t.latencyMs === undefined ? [] : [t.latencyMs]));
    const targetMs = (WINDOW_SECONDS + 1) * 1000;
    return {
      windowSeconds: WINDOW_SECONDS,
      learnSeconds,
      model,
      benignInstances: agents.started(),
      anomaly,
      trials: done,
      latency: percentiles(lat),
      toWindowEnd: percentiles(done.flatMap((t) => t.toWindowEndMs ?? [])),
      afterWindowEnd: percentiles(done.flatMap((t) => t.afterWindowEndMs ?? [])),
      targetMs,
      falseAlarms,
      rss: {
        idleMiB,
        afterLearningMiB,
        afterTrialsMiB,
        childrenIdleMiB,
        childrenAfterMiB,
        ...(scorerOnlyMiB === undefined ? {} : { scorerOnlyMiB }),
      },
      notes,
    };
  } finally {
    await agents.stop();
    await stopChild(run, "SIGINT", 20_000);
    await am.stop();
  }
}

/** `vigil scorer` alone on the same bus and models (own durable, no learning, no Alertmanager). */
async function scorerOnly(root: string, nats: string, models: string) {
  const listen = `127.0.0.1:${await freePort()}`;
  const c = track(
    spawn(
      process.execPath,
      [
        "--import",
        TSX,
        CLI,
        "scorer",
        "--nats",
        nats,
        "--models",
        models,
        "--listen",
        listen,
        "--durable",
        "bench-scorer-only",
      ],
      {
        env: {
          ...process.env,
          VIGIL_DATA_DIR: join(root, "scorer-data"),
          VIGIL_SCORER_LEARNING_ENABLED: "false",
          VIGIL_LOG_LEVEL: "warn",
        },
        stdio: "ignore",
      },
    ),
  );
  try {
    const ok = await until(async () => {
      const t = (
        await json<Status>(
          `http://${listen}/status`,
          statusHeaders(join(root, "scorer-data"), listen),
        )
      )?.agentTypes[E2E_TYPE];
      return (t?.scored ?? 0) > 0;
    }, 60_000);
    if (!ok) return undefined;
    await sleep(5000);
    return rssMiB(c.pid as number);
  } finally {
    await stopChild(c, "SIGINT");
  }
}
