/**
 * `vigil eval atomics`: real agent CLIs under the live sensor and the real pipeline, attacked by
 * the Atomic Red Team library. For each agent, in its own confined sandbox, concurrently with the
 * other agents:
 * 1. baseline: benign sessions, each found by Vigil's default discovery rules (not `vigil exec`),
 *    their windows kept as captures until the baseline is as big as asked;
 * 2. a model trained on them (`vigil train`'s code), loaded by the running scorer;
 * 3. held out: benign sessions for the false-alarm measure, and one session per runnable test
 *    with the test's command handed to the agent as its own shell tool call between two benign
 *    tasks; prerequisites checked before, cleanup run after (both outside the agent);
 * 4. each session's windows and alerts are kept as it ends (store.ts), so a run resumes.
 * The whole evaluation runs in a network namespace with only loopback (agents/isolation.ts).
 */
import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { WindowRecord } from "../../src/contracts/index.js";
import { type AgentCli, agentCli } from "../agents/clis/index.js";
import { ensureAgentUser } from "../agents/isolation.js";
import { type ModelServer, startModelServer } from "../agents/model-server.js";
import { startNpmRegistry } from "../agents/npm-registry.js";
import { type AgentSessionResult, runAgentSession } from "../agents/run-agent.js";
import { type AgentSandbox, chownTree, createAgentSandbox } from "../agents/sandbox.js";
import { planAgentSession, resolvePlaceholders } from "../agents/workload.js";
import { VigilPipeline } from "../scenario-pipeline.js";
import { startServices } from "../scenarios/services.js";
import { trainModel } from "../train.js";
import { runConfined } from "./confined.js";
import type { RunnableTest, TestPlan } from "./plan.js";
import { hostNames, redirectRemote } from "./redirect.js";
import { resolveTest } from "./resolve.js";
import { type Sinks, type SinkTraffic, startSinks } from "./sinks.js";
import { EvalStore, type SessionRecord, type SkippedRecord } from "./store.js";

export interface AtomicsEvalOptions {
  plan: TestPlan;
  agents: readonly string[];
  /** Where the state (data/) lives; a second run with the same options resumes. */
  dir: string;
  /** Where the agents' sandboxes are built: not a temporary directory (their /tmp is bound). */
  sandboxRoot: string;
  /** The agent CLIs' install directory (agents/ of this checkout). */
  agentsDir: string;
  seed: number;
  windowSeconds: number;
  /** Baseline: at least this many sessions and this many windows per agent. */
  baselineSessions: number;
  baselineWindows: number;
  /** Held-out benign work per agent: at least this many sessions and seconds. */
  benignSessions: number;
  benignSeconds: number;
  /** Benign tasks per session and think time per model turn (ms). */
  tasks: readonly [number, number];
  thinkMs: readonly [number, number];
  targetFar: number;
  sessionTimeoutMs: number;
  /** Agents evaluated at the same time (default: all). */
  parallel?: number;
  log: (line: string) => void;
}

/** The "remote" address: loopback, but not the agents' own 127.0.0.1 (the model, the registry). */
export const REMOTE_ADDRESS = "127.0.0.2";

interface World {
  pipeline: VigilPipeline;
  server: ModelServer;
  sinks: Sinks;
  values: Record<string, string>;
  store: EvalStore;
}

