/**
 * opencode (`opencode-ai`, a Bun-compiled native binary): `opencode run --auto --format json
 * PROMPT` with a provider of its own config (~/.config/opencode/opencode.json) that points the AI
 * SDK's openai-compatible client at the scripted model. Its tools are allowed by the config's
 * `permission` and `--auto`; auto-update, sharing, the model catalogue refresh, LSP and plugin
 * downloads are off by its documented config keys and OPENCODE_* variables.
 *
 * Its bash tool tells the model only the output, never the exit code: the outcome of each call is
 * read from the tool events that `--format json` prints. Its grep and glob tools run ripgrep,
 * found on PATH or in ~/.cache/opencode/bin, and downloaded there otherwise (which fails offline).
 */
import type { ReportedOutcome } from "../model-server.js";
import { openaiChat } from "../protocols/openai-chat.js";
import type { AgentCli, SessionSetting } from "./types.js";

const config = (s: SessionSetting) => ({
  $schema: "https://opencode.ai/config.json",
  autoupdate: false,
  share: "disabled",
  model: "local/scripted-1",
  small_model: "local/scripted-1",
  provider: {
    local: {
      npm: "@ai-sdk/openai-compatible",
      name: "local",
      options: { baseURL: `${s.baseUrl}/v1`, apiKey: "sk-scripted-model-key" },
      models: { "scripted-1": { name: "scripted", tool_call: true } },
    },
  },
  permission: { "*": "allow", external_directory: "allow", doom_loop: "allow" },
  lsp: false,
  formatter: false,
});

interface ToolEvent {
  type?: unknown;
  part?: { callID?: unknown; state?: { status?: unknown; metadata?: { exit?: unknown } } };
}

/** A `tool_use` event of `--format json`: the call's final status and its shell exit code. */
function outcomeOf(line: string): ReportedOutcome | undefined {
  if (!line.includes('"tool_use"')) return undefined;
  let e: ToolEvent;
  try {
    e = JSON.parse(line) as ToolEvent;
  } catch {
    return undefined;
  }
  const callId = e.part?.callID;
  const status = e.part?.state?.status;
  if (e.type !== "tool_use" || typeof callId !== "string") return undefined;
  if (status !== "completed" && status !== "error") return undefined;
  // null: the command was killed (timeout, abort).
  const exit = e.part?.state?.metadata?.exit;
  return {
    callId,
    isError: status === "error" || exit === null,
    ...(typeof exit === "number" ? { exitCode: exit } : {}),
  };
}

export const opencode: AgentCli = {
  name: "opencode",
  package: "opencode-ai",
  bin: "opencode",
  protocols: [openaiChat],
  homeFiles: (s) => ({
    ".config/opencode/opencode.json": `${JSON.stringify(config(s), null, 2)}\n`,
  }),
  env: () => ({
    OPENCODE_DISABLE_AUTOUPDATE: "1",
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
    OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
    OPENCODE_DISABLE_SHARE: "1",
  }),
  args: (s) => ["run", "--auto", "--format", "json", s.prompt],
  outcomeOf,
};
