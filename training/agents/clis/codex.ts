/**
 * Codex (`@openai/codex`: a node launcher that runs the native binary it ships): `codex exec
 * PROMPT --dangerously-bypass-approvals-and-sandbox` against a custom Responses-API provider
 * written to $CODEX_HOME/config.toml (CODEX_HOME defaults to ~/.codex). The model is a GPT-5
 * name, for which Codex declares the tools it gives that family (exec_command and the freeform
 * apply_patch). Its documented settings switch off the update check, analytics, /feedback
 * uploads and OpenTelemetry export; the plugins feature is off because it syncs the curated
 * plugin marketplace from the network at start-up. --strict-config makes a key this version no
 * longer knows an error rather than a setting silently ignored.
 */
import { openaiResponses } from "../protocols/openai-responses.js";
import type { AgentCli, SessionSetting } from "./types.js";

const API_KEY_ENV = "SCRIPTED_MODEL_API_KEY";

function config(s: SessionSetting): string {
  return [
    'model = "gpt-5.5"',
    'model_provider = "scripted"',
    "check_for_update_on_startup = false",
    "",
    "[model_providers.scripted]",
    'name = "Scripted model"',
    `base_url = ${JSON.stringify(`${s.baseUrl}/v1`)}`,
    'wire_api = "responses"',
    `env_key = "${API_KEY_ENV}"`,
    "supports_websockets = false",
    "",
    "[analytics]",
    "enabled = false",
    "",
    "[feedback]",
    "enabled = false",
    "",
    "[otel]",
    'exporter = "none"',
    'trace_exporter = "none"',
    'metrics_exporter = "none"',
    "",
    "[features]",
    "plugins = false",
    "",
  ].join("\n");
}

export const codex: AgentCli = {
  name: "codex",
  package: "@openai/codex",
  bin: "codex",
  protocols: [openaiResponses],
  homeFiles: (s) => ({ ".codex/config.toml": config(s) }),
  env: () => ({ [API_KEY_ENV]: "sk-scripted-model-key" }),
  args: (s) => [
    "exec",
    "--dangerously-bypass-approvals-and-sandbox",
    "--skip-git-repo-check",
    "--strict-config",
    s.prompt,
  ],
};
