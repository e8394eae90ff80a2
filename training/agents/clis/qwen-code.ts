/**
 * Qwen Code (`@qwen-code/qwen-code`, a node program forked from Gemini CLI): `qwen -p PROMPT
 * --yolo` against an OpenAI-compatible endpoint (OPENAI_BASE_URL, OPENAI_MODEL, OPENAI_API_KEY,
 * with the "openai" auth type selected in its settings). Usage statistics, telemetry and
 * auto-update are off by its documented settings (~/.qwen/settings.json: privacy, telemetry,
 * general), and folder trust is off so that --yolo is honoured in any workspace.
 */
import { openaiChat } from "../protocols/openai-chat.js";
import type { AgentCli } from "./types.js";

const SETTINGS = {
  $version: 4,
  security: { auth: { selectedType: "openai" }, folderTrust: { enabled: false } },
  privacy: { usageStatisticsEnabled: false },
  telemetry: { enabled: false },
  general: { enableAutoUpdate: false },
};

export const qwenCode: AgentCli = {
  name: "qwen-code",
  package: "@qwen-code/qwen-code",
  bin: "qwen",
  protocols: [openaiChat],
  homeFiles: () => ({ ".qwen/settings.json": `${JSON.stringify(SETTINGS, null, 2)}\n` }),
  env: (s) => ({
    OPENAI_BASE_URL: `${s.baseUrl}/v1`,
    OPENAI_API_KEY: "sk-scripted-model-key",
    OPENAI_MODEL: "qwen3-coder-plus",
    QWEN_USAGE_STATISTICS_ENABLED: "false",
    QWEN_TELEMETRY_ENABLED: "false",
    QWEN_CODE_SUPPRESS_YOLO_WARNING: "1",
  }),
  args: (s) => ["-p", s.prompt, "--yolo"],
};
