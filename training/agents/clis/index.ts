/** The real agent CLIs the evaluation can drive, by name. */
import { claudeCode } from "./claude-code.js";
import type { AgentCli } from "./types.js";

export type { AgentCli, SessionSetting } from "./types.js";

export const AGENT_CLIS: readonly AgentCli[] = [claudeCode];

export function agentCli(name: string): AgentCli | undefined {
  return AGENT_CLIS.find((a) => a.name === name);
}
