/**
 * `vigil eval scenarios`: does Vigil catch a compromised agent, quickly, without crying wolf?
 * With the live sensor and the real pipeline (training/scenario-pipeline.ts):
 * 1. baseline: benign sessions of each agent type, captured from the bus (`vigil capture`'s code);
 * 2. train one model per type (`vigil train`'s code) into the scorer's models directory, and wait
 *    until the running scorer has loaded them;
 * 3. held out: new benign sessions, and sessions with one attack injected at a random step;
 * 4. measure: per attack, detected or not, windows and seconds from the attack's first action to
 *    the alert; per type, false alarms per hour and the window false-positive rate on benign
 *    sessions, and ROC AUC of benign windows against windows during attacks. Window scores
 *    are recomputed with the very model files the scorer loaded (WindowModel, as the scorer).
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { captureWindows } from "../src/bus/capture.js";
import type { WindowRecord } from "../src/contracts/index.js";
import { WindowModel } from "../src/model/window-model.js";
import { createSilentLogger } from "../src/telemetry/logger.js";
import { DEFAULT_TARGET_FAR } from "./calibrate.js";
import { rocAuc } from "./metrics.js";
import { type ReceivedAlert, VigilPipeline } from "./scenario-pipeline.js";
import {
  AGENT_TYPES,
  ATTACKS,
  type AttackName,
  createSandbox,
  planSession,
  runSession,
  type ScenarioAgentType,
  type SessionResult,
} from "./scenarios/index.js";
import { trainModel } from "./train.js";

export interface ScenarioEvalOptions {
  /** Scratch directory for the pipeline, captures and models. */
  dir: string;
  seed: number;
  windowSeconds: number;
  agentTypes: readonly ScenarioAgentType[];
  attacks: readonly AttackName[];
  /** Benign sessions per type for the baseline. */
  baselineSessions: number;
  /** Held-out benign sessions per type (at least this many)... */
  benignSessions: number;
  /** ...and at least this long in total per type (seconds). */
  benignSeconds: number;
  /** Tasks per session, and think time between tool calls (ms). */
  tasks: [number, number];
  thinkMs: [number, number];
  /** Every attack on every type (true), or each attack once, on types in turn (false). */
  attackEveryType: boolean;
  /** The window false-positive rate the thresholds are calibrated for (`vigil train --target-far`). */
  targetFar: number;
  log?: (line: string) => void;
}

export interface AttackOutcome {
  agentType: ScenarioAgentType;
  attack: AttackName;
  sessionId: string;
  detected: boolean;
  /** From the attack's first tool call to the alert on the bus. */
  secondsToDetection?: number;
  /** Windows of the session that ended after the attack started, up to the alerted one. */
  windowsToDetection?: number;
  summary?: string;
  severity?: string;
  /** An alert for this session before the attack started (a false alarm). */
  alertedBeforeAttack: boolean;
  /** Those alerts' summaries. */
  falseAlarms?: string[];
}

export interface TypeOutcome {
  model: { family: string; version: string; threshold: number; selection: string };
  baseline: { sessions: number; windows: number };
  benign: {
    sessions: number;
    windows: number;
    hours: number;
    alerts: number;
    falseAlarmsPerHour: number;
    windowFpr: number;
    /** Summaries of the alerts raised on benign sessions. */
    falseAlarms: string[];
  };
  /** Benign windows vs windows overlapping an attack. */
  auc: number;
}

export interface Timeline {
  sessionId: string;
  agentType: ScenarioAgentType;
  attack?: AttackName;
  /** Seconds from the session's start. */
  attackAt?: number;
  alertAt?: number;
  /** Window end (seconds from session start) and score / threshold. */
  points: { t: number; ratio: number }[];
}

