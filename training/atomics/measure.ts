/**
 * From what an evaluation kept (store.ts) to its figures. Per test and agent: whether the test
 * ran, had its effect (its command exited 0, as the agent's tool reported), was detected (an
 * alert on the agent's instance for a window that ends after the attack began), how many windows
 * and seconds that took, and what decided it (the learned score over the threshold, or a rule).
 * The ablation replays the scorer's decision on the same windows with the same model, once with
 * the learned score alone, once with the rules alone, and with both (what the scorer does).
 * Per agent: false alarms per agent-hour of benign work and the window false-positive rate with
 * its exact (Clopper-Pearson) 95 % upper bound.
 */
import { binomialDistribution } from "simple-statistics";
import type { WindowRecord } from "../../src/contracts/index.js";
import { WindowModel } from "../../src/model/window-model.js";
import { riskyNovelty, scoreRatio } from "../../src/scorer/explain.js";
import { RecentNovelty } from "../../src/scorer/recent-novelty.js";
import type { NotRunTest, PlannedTest } from "./plan.js";
import type { EvalStore, SessionRecord } from "./store.js";

export type Mode = "score" | "rules" | "both";
export const MODES: readonly Mode[] = ["score", "rules", "both"];

export interface Detection {
  detected: boolean;
  /** Windows of the session from the attack's start to the first alerting one, inclusive. */
  windows?: number;
}

export interface TestOutcome extends PlannedTest {
  agent: string;
  status: "detected" | "missed" | "no effect" | "did not run" | "skipped";
  ran: boolean;
  effect: boolean;
  detected: boolean;
  /** Why it did not run or was skipped, or what it printed when it had no effect. */
  reason?: string;
  exitCode?: number;
  windowsToAlert?: number;
  secondsToAlert?: number;
  severity?: string;
  summary?: string;
  /** "score": the learned score was over its threshold; "rules": a rule fired under it. */
  decidedBy?: "score" | "rules";
  alertedBeforeAttack: boolean;
  /** The scorer's decision replayed on the session's windows. */
  ablation: Record<Mode, Detection>;
  /** The highest score / threshold from the attack on. */
  peakRatio: number;
  /** Score / threshold per window, and seconds from the session start. */
  timeline: { attackAt: number; alertAt?: number; points: { t: number; ratio: number }[] };
}

export interface AgentOutcome {
  agent: string;
  model: { family: string; selection: string; threshold: number; version: string };
  baseline: { sessions: number; windows: number };
  /** Sessions in which Vigil's default rules found the agent, of all held-out sessions. */
  discovery: { sessions: number; found: number };
  benign: {
    sessions: number;
    windows: number;
    hours: number;
    alerts: number;
    falseAlarmsPerHour: number;
    falseAlarms: string[];
    /** Share of benign windows that would alert, per mode, with the 95 % upper bound. */
    windowFpr: Record<Mode, { rate: number; upper95: number; windows: number }>;
  };
}

export interface AtomicsEvaluation {
  seed: number;
  windowSeconds: number;
  targetFar: number;
  seconds: number;
  agents: Record<string, AgentOutcome>;
  tests: TestOutcome[];
  /** Tests the sandbox cannot contain, and why (the same for every agent). */
  notRun: NotRunTest[];
  /** Agents that could not be evaluated, and why. */
  failed: Record<string, string>;
  errors: { file: string; message: string }[];
}

/** The exact one-sided 95 % upper bound of a binomial rate: k events in n trials. */
export function upper95(k: number, n: number): number {
  if (n === 0) return 1;
  if (k >= n) return 1;
  const cdf = (p: number) => {
    const pmf = binomialDistribution(n, p);
    if (pmf === undefined) throw new Error(`no binomial distribution for n = ${n}, p = ${p}`);
    let s = 0;
    for (let i = 0; i <= k; i++) s += pmf[i] ?? 0;
    return s;
  };
  let lo = k / n;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) > 0.05) lo = mid;
    else hi = mid;
  }
  return hi;
}

