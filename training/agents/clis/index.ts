/** The real agent CLIs the evaluation can drive, by name. */
import { claudeCode } from "./claude-code.js";
import { codex } from "./codex.js";
import { geminiCli } from "./gemini-cli.js";
import { opencode } from "./opencode.js";
import { qwenCode } from "./qwen-code.js";
import type { AgentCli } from "./types.js";

export type { AgentCli, SessionSetting } from "./types.js";

export const AGENT_CLIS: readonly AgentCli[] = [claudeCode, qwenCode, geminiCli, opencode, codex];

export function agentCli(name: string): AgentCli | undefined {
  return AGENT_CLIS.find((a) => a.name === name);
}
