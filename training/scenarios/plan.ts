/**
 * A session's script: benign tasks of its agent type, randomised by seed, with an attack
 * optionally spliced in between two tasks.
 */
import { prng } from "../random.js";
import { ATTACK_VARIANTS, attackSteps } from "./attacks.js";
import { codingTasks } from "./tasks-coding.js";
import { dataTasks } from "./tasks-data.js";
import { researchTasks } from "./tasks-research.js";
import {
  type AttackName,
  int,
  type ScenarioAgentType,
  type SessionPlan,
  type Task,
} from "./types.js";

export interface PlanOptions {
  seed: number;
  sessionId: string;
  /** Benign tasks (default 3..8, by seed). */
  tasks?: number;
  attack?: AttackName;
  /** Which variant of the attack (default: by seed); see ATTACK_VARIANTS. */
  attackVariant?: number;
}

function benign(agentType: ScenarioAgentType, random: () => number, n: number, id: string): Task[] {
  switch (agentType) {
    case "coding-agent":
      return codingTasks(random, n, id);
    case "research-agent":
      return researchTasks(random, n);
    case "data-agent":
      return dataTasks(random, n, id);
  }
}

export function planSession(agentType: ScenarioAgentType, o: PlanOptions): SessionPlan {
  const random = prng(o.seed);
  const count = Math.max(1, o.tasks ?? int(random, 3, 8));
  const tasks = benign(agentType, random, count, o.sessionId);
  const plan: SessionPlan = {
    agentType,
    sessionId: o.sessionId,
    seed: o.seed,
    steps: tasks.flat(),
    tasks: tasks.length,
  };
  if (o.attack === undefined) return plan;
  const variant = o.attackVariant ?? int(random, 0, ATTACK_VARIANTS[o.attack] - 1);
  const attack = attackSteps(o.attack, random, variant);
  // Between two tasks, with benign work before it and, when there are two tasks or more, after.
  const boundary = tasks.length > 1 ? int(random, 1, tasks.length - 1) : 1;
  const atStep = tasks.slice(0, boundary).reduce((n, t) => n + t.length, 0);
  plan.steps = [...tasks.slice(0, boundary).flat(), ...attack, ...tasks.slice(boundary).flat()];
  plan.attack = { name: o.attack, atStep, steps: attack.length, variant };
  return plan;
}