export async function runAtomicsEvaluation(
  o: AtomicsEvalOptions,
): Promise<{ store: EvalStore; failed: Record<string, string> }> {
  const store = new EvalStore(join(o.dir, "data"));
  store.checkOptions({
    // Sets, not sequences: the same agents and tests in another order are the same run.
    agents: [...o.agents].sort(),
    tests: o.plan.runnable.map((t) => t.id).sort(),
    seed: o.seed,
    windowSeconds: o.windowSeconds,
    baselineSessions: o.baselineSessions,
    baselineWindows: o.baselineWindows,
    benignSessions: o.benignSessions,
    benignSeconds: o.benignSeconds,
    tasks: o.tasks,
    thinkMs: o.thinkMs,
    targetFar: o.targetFar,
  });
  const clis = o.agents.map((name) => {
    const cli = agentCli(name);
    if (!cli) throw new Error(`unknown agent ${name}`);
    return cli;
  });
  const sandboxes = new Map<string, AgentSandbox>();
  const removeSandboxes = () => rmSync(o.sandboxRoot, { recursive: true, force: true });
  process.once("exit", removeSandboxes);
  const registry = await startNpmRegistry();
  const services = await startServices(o.seed);
  const sinks = await startSinks({ address: REMOTE_ADDRESS, atomicsDir: o.plan.atomicsDir });
  const stops: (() => Promise<unknown>)[] = [registry.close, services.close, sinks.close];
  try {
    // The evaluation's namespace resolves names through this responder only (isolation.ts).
    await sinks.startDns({ port: 53, address: "127.0.0.1" });
    sinks.dns.answering = false;
    for (const cli of clis) {
      const user = ensureAgentUser(`vigil-eval-${cli.name}`.slice(0, 31));
      const sb = createAgentSandbox({
        root: join(o.sandboxRoot, cli.name),
        user,
        npmRegistry: registry.url,
      });
      sb.reset(o.seed);
      sandboxes.set(cli.name, sb);
    }
    // The pipeline is scratch: a resumed run starts it afresh (its bus would replay the old one).
    rmSync(join(o.dir, "data", "pipeline"), { recursive: true, force: true });
    const pipeline = await VigilPipeline.start({
      dir: join(o.dir, "data", "pipeline"),
      windowSeconds: o.windowSeconds,
      homes: [...sandboxes.values()].map((s) => s.home),
      workspaces: [...sandboxes.values()].flatMap((s) =>
        ["coding", "research", "data"].map((k) => s.workspace(k as "coding")),
      ),
      log: o.log,
    });
    stops.unshift(() => pipeline.stop());
    const server = await startModelServer([...new Set(clis.flatMap((c) => c.protocols))]);
    stops.unshift(server.close);
    const world: World = {
      pipeline,
      server,
      sinks,
      store,
      values: {
        WEB: services.web,
        SCRIPTS: services.scripts,
        EXFIL_PORT: String(services.exfilPort),
        DNS_PORT: String(services.dnsPort),
        TMP: "/tmp",
      },
    };
    const queue = clis.map((cli, i) => ({
      name: cli.name,
      run: () => runAgent(o, world, cli, sandboxes.get(cli.name) as AgentSandbox, i),
    }));
    const lanes = Math.max(1, Math.min(o.parallel ?? queue.length, queue.length));
    // An agent that fails is reported and leaves the others running: the evaluation measures the
    // agents it could, and says which it could not and why.
    const failed: Record<string, string> = {};
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const { name, run } = next;
          await run().catch((e: unknown) => {
            failed[name] = (e as Error).message;
            o.log(`${name}: FAILED: ${(e as Error).message}`);
          });
        }
      }),
    );
    return { store, failed };
  } finally {
    for (const stop of stops) await stop().catch(() => {});
    removeSandboxes();
    process.off("exit", removeSandboxes);
  }
}