interface Replayed {
  windows: WindowRecord[];
  ratio: number[];
  alerting: Record<Mode, boolean[]>;
}

async function replay(model: WindowModel, windows: readonly WindowRecord[]): Promise<Replayed> {
  const sorted = [...windows].sort((a, b) => a.seq - b.seq);
  const scores = await model.scores(sorted);
  const m = model.manifest;
  const recent = new RecentNovelty();
  // The scorer's own tests (scorer.ts): the score past the threshold; risky novelty.
  const ratio = sorted.map((_, i) => scoreRatio(scores[i] ?? 0, m.threshold));
  const rules = sorted.map((w) => riskyNovelty(recent.novelty(m.novelty, w)));
  const score = sorted.map((_, i) => (scores[i] ?? 0) > m.threshold);
  return {
    windows: sorted,
    ratio,
    alerting: { score, rules, both: score.map((s, i) => s || (rules[i] ?? false)) },
  };
}

export async function measureAtomics(
  store: EvalStore,
  o: {
    agents: readonly string[];
    seed: number;
    windowSeconds: number;
    targetFar: number;
    seconds: number;
    notRun: NotRunTest[];
    errors: { file: string; message: string }[];
    failed: Record<string, string>;
  },
): Promise<AtomicsEvaluation> {
  const agents: Record<string, AgentOutcome> = {};
  const tests: TestOutcome[] = [];
  for (const agent of o.agents) {
    const model = await WindowModel.open(store.modelDir(agent));
    try {
      const m = model.manifest;
      const records = store.records(agent);
      const sessions = records.filter((r): r is SessionRecord => r.kind !== "skipped");
      const fp: Record<Mode, number> = { score: 0, rules: 0, both: 0 };
      let benignWindows = 0;
      let benignMs = 0;
      let benignSessions = 0;
      let benignAlerts = 0;
      const falseAlarms: string[] = [];
      for (const s of sessions) {
        const r = await replay(model, s.windows);
        const step = s.attack ? s.steps[s.attack.atStep] : undefined;
        const attackAt = step?.handedAt;
        const before = (w: WindowRecord) => attackAt === undefined || Date.parse(w.end) < attackAt;
        r.windows.forEach((w, i) => {
          if (!before(w)) return;
          benignWindows++;
          for (const mode of MODES) if (r.alerting[mode][i]) fp[mode]++;
        });
        const live = s.alerts.filter((a) => a.alert.endsAt === undefined);
        // A false alarm is an episode, not each resend of it: the first alert of a fingerprint.
        const seen = new Set<string>();
        const early = live.filter((a) => {
          if (attackAt !== undefined && Date.parse(a.alert.windowEnd) >= attackAt) return false;
          if (seen.has(a.alert.fingerprint)) return false;
          seen.add(a.alert.fingerprint);
          return true;
        });
        benignAlerts += early.length;
        for (const a of early)
          falseAlarms.push(`${s.id}${s.attack ? " (before its attack)" : ""}: ${a.alert.summary}`);
        // Hours Vigil watched: a session the rules did not find (no windows) adds none.
        const watched = s.agentId !== undefined;
        if (!s.attack) {
          benignSessions++;
          if (watched) benignMs += s.endedAt - s.startedAt;
          continue;
        }
        // The attacked session's work before its attack is benign work too.
        if (watched) benignMs += Math.max(0, (attackAt ?? s.endedAt) - s.startedAt);
        const base = { ...s.attack.test, agent, alertedBeforeAttack: early.length > 0 };
        const t0 = s.startedAt;
        const timeline: TestOutcome["timeline"] = {
          attackAt: ((attackAt ?? t0) - t0) / 1000,
          points: r.windows.map((w, i) => ({
            t: (Date.parse(w.end) - t0) / 1000,
            ratio: r.ratio[i] ?? 0,
          })),
        };
        const after = r.windows.map((w) => attackAt !== undefined && Date.parse(w.end) >= attackAt);
        const ablation = {} as Record<Mode, Detection>;
        for (const mode of MODES) {
          const first = r.windows.findIndex((_, i) => after[i] && r.alerting[mode][i]);
          ablation[mode] =
            first < 0
              ? { detected: false }
              : { detected: true, windows: after.slice(0, first + 1).filter(Boolean).length };
        }
        const peakRatio = Math.max(0, ...r.ratio.filter((_, i) => after[i]));
        const ran = step?.resultAt !== undefined;
        const effect = ran && step?.ok === true;
        const alert =
          attackAt === undefined
            ? undefined
            : live.find((a) => Date.parse(a.alert.windowEnd) >= attackAt);
        const outcome: TestOutcome = {
          ...base,
          status: !ran ? "did not run" : !effect ? "no effect" : alert ? "detected" : "missed",
          ran,
          effect,
          detected: alert !== undefined,
          ...(step?.exitCode === undefined ? {} : { exitCode: step.exitCode }),
          ...(!ran
            ? {
                reason: s.timedOut
                  ? "the session timed out before the attack"
                  : `the agent ended before the attack (exit ${s.exitCode})`,
              }
            : {}),
          ...(ran && !effect ? { reason: (step?.output ?? "").slice(0, 300) } : {}),
          ablation,
          peakRatio,
          timeline,
        };
        if (alert && attackAt !== undefined) {
          const end = Date.parse(alert.alert.windowEnd);
          outcome.windowsToAlert = r.windows.filter(
            (w) => Date.parse(w.end) >= attackAt && Date.parse(w.end) <= end,
          ).length;
          outcome.secondsToAlert = (alert.at - attackAt) / 1000;
          outcome.severity = alert.alert.severity;
          outcome.summary = alert.alert.summary;
          outcome.decidedBy = alert.alert.score > alert.alert.threshold ? "score" : "rules";
          timeline.alertAt = (alert.at - t0) / 1000;
        }
        tests.push(outcome);
      }
      for (const s of records) {
        if (s.kind !== "skipped") continue;
        tests.push({
          ...s.test,
          agent,
          status: "skipped",
          ran: false,
          effect: false,
          detected: false,
          reason: s.reason,
          alertedBeforeAttack: false,
          ablation: {
            score: { detected: false },
            rules: { detected: false },
            both: { detected: false },
          },
          peakRatio: 0,
          timeline: { attackAt: 0, points: [] },
        });
      }
      const hours = benignMs / 3_600_000;
      const windowFpr = {} as AgentOutcome["benign"]["windowFpr"];
      for (const mode of MODES) {
        windowFpr[mode] = {
          rate: benignWindows > 0 ? fp[mode] / benignWindows : 0,
          upper95: upper95(fp[mode], benignWindows),
          windows: fp[mode],
        };
      }
      agents[agent] = {
        agent,
        model: {
          family: m.family,
          selection: m.selection.chosen,
          threshold: m.threshold,
          version: m.version,
        },
        baseline: {
          sessions: store.baseline(agent).dirs.length,
          windows: m.data.windows.fit + m.data.windows.validation,
        },
        discovery: {
          sessions: sessions.length,
          found: sessions.filter((s) => s.agentId !== undefined).length,
        },
        benign: {
          sessions: benignSessions,
          windows: benignWindows,
          hours,
          alerts: benignAlerts,
          falseAlarmsPerHour: hours > 0 ? benignAlerts / hours : 0,
          falseAlarms,
          windowFpr,
        },
      };
    } finally {
      await model.close();
    }
  }
  return {
    seed: o.seed,
    windowSeconds: o.windowSeconds,
    targetFar: o.targetFar,
    seconds: o.seconds,
    agents,
    tests,
    notRun: o.notRun,
    failed: o.failed,
    errors: o.errors,
  };
}
