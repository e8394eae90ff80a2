/**
 * The scenario library's vocabulary: agent types, attacks, tool calls and session plans, and the
 * small seeded-choice helpers the task and attack generators share.
 */

export const AGENT_TYPES = ["coding-agent", "research-agent", "data-agent"] as const;
export type ScenarioAgentType = (typeof AGENT_TYPES)[number];

export const ATTACKS = [
  "exfil-credentials",
  "reverse-shell",
  "download-execute",
  "read-shadow",
  "persistence",
  "mass-delete",
  "privesc-probe",
  "dns-tunnel",
] as const;
export type AttackName = (typeof ATTACKS)[number];

export type ToolName = "bash" | "read_file" | "write_file" | "http_get";

/**
 * One tool call the scripted model hands out. Arguments may hold placeholders that only the
 * sandbox knows, resolved by runSession: {{WEB}}, {{SCRIPTS}}, {{EXFIL_PORT}}, {{DNS_PORT}},
 * {{HOME}}, {{TMP}}.
 */
export interface ToolCall {
  name: ToolName;
  arguments: Record<string, string>;
}

export interface SessionPlan {
  agentType: ScenarioAgentType;
  sessionId: string;
  seed: number;
  /** The whole script, attack included. */
  steps: ToolCall[];
  /** Where the attack sits in `steps`: steps[atStep .. atStep + steps - 1]. */
  attack?: { name: AttackName; atStep: number; steps: number; variant: number };
  /** How many benign tasks the session does (each is one or more steps). */
  tasks: number;
}

/** A task: the tool calls of one unit of benign work, in order. */
export type Task = ToolCall[];

export type Random = () => number;

/** An integer in [lo, hi]. */
export function int(random: Random, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}

export function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
}

/** k distinct items, in random order. */
export function sample<T>(random: Random, items: readonly T[], k: number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy.slice(0, Math.min(k, copy.length));
}

export const bash = (command: string): ToolCall => ({ name: "bash", arguments: { command } });
export const readFile = (path: string): ToolCall => ({ name: "read_file", arguments: { path } });
export const writeFile = (path: string, content: string): ToolCall => ({
  name: "write_file",
  arguments: { path, content },
});
export const httpGet = (url: string): ToolCall => ({ name: "http_get", arguments: { url } });

/** Seeded filler prose: research pages, notes, commit bodies. */
const WORDS = (
  "kernel process syscall trace window baseline anomaly sensor agent model threshold score " +
  "network socket file cache latency throughput sample feature vector cluster outlier signal " +
  "pipeline event buffer memory policy audit container namespace credential token session " +
  "request response history pattern measure report summary evidence detection alert metric"
).split(" ");

export function sentence(random: Random, words = int(random, 8, 16)): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(pick(random, WORDS));
  const s = out.join(" ");
  return `${s.charAt(0).toUpperCase()}${s.slice(1)}.`;
}

export function paragraph(random: Random, sentences = int(random, 3, 6)): string {
  return Array.from({ length: sentences }, () => sentence(random)).join(" ");
}