async function runAgent(
  o: AtomicsEvalOptions,
  w: World,
  cli: AgentCli,
  sb: AgentSandbox,
  index: number,
): Promise<void> {
  const log = (line: string) => o.log(`${cli.name}: ${line}`);
  const seedOf = (i: number) => o.seed * 10_000_000 + index * 1_000_000 + i;
  const tasks = (seed: number) => o.tasks[0] + (seed % (o.tasks[1] - o.tasks[0] + 1));

  // 1. Baseline. A session's windows are collected once its last one has closed, while the
  // next session already runs.
  let b = w.store.baseline(cli.name);
  let sessions = b.dirs.length;
  let windows = b.windows;
  let collecting: Promise<void> | undefined;
  let failures = 0;
  // Sessions are numbered by attempt: after a failed one, a resumed run goes on past it.
  const first = Math.max(-1, ...b.dirs.map((d) => Number(/-(\d+)$/.exec(d)?.[1] ?? -1))) + 1;
  for (let i = first; sessions < o.baselineSessions || windows < o.baselineWindows; i++) {
    const seed = seedOf(i);
    const r = await session(o, w, cli, sb, {
      id: `${cli.name}-base-${i}`,
      seed,
      tasks: tasks(seed),
    });
    await collecting;
    collecting = (async () => {
      const ws = await windowsOf(o, w, cli, r.result);
      if (ws.length === 0) {
        // Once the rules have found the agent, a session without a window is the agent's failure
        // (it hung, or died at start): said, and the baseline goes on; three in a row stop it.
        failures++;
        const why = `${cli.name}: no window for session ${r.result.sessionId} (pid ${r.result.pid}, exit ${r.result.exitCode}${r.result.timedOut ? ", timed out" : ""}, ${r.result.log.steps.length} steps handed out, ${r.result.log.requests} model requests). Its output: ${`${r.result.stderr}\n${r.result.stdout}`.trim().slice(-1500)}`;
        if (sessions === 0 || failures >= 3) {
          throw new Error(
            sessions === 0 ? `${why}\nVigil's default rules did not find the agent.` : why,
          );
        }
        log(`WARNING ${why}`);
        return;
      }
      failures = 0;
      await w.store.addBaseline(cli.name, r.result.sessionId, ws);
      sessions++;
      windows += ws.length;
      log(
        `baseline session ${sessions}: ${ws.length} windows (${windows} in all), exit ${r.result.exitCode}`,
      );
    })();
    handled(collecting);
    // The first session is checked before going on: an agent the rules miss stops the run early.
    if (i === first) await collecting;
  }
  await collecting;
  b = w.store.baseline(cli.name);

  // 2. Model.
  const model = w.store.modelDir(cli.name);
  if (!existsSync(join(model, "manifest.json"))) {
    rmSync(model, { recursive: true, force: true });
    await trainModel(
      {
        agentType: cli.name,
        dataDirs: b.dirs,
        out: model,
        seed: o.seed,
        minWindows: 50,
        targetFar: o.targetFar,
      },
      (line) => log(`train: ${line}`),
    );
  }
  const live = join(w.pipeline.modelsDir, cli.name, "eval");
  mkdirSync(live, { recursive: true });
  cpSync(model, live, { recursive: true });
  await w.pipeline.waitForModels([cli.name]);
  log("model active in the scorer");

  // 3. Held out, interleaved: benign work keeps pace with the attacked sessions.
  const records = w.store.records(cli.name);
  const done = new Set(records.map((r) => r.id));
  let benign = 0;
  let benignSeconds = 0;
  let nextBenign = 0;
  for (const r of records) {
    if (r.kind !== "benign") continue;
    benign++;
    benignSeconds += (r.endedAt - r.startedAt) / 1000;
  }
  const tests = o.plan.runnable;
  const remaining = tests
    .map((t, i) => ({ t, i }))
    .filter(({ t }) => !done.has(`${cli.name}-${t.id}`));
  const pending: Promise<void>[] = [];
  for (;;) {
    const benignDone = benign >= o.benignSessions && benignSeconds >= o.benignSeconds;
    if (remaining.length === 0 && benignDone) break;
    const attacks = tests.length === 0 ? 1 : (tests.length - remaining.length) / tests.length;
    const progress = Math.min(
      benign / Math.max(1, o.benignSessions),
      benignSeconds / Math.max(1, o.benignSeconds),
    );
    if (!benignDone && (remaining.length === 0 || progress <= attacks)) {
      while (done.has(`${cli.name}-benign-${nextBenign}`)) nextBenign++;
      const id = `${cli.name}-benign-${nextBenign}`;
      const seed = seedOf(500_000 + nextBenign);
      nextBenign++;
      benign++;
      const r = await session(o, w, cli, sb, { id, seed, tasks: tasks(seed) });
      benignSeconds += (r.result.endedAt - r.result.startedAt) / 1000;
      log(
        `${id}: ${((r.result.endedAt - r.result.startedAt) / 1000).toFixed(1)} s, exit ${r.result.exitCode}`,
      );
      pending.push(handled(record(o, w, cli, r, undefined)));
      continue;
    }
    const { t: test, i } = remaining.shift() as { t: RunnableTest; i: number };
    const seed = seedOf(100_000 + i);
    const skipped = await attackSession(
      o,
      w,
      cli,
      sb,
      test,
      `${cli.name}-${test.id}`,
      seed,
      tasks(seed),
      pending,
    );
    if (skipped) {
      w.store.append(skipped);
      log(`${skipped.id}: skipped: ${skipped.reason}`);
    }
  }
  await Promise.all(pending);
}

