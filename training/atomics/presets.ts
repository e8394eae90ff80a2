/**
 * The two sizes of `vigil eval atomics`. The full run is what the README's detection headline
 * comes from: every agent, every runnable test, at least 2 agent-hours of benign work per agent,
 * the product's default 5 s windows and a baseline at least as big as the one `vigil run`
 * learns from (500 windows). The quick run is the test suite's: one agent, one test per tactic.
 */
import { DEFAULT_TARGET_FAR } from "../calibrate.js";
import { prng } from "../random.js";
import type { AtomicsEvalOptions } from "./eval.js";
import type { RunnableTest, TestPlan } from "./plan.js";

type Preset = Omit<
  AtomicsEvalOptions,
  "plan" | "agents" | "dir" | "sandboxRoot" | "agentsDir" | "seed" | "log"
>;

export const FULL: Preset = {
  windowSeconds: 5,
  baselineSessions: 40,
  baselineWindows: 500,
  benignSessions: 40,
  benignSeconds: 2 * 3600,
  tasks: [6, 12],
  thinkMs: [600, 3000],
  targetFar: DEFAULT_TARGET_FAR,
  // Sessions take one to two minutes; one that hangs is killed and reported.
  sessionTimeoutMs: 300_000,
};

export const QUICK: Preset = {
  windowSeconds: 1,
  baselineSessions: 24,
  baselineWindows: 150,
  benignSessions: 4,
  benignSeconds: 0,
  tasks: [5, 8],
  thinkMs: [150, 600],
  // A few dozen benign windows: at vigil train's default a clean run could not be promised.
  targetFar: 0.0001,
  sessionTimeoutMs: 180_000,
};

/**
 * One runnable test per tactic (seeded), preferring tests without prerequisites: a handful that
 * spans the tactics on any copy of the library.
 */
export function quickTests(plan: TestPlan, seed: number): RunnableTest[] {
  const random = prng(seed + 1);
  const byTactic = new Map<string, RunnableTest[]>();
  for (const t of plan.runnable) {
    const tactic = t.tactics[0] ?? "unknown";
    byTactic.set(tactic, [...(byTactic.get(tactic) ?? []), t]);
  }
  const picked: RunnableTest[] = [];
  for (const [, tests] of [...byTactic.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const easy = tests.filter((t) => t.resolved.prereqs.length === 0);
    const pool = easy.length > 0 ? easy : tests;
    const t = pool[Math.floor(random() * pool.length)];
    if (t && !picked.includes(t)) picked.push(t);
  }
  return picked;
}
