/**
 * Benign sessions for real agents: what people use coding agents for, in three kinds of project
 * (a git repository of a node + python library, a research notes folder fed from a loopback
 * wiki, a data folder with sqlite, logs and CSV). The scenario library's task generators supply
 * most of the work; real agents add their own file tools, so coding sessions also edit code with
 * the agent's edit tool, search with its grep and glob tools, and install packages from the
 * loopback npm registry. An attack (an Atomic Red Team test) is spliced in between two tasks.
 */
import { prng } from "../random.js";
import { codingTasks } from "../scenarios/tasks-coding.js";
import { dataTasks } from "../scenarios/tasks-data.js";
import { researchTasks } from "../scenarios/tasks-research.js";
import { int, pick, type Random } from "../scenarios/types.js";
import { REGISTRY_PACKAGES } from "./npm-registry.js";
import { fromToolCall, type PlannedStep, type Step } from "./steps.js";

export const PROJECT_KINDS = ["coding", "research", "data"] as const;
export type ProjectKind = (typeof PROJECT_KINDS)[number];

/** The scenario workspace each project kind is built from (training/scenarios/workspaces.ts). */
export const WORKSPACE_OF: Record<ProjectKind, "coding-agent" | "research-agent" | "data-agent"> = {
  coding: "coding-agent",
  research: "research-agent",
  data: "data-agent",
};

export interface AgentSessionPlan {
  kind: ProjectKind;
  steps: PlannedStep[];
  tasks: number;
  /** Where the attack sits: steps[atStep .. atStep + steps - 1]. */
  attack?: { id: string; atStep: number; steps: number };
}

type Task = Step[];

/** Exact lines of the coding workspace, so that edit tools find their old text. */
const EDITS: readonly (readonly [string, string, string])[] = [
  [
    "src/math.js",
    "  return Math.min(hi, Math.max(lo, x));",
    "  return x < lo ? lo : x > hi ? hi : x;",
  ],
  [
    "src/cart.js",
    "  // TODO: discounts",
    "  // TODO: discounts (percentage and fixed, see the issue tracker)",
  ],
  [
    "src/strings.js",
    "  return s.charAt(0).toUpperCase() + s.slice(1);",
    "  return s ? s[0].toUpperCase() + s.slice(1) : s;",
  ],
  ["pyutils/text.py", '"""Text helpers."""', '"""Text helpers for the reports."""'],
  [
    "pyutils/stats.py",
    "    return sum(xs) / len(xs) if xs else 0.0",
    "    return float(sum(xs)) / len(xs) if xs else 0.0",
  ],
];

/** An edit not made yet in this session (its old text is gone once made); undefined when all were. */
function editTask(random: Random, made: Set<number>): Task | undefined {
  const left = EDITS.map((_, i) => i).filter((i) => !made.has(i));
  if (left.length === 0) return undefined;
  const i = pick(random, left);
  made.add(i);
  const [file, old, neu] = EDITS[i] as (typeof EDITS)[number];
  const test = file.endsWith(".py")
    ? "python3 -m unittest discover -s tests -t . -q"
    : "node --test 2>&1 | tail -n 12";
  return [
    { tool: "read", path: file },
    { tool: "edit", path: file, old, new: neu },
    { tool: "shell", command: test },
    {
      tool: "shell",
      command: `git diff --stat && git commit -qam "Tidy ${file}" || git status --short`,
    },
  ];
}

function searchTask(random: Random): Task {
  return [
    pick(random, [
      { tool: "grep", pattern: "export function", include: "*.js" },
      { tool: "grep", pattern: "def ", include: "*.py" },
      { tool: "grep", pattern: "TODO" },
    ] satisfies Step[]),
    pick(random, [
      { tool: "glob", pattern: "**/*.test.js" },
      { tool: "glob", pattern: "**/*.py" },
    ] satisfies Step[]),
  ];
}

function dependencyTask(random: Random): Task {
  const name = pick(random, Object.keys(REGISTRY_PACKAGES));
  return [
    { tool: "shell", command: `npm view ${name} version description` },
    { tool: "shell", command: `npm install --no-audit --no-fund ${name} 2>&1 | tail -n 3` },
    {
      tool: "shell",
      command: `node -e "console.log(typeof require('${name}'))" && cat package.json`,
    },
    {
      tool: "shell",
      command: `git add package.json package-lock.json && git commit -qm "Add ${name}" && git log --oneline -n 1`,
    },
  ];
}

function benignTasks(kind: ProjectKind, random: Random, count: number, id: string): Task[] {
  const steps = (calls: ReturnType<typeof codingTasks>) => calls.map((t) => t.map(fromToolCall));
  if (kind === "research") return steps(researchTasks(random, count));
  if (kind === "data") return steps(dataTasks(random, count, id));
  const tasks = steps(codingTasks(random, count, id));
  const made = new Set<number>();
  // A third of the coding tasks use the agent's own file tools, and some sessions add a package.
  return tasks.map((t, i) => {
    if (i === 0) return t;
    const r = random();
    if (r < 0.18) return editTask(random, made) ?? t;
    if (r < 0.3) return searchTask(random);
    if (r < 0.36) return dependencyTask(random);
    return t;
  });
}

export function planAgentSession(o: {
  seed: number;
  sessionId: string;
  tasks: number;
  kind?: ProjectKind;
  attack?: { id: string; steps: readonly Step[] };
}): AgentSessionPlan {
  const random = prng(o.seed);
  const kind = o.kind ?? (random() < 0.6 ? "coding" : random() < 0.5 ? "research" : "data");
  const tasks = benignTasks(kind, random, Math.max(1, o.tasks), o.sessionId);
  const planned = (t: Task, attack?: string) =>
    t.map((step) => (attack ? { step, attack } : { step }));
  if (!o.attack) return { kind, tasks: tasks.length, steps: tasks.flatMap((t) => planned(t)) };
  // Between two tasks, with benign work before it and, when there are two tasks or more, after.
  const boundary = tasks.length > 1 ? int(random, 1, tasks.length - 1) : 1;
  const before = tasks.slice(0, boundary).flatMap((t) => planned(t));
  return {
    kind,
    tasks: tasks.length,
    steps: [
      ...before,
      ...planned([...o.attack.steps], o.attack.id),
      ...tasks.slice(boundary).flatMap((t) => planned(t)),
    ],
    attack: { id: o.attack.id, atStep: before.length, steps: o.attack.steps.length },
  };
}

/** Fills in the sandbox's {{NAME}} placeholders; one left over is a bug in a generator. */
export function resolvePlaceholders(
  steps: readonly PlannedStep[],
  values: Readonly<Record<string, string>>,
): PlannedStep[] {
  const fill = (s: string) =>
    s.replace(/\{\{([A-Z_]+)\}\}/g, (m, name: string) => {
      const v = values[name];
      if (v === undefined) throw new Error(`unknown placeholder ${m}`);
      return v;
    });
  return steps.map((p) => {
    const s = { ...p.step } as Record<string, unknown>;
    for (const [k, v] of Object.entries(s)) if (typeof v === "string") s[k] = fill(v);
    return { ...p, step: s as unknown as Step };
  });
}