/** `p`, marked handled: it is awaited later, and must not crash the process before that. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

interface SessionRun {
  result: AgentSessionResult;
  project: SessionRecord["project"];
  seed: number;
  attack?: { test: RunnableTest; atStep: number; rewrites: { from: string; to: string }[] };
}

async function session(
  o: AtomicsEvalOptions,
  w: World,
  cli: AgentCli,
  sb: AgentSandbox,
  s: {
    id: string;
    seed: number;
    tasks: number;
    attack?: { test: RunnableTest; command: string; rewrites: { from: string; to: string }[] };
    /** Told when the attack's step is handed to the agent and when its result comes back. */
    onAttack?: (event: "handed" | "result") => void;
    /** The sandbox is already set (a test's prerequisites were prepared in it). */
    prepared?: boolean;
  },
): Promise<SessionRun> {
  if (!s.prepared) sb.reset(s.seed);
  const plan = planAgentSession({
    seed: s.seed,
    sessionId: s.id,
    tasks: s.tasks,
    ...(s.attack
      ? { attack: { id: s.attack.test.id, steps: [{ tool: "shell", command: s.attack.command }] } }
      : {}),
  });
  const steps = resolvePlaceholders(plan.steps, { ...w.values, HOME: sb.home });
  const result = await runAgentSession({
    cli,
    agentsDir: o.agentsDir,
    server: w.server,
    sessionId: s.id,
    steps,
    seed: s.seed,
    thinkMs: o.thinkMs,
    cwd: sb.workspace(plan.kind),
    home: sb.home,
    confinement: sb.confinement,
    timeoutMs: o.sessionTimeoutMs,
    onStep: (index, event) => {
      if (index === plan.attack?.atStep) s.onAttack?.(event);
    },
  });
  return {
    result,
    project: plan.kind,
    seed: s.seed,
    ...(s.attack && plan.attack
      ? { attack: { test: s.attack.test, atStep: plan.attack.atStep, rewrites: s.attack.rewrites } }
      : {}),
  };
}

/** The test's own technique folder, and any other its commands reach into. */
function techniqueFolders(test: RunnableTest): Set<string> {
  const r = test.resolved;
  const text = [r.command, r.cleanup ?? "", ...r.prereqs.flatMap((p) => [p.check, p.get])].join(
    "\n",
  );
  const folders = new Set([test.technique]);
  const under = `${r.atomicsDir}/`;
  for (let i = text.indexOf(under); i >= 0; i = text.indexOf(under, i + 1)) {
    const m = /^T\d{4}(?:\.\d{3})?/.exec(text.slice(i + under.length));
    if (m) folders.add(m[0]);
  }
  return folders;
}