export interface ScenarioEvaluation {
  windowSeconds: number;
  seed: number;
  /** The window false-positive rate the thresholds were calibrated for. */
  targetFar: number;
  types: Record<string, TypeOutcome>;
  attacks: AttackOutcome[];
  timelines: Timeline[];
  totals: {
    attacks: number;
    detected: number;
    detectedWithin2Windows: number;
    benignAlerts: number;
    benignHours: number;
    seconds: number;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function evaluateScenarios(o: ScenarioEvalOptions): Promise<ScenarioEvaluation> {
  const log = o.log ?? (() => {});
  const started = Date.now();
  mkdirSync(o.dir, { recursive: true });
  const sandbox = await createSandbox({ seed: o.seed });
  let pipeline: VigilPipeline;
  try {
    pipeline = await VigilPipeline.start({
      dir: join(o.dir, "pipeline"),
      windowSeconds: o.windowSeconds,
      homes: [sandbox.home],
      workspaces: o.agentTypes.map((t) => sandbox.workspace(t)),
      log,
    });
  } catch (e) {
    await sandbox.close();
    throw e;
  }
  try {
    const run = (type: ScenarioAgentType, id: string, seed: number, attack?: AttackName) => {
      const plan = planSession(type, {
        seed,
        sessionId: id,
        tasks: o.tasks[0] + (seed % (o.tasks[1] - o.tasks[0] + 1)),
        ...(attack ? { attack } : {}),
      });
      return runSession(plan, sandbox, {
        wrap: pipeline.wrap(type, id),
        thinkMs: o.thinkMs,
        timeoutMs: 300_000,
      });
    };

    // 1. Baselines, every type's sessions in parallel with the other types'; 2. models, into
    // the directory the running scorer watches.
    const baselines = new Map<ScenarioAgentType, { dir: string; sessions: number }>();
    await Promise.all(
      o.agentTypes.map(async (type, ti) => {
        const dir = join(o.dir, "captures", type);
        await captureBaseline(
          pipeline,
          type,
          dir,
          o.baselineSessions,
          (i) => run(type, `${short(type)}-base-${i}`, o.seed * 1000 + ti * 100 + i),
          o.windowSeconds,
          log,
        );
        baselines.set(type, { dir, sessions: o.baselineSessions });
      }),
    );
    for (const type of o.agentTypes) {
      const b = baselines.get(type);
      if (b) await trainForScorer(pipeline, type, b.dir, o.seed, log, o.targetFar);
    }
    await pipeline.waitForModels(o.agentTypes);
    log("models active in the scorer");

    // 3. Held-out sessions: per type, benign ones and attacked ones, types in parallel.
    const plan = attackPlan(o);
    const results: { result: SessionResult; attack?: AttackName }[] = [];
    await Promise.all(
      o.agentTypes.map(async (type, ti) => {
        const queue: (AttackName | undefined)[] = [];
        for (let i = 0; i < o.benignSessions; i++) queue.push(undefined);
        for (const a of plan.get(type) ?? []) queue.push(a);
        let benignSeconds = 0;
        let i = 0;
        while (i < queue.length || benignSeconds < o.benignSeconds) {
          const attack = i < queue.length ? queue[i] : undefined;
          const id = `${short(type)}-${attack ?? "benign"}-${i}`;
          const r = await run(type, id, o.seed * 1000 + 500 + ti * 100 + i, attack);
          if (!attack) benignSeconds += (r.endedAt - r.startedAt) / 1000;
          results.push({ result: r, ...(attack ? { attack } : {}) });
          log(
            `${id}: ${attack ? `attack ${attack}` : "benign"}, ${((r.endedAt - r.startedAt) / 1000).toFixed(1)} s, exit ${r.exitCode}`,
          );
          i++;
        }
      }),
    );
    // Let the last windows close and the scorer alert on them.
    await sleep((o.windowSeconds * 3 + 2) * 1000);

    // 4. Measure.
    const evaluation = await measure(o, pipeline, baselines, results, started);
    return evaluation;
  } finally {
    await sandbox.close();
    await pipeline.stop();
  }
}

/**
 * Captures `type`'s windows from the bus (the code of `vigil capture`) while `sessions` benign
 * sessions run one after another, until the last one's final window is in.
 */
export async function captureBaseline(
  pipeline: VigilPipeline,
  type: ScenarioAgentType,
  dir: string,
  sessions: number,
  session: (i: number) => Promise<SessionResult>,
  windowSeconds: number,
  log: (line: string) => void,
): Promise<number> {
  const abort = new AbortController();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  const capture = captureWindows(
    pipeline.bus,
    { agentType: type, out: dir, signal: abort.signal, onReady: () => ready() },
    createSilentLogger(),
  );
  await isReady;
  for (let i = 0; i < sessions; i++) {
    const r = await session(i);
    if (r.exitCode !== 0) log(`baseline session ${r.sessionId} exited ${r.exitCode}`);
  }
  // The last window closes one window after the session ends.
  await sleep((windowSeconds + 1) * 1000);
  abort.abort();
  const m = await capture;
  log(`${type}: baseline of ${m.counts.windows} windows from ${sessions} sessions`);
  return m.counts.windows;
}

/** Trains `type`'s model (the code of `vigil train`) into the scorer's models directory. */
export async function trainForScorer(
  pipeline: VigilPipeline,
  type: ScenarioAgentType,
  captureDir: string,
  seed: number,
  log: (line: string) => void,
  targetFar = DEFAULT_TARGET_FAR,
): Promise<void> {
  await trainModel(
    {
      agentType: type,
      dataDirs: [captureDir],
      out: join(pipeline.modelsDir, type, "eval"),
      seed,
      minWindows: 50,
      targetFar,
    },
    (line) => log(`${type}: train: ${line}`),
  );
}

function short(type: string): string {
  return type.replace(/-agent$/, "");
}

/** Which attacks run on which type. */
function attackPlan(o: ScenarioEvalOptions): Map<ScenarioAgentType, AttackName[]> {
  const plan = new Map<ScenarioAgentType, AttackName[]>(o.agentTypes.map((t) => [t, []]));
  o.attacks.forEach((a, i) => {
    if (o.attackEveryType) for (const t of o.agentTypes) plan.get(t)?.push(a);
    else plan.get(o.agentTypes[i % o.agentTypes.length] as ScenarioAgentType)?.push(a);
  });
  return plan;
}

async function measure(
  o: ScenarioEvalOptions,
  pipeline: VigilPipeline,
  baselines: Map<ScenarioAgentType, { dir: string; sessions: number }>,
  results: { result: SessionResult; attack?: AttackName }[],
  started: number,
): Promise<ScenarioEvaluation> {
  const bySession = new Map<string, WindowRecord[]>();
  for (const w of pipeline.windows) {
    const list = bySession.get(w.agentId) ?? [];
    list.push(w);
    bySession.set(w.agentId, list);
  }
  const alertsBySession = new Map<string, ReceivedAlert[]>();
  for (const a of pipeline.alerts) {
    if (a.alert.endsAt !== undefined) continue; // resolutions are not detections
    const list = alertsBySession.get(a.alert.agentId) ?? [];
    list.push(a);
    alertsBySession.set(a.alert.agentId, list);
  }
  // Every held-out session's windows and alerts, one JSON line each: the data behind the report,
  // kept by `vigil eval scenarios --keep-data` for re-scoring without running the agents again.
  const heldout = openSync(join(o.dir, "heldout.jsonl"), "w");
  try {
    for (const { result: r, attack } of results) {
      const line = JSON.stringify({
        sessionId: r.sessionId,
        agentType: r.agentType,
        ...(attack ? { attack, attackAt: r.attack?.startedAt } : {}),
        startedAt: r.startedAt,
        endedAt: r.endedAt,
        alerts: alertsBySession.get(r.sessionId) ?? [],
        windows: bySession.get(r.sessionId) ?? [],
      });
      writeSync(heldout, `${line}\n`);
    }
  } finally {
    closeSync(heldout);
  }
  const types: Record<string, TypeOutcome> = {};
  const attacks: AttackOutcome[] = [];
  const timelines: Timeline[] = [];

  for (const type of o.agentTypes) {
    const model = await WindowModel.open(join(pipeline.modelsDir, type, "eval"));
    try {
      const m = model.manifest;
      const neg: number[] = [];
      const pos: number[] = [];
      let benignWindows = 0;
      let benignAlerts = 0;
      let benignMs = 0;
      let benignSessions = 0;
      const falseAlarms: string[] = [];
      for (const { result: r, attack } of results.filter((x) => x.result.agentType === type)) {
        const windows = (bySession.get(r.sessionId) ?? []).sort((a, b) => a.seq - b.seq);
        const scores = await model.scores(windows);
        const alerts = alertsBySession.get(r.sessionId) ?? [];
        const t0 = r.startedAt;
        const attackAt = r.attack?.startedAt;
        const timeline: Timeline = {
          sessionId: r.sessionId,
          agentType: type,
          ...(attack ? { attack } : {}),
          ...(attackAt ? { attackAt: (attackAt - t0) / 1000 } : {}),
          points: windows.map((w, i) => ({
            t: (Date.parse(w.end) - t0) / 1000,
            ratio: (scores[i] ?? 0) / (m.threshold > 0 ? m.threshold : 1),
          })),
        };
        if (!attack || attackAt === undefined) {
          benignSessions++;
          benignWindows += windows.length;
          benignAlerts += alerts.length;
          for (const a of alerts) falseAlarms.push(`${r.sessionId}: ${a.alert.summary}`);
          benignMs += r.endedAt - r.startedAt;
          for (const s of scores) neg.push(s);
        } else {
          // Windows overlapping the attack: from its first action to the session's end.
          windows.forEach((w, i) => {
            if (Date.parse(w.end) >= attackAt) pos.push(scores[i] ?? 0);
          });
          const before = alerts.filter((a) => Date.parse(a.alert.windowEnd) < attackAt);
          const after = alerts.filter((a) => Date.parse(a.alert.windowEnd) >= attackAt);
          const first = after[0];
          const outcome: AttackOutcome = {
            agentType: type,
            attack,
            sessionId: r.sessionId,
            detected: first !== undefined,
            alertedBeforeAttack: before.length > 0,
            ...(before.length > 0 ? { falseAlarms: before.map((a) => a.alert.summary) } : {}),
          };
          if (first) {
            outcome.secondsToDetection = (first.at - attackAt) / 1000;
            const alertedEnd = Date.parse(first.alert.windowEnd);
            outcome.windowsToDetection = windows.filter(
              (w) => Date.parse(w.end) >= attackAt && Date.parse(w.end) <= alertedEnd,
            ).length;
            outcome.summary = first.alert.summary;
            outcome.severity = first.alert.severity;
            timeline.alertAt = (first.at - t0) / 1000;
          }
          benignAlerts += before.length;
          for (const a of before)
            falseAlarms.push(`${r.sessionId} (before its attack): ${a.alert.summary}`);
          attacks.push(outcome);
        }
        timelines.push(timeline);
      }
      const threshold = m.threshold;
      const hours = benignMs / 3_600_000;
      types[type] = {
        model: {
          family: m.family,
          version: m.version,
          threshold,
          selection: m.selection.chosen,
        },
        baseline: {
          sessions: baselines.get(type)?.sessions ?? 0,
          windows: m.data.windows.fit + m.data.windows.validation,
        },
        benign: {
          sessions: benignSessions,
          windows: benignWindows,
          hours,
          alerts: benignAlerts,
          falseAlarmsPerHour: hours > 0 ? benignAlerts / hours : 0,
          windowFpr: neg.length > 0 ? neg.filter((s) => s > threshold).length / neg.length : 0,
          falseAlarms,
        },
        auc: neg.length > 0 && pos.length > 0 ? rocAuc(neg, pos) : Number.NaN,
      };
    } finally {
      await model.close();
    }
  }
  const within2 = attacks.filter((a) => a.detected && (a.windowsToDetection ?? 99) <= 2).length;
  return {
    windowSeconds: o.windowSeconds,
    seed: o.seed,
    targetFar: o.targetFar,
    types,
    attacks,
    timelines,
    totals: {
      attacks: attacks.length,
      detected: attacks.filter((a) => a.detected).length,
      detectedWithin2Windows: within2,
      benignAlerts: Object.values(types).reduce((n, t) => n + t.benign.alerts, 0),
      benignHours: Object.values(types).reduce((n, t) => n + t.benign.hours, 0),
      seconds: (Date.now() - started) / 1000,
    },
  };
}

export const QUICK: Omit<ScenarioEvalOptions, "dir" | "seed" | "log"> = {
  windowSeconds: 1,
  agentTypes: AGENT_TYPES,
  attacks: ATTACKS,
  // 235-320 windows a type. With 28 (160-230), 1 of 7 runs raised a false alarm: a window of
  // benign work further from a small baseline than any of its out-of-fold scores.
  baselineSessions: 40,
  benignSessions: 2,
  benignSeconds: 0,
  tasks: [6, 10],
  thinkMs: [100, 400],
  attackEveryType: false,
  // The test asserts no alert in the run's ~70 benign windows. At vigil train's default (0.1 %
  // a window) a perfectly calibrated model would raise one in about 7 % of runs, and 1 s windows
  // and small baselines did worse (1 run in 3 to 7); at 0.01 % the chance is under 1 %.
  targetFar: 0.0001,
};

export const FULL: Omit<ScenarioEvalOptions, "dir" | "seed" | "log"> = {
  windowSeconds: 2,
  agentTypes: AGENT_TYPES,
  attacks: ATTACKS,
  // About 550 windows a type: at least the 500 `vigil run` learns from before it scores.
  baselineSessions: 60,
  benignSessions: 10,
  benignSeconds: 30 * 60,
  tasks: [6, 14],
  thinkMs: [200, 1200],
  attackEveryType: true,
  targetFar: DEFAULT_TARGET_FAR,
};
