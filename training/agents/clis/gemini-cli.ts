/**
 * Gemini CLI (`@google/gemini-cli`, a node program that re-executes itself once with a larger
 * heap): `gemini -p PROMPT --approval-mode yolo` with a Gemini API key, against
 * GOOGLE_GEMINI_BASE_URL (plain http is accepted for loopback). Its documented settings
 * (~/.gemini/settings.json) pick the API-key auth, switch off usage statistics (the Clearcut
 * logger), telemetry, auto-update and its notification (the version check), the legacy sandbox,
 * and folder trust, which would otherwise turn an untrusted workspace's yolo into "default"
 * approval. The model is left on "auto": the CLI's router asks the scripted model for a
 * complexity score first, as it would ask Gemini.
 */
import { geminiApi } from "../protocols/gemini.js";
import type { AgentCli } from "./types.js";

const SETTINGS = {
  security: { auth: { selectedType: "gemini-api-key" }, folderTrust: { enabled: false } },
  privacy: { usageStatisticsEnabled: false },
  telemetry: { enabled: false },
  general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
  tools: { sandbox: false },
};

export const geminiCli: AgentCli = {
  name: "gemini-cli",
  package: "@google/gemini-cli",
  bin: "gemini",
  protocols: [geminiApi],
  homeFiles: () => ({ ".gemini/settings.json": `${JSON.stringify(SETTINGS, null, 2)}\n` }),
  env: (s) => ({
    GOOGLE_GEMINI_BASE_URL: s.baseUrl,
    GEMINI_API_KEY: "scripted-model-key",
  }),
  args: (s) => ["-p", s.prompt, "--approval-mode", "yolo"],
};