/** Runs one test in a session; returns the record when it is skipped instead. */
async function attackSession(
  o: AtomicsEvalOptions,
  w: World,
  cli: AgentCli,
  sb: AgentSandbox,
  test: RunnableTest,
  id: string,
  seed: number,
  tasks: number,
  pending: Promise<void>[],
): Promise<SkippedRecord | undefined> {
  sb.reset(seed);
  // The test's own folder, writable as in a user's checkout of the library (tests compile or
  // unpack into it), and the test resolved against it.
  const atomics = join(sb.root, "atomics");
  rmSync(atomics, { recursive: true, force: true });
  for (const t of techniqueFolders(test)) {
    const from = join(o.plan.atomicsDir, t);
    if (existsSync(from)) cpSync(from, join(atomics, t), { recursive: true });
  }
  // Where tests keep what they download (PathToAtomicsFolder/../ExternalPayloads).
  mkdirSync(join(sb.root, "ExternalPayloads"), { recursive: true });
  chownTree(join(sb.root, "ExternalPayloads"), sb.confinement.user.uid, sb.confinement.user.gid);
  chownTree(atomics, sb.confinement.user.uid, sb.confinement.user.gid);
  const resolved = resolveTest(test.resolved.test, { atomicsDir: atomics });
  const {
    test: redirected,
    endpoints,
    rewrites,
  } = redirectRemote(resolved, { http: w.sinks.http, address: REMOTE_ADDRESS });
  // As the library's runner: the dependency executor, else the test's own.
  const shell = (test.resolved.test.dependencyExecutor ?? test.executor) === "bash" ? "bash" : "sh";
  await w.sinks.listen(endpoints);
  const before = w.sinks.received();
  const env = {
    HOME: sb.home,
    PATH: "/usr/local/bin:/usr/bin:/bin",
    TMPDIR: "/tmp",
    LANG: "C.UTF-8",
  };
  const cwd = sb.workspace("coding");
  for (const p of redirected.prereqs) {
    let check = await runConfined(sb.confinement, env, shell, p.check, cwd, 60_000);
    if (check.exitCode !== 0 && p.get.trim()) {
      await runConfined(sb.confinement, env, shell, p.get, cwd, 120_000);
      check = await runConfined(sb.confinement, env, shell, p.check, cwd, 60_000);
    }
    if (check.exitCode !== 0) {
      const { resolved: _r, ...planned } = test;
      return {
        id,
        agent: cli.name,
        kind: "skipped",
        test: planned,
        reason: `prerequisite not met: ${p.description.trim()}${check.output.trim() ? ` (${check.output.trim().slice(0, 200)})` : ""}`,
      };
    }
  }
  const hosts = hostNames(redirected);
  let holding = false;
  const hold = (on: boolean) => {
    if (on === holding) return;
    holding = on;
    for (const h of hosts) {
      const n = (w.sinks.dns.hosts.get(h) ?? 0) + (on ? 1 : -1);
      if (n > 0) w.sinks.dns.hosts.set(h, n);
      else w.sinks.dns.hosts.delete(h);
    }
  };
  const r = await session(o, w, cli, sb, {
    id,
    seed,
    tasks,
    prepared: true,
    // The commands as a hijacked agent runs them: pasted into its own shell tool (whose shell is
    // bash for every agent; ART's sh tests run there unchanged).
    attack: { test, command: redirected.command.replace(/\n+$/, ""), rewrites },
    // The names the test may look up resolve to the remote sink while it runs, and no others:
    // the agents' own lookups of their vendors fail, as offline, in every session alike. The
    // counts add up across agents attacked at the same time.
    onAttack: (event) => hold(event === "handed"),
  });
  hold(false);
  const received = trafficSince(before, w.sinks.received());
  let cleanup: { exitCode: number | null; output: string } | undefined;
  if (redirected.cleanup?.trim()) {
    cleanup = await runConfined(
      sb.confinement,
      env,
      test.executor === "bash" ? "bash" : "sh",
      redirected.cleanup,
      cwd,
      120_000,
    );
  }
  const secs = ((r.result.endedAt - r.result.startedAt) / 1000).toFixed(1);
  const step = r.attack ? r.result.log.steps[r.attack.atStep] : undefined;
  o.log(
    `${cli.name}: ${id}: ${secs} s, exit ${r.result.exitCode}, attack ${step?.resultAt ? `ran (exit ${step.exitCode ?? (step.ok ? 0 : "?")})` : "did not run"}`,
  );
  pending.push(handled(record(o, w, cli, r, { sinks: received, ...(cleanup ? { cleanup } : {}) })));
  return undefined;
}

