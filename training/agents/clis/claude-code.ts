/**
 * Claude Code (`@anthropic-ai/claude-code`, a native binary): `claude -p PROMPT
 * --dangerously-skip-permissions` against ANTHROPIC_BASE_URL. It refuses to run as root, which
 * the harness never does. Telemetry, error reporting, auto-update and the other non-essential
 * traffic are off by its documented variables.
 */
import { anthropicMessages } from "../protocols/anthropic.js";
import type { AgentCli } from "./types.js";

export const claudeCode: AgentCli = {
  name: "claude-code",
  package: "@anthropic-ai/claude-code",
  bin: "claude",
  protocols: [anthropicMessages],
  homeFiles: () => ({}),
  env: (s) => ({
    ANTHROPIC_BASE_URL: s.baseUrl,
    ANTHROPIC_API_KEY: "sk-ant-scripted-model-key",
    DISABLE_AUTOUPDATER: "1",
    DISABLE_TELEMETRY: "1",
    DISABLE_ERROR_REPORTING: "1",
    DISABLE_BUG_COMMAND: "1",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  }),
  args: (s) => ["-p", s.prompt, "--dangerously-skip-permissions"],
};