/** What the sinks received between two readings (other sessions may run at the same time). */
function trafficSince(a: SinkTraffic, b: SinkTraffic): SinkTraffic {
  const since = <T extends { port: number }>(xs: T[], ys: T[], keys: readonly (keyof T)[]) =>
    ys
      .map((y) => {
        const x = xs.find((e) => e.port === y.port);
        const d = { ...y };
        for (const k of keys) (d[k] as number) = (y[k] as number) - ((x?.[k] as number) ?? 0);
        return d;
      })
      .filter((d) => keys.some((k) => (d[k] as number) > 0));
  return {
    http: b.http.slice(a.http.length),
    tcp: since(a.tcp, b.tcp, ["bytes", "connections"]),
    udp: since(a.udp, b.udp, ["bytes", "datagrams"]),
    dns: b.dns.slice(a.dns.length),
  };
}

/** The windows of a finished session: those of its agent process, once the last has closed. */
async function windowsOf(
  o: AtomicsEvalOptions,
  w: World,
  cli: AgentCli,
  r: AgentSessionResult,
): Promise<WindowRecord[]> {
  const settle = r.endedAt + o.windowSeconds * 1000 + 2500;
  if (Date.now() < settle) await sleep(settle - Date.now());
  const mine = (x: WindowRecord) =>
    x.agentType === cli.name && x.pid === r.pid && Date.parse(x.end) >= r.startedAt - 1000;
  const windows = w.pipeline.windows.filter(mine).sort((a, b) => a.seq - b.seq);
  // Keep the pipeline's buffer small: this session's windows, and any older than the longest a
  // session can take (others', or of agents the evaluation does not run).
  const old = Date.now() - o.sessionTimeoutMs - 5 * 60_000;
  for (let i = w.pipeline.windows.length - 1; i >= 0; i--) {
    const x = w.pipeline.windows[i] as WindowRecord;
    if (mine(x) || Date.parse(x.end) < old) w.pipeline.windows.splice(i, 1);
  }
  return windows;
}

async function record(
  o: AtomicsEvalOptions,
  w: World,
  cli: AgentCli,
  r: SessionRun,
  attack: { sinks: unknown; cleanup?: { exitCode: number | null; output: string } } | undefined,
): Promise<void> {
  const windows = await windowsOf(o, w, cli, r.result);
  const agentId = windows[0]?.agentId;
  const alerts =
    agentId === undefined ? [] : w.pipeline.alerts.filter((a) => a.alert.agentId === agentId);
  const res = r.result;
  const rec: SessionRecord = {
    id: res.sessionId,
    agent: cli.name,
    kind: r.attack ? "attack" : "benign",
    project: r.project,
    seed: r.seed,
    startedAt: res.startedAt,
    endedAt: res.endedAt,
    exitCode: res.exitCode,
    timedOut: res.timedOut,
    ...(agentId === undefined ? {} : { agentId }),
    steps: res.log.steps.map((s) => ({
      ...s,
      ...(s.output === undefined ? {} : { output: s.output.slice(0, 600) }),
    })),
    windows,
    alerts,
    ...(res.exitCode === 0
      ? {}
      : { stderr: `${res.stderr.slice(-2000)}\n${res.stdout.slice(-1000)}` }),
    ...(r.attack
      ? {
          attack: {
            test: (({ resolved: _r, ...t }) => t)(r.attack.test),
            atStep: r.attack.atStep,
            rewrites: r.attack.rewrites,
            ...(attack
              ? { sinks: attack.sinks, ...(attack.cleanup ? { cleanup: attack.cleanup } : {}) }
              : {}),
          },
        }
      : {}),
  };
  w.store.append(rec);
}
