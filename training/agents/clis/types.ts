/**
 * A real agent CLI as the evaluation drives it: which npm package and executable, the vendor
 * API its scripted model speaks, and the documented settings that point it at that model and
 * switch off its telemetry and auto-update.
 */
import type { ReportedOutcome } from "../model-server.js";
import type { Protocol } from "../protocol.js";

export interface SessionSetting {
  /** The session's scripted-model base URL (`<server>/s/<id>`). */
  baseUrl: string;
  /** The agent's HOME, inside the sandbox. */
  home: string;
  /** Its working directory (the workspace). */
  cwd: string;
  /** The user's request, the first message of the session. */
  prompt: string;
}

export interface AgentCli {
  /** Its name on the command line (--agent), which is also the agent type Vigil's default rules give it. */
  name: string;
  /** The npm package (pinned in agents/package.json) and the executable it installs in node_modules/.bin. */
  package: string;
  bin: string;
  protocols: readonly Protocol[];
  /** Files written under HOME before each session (paths relative to HOME). */
  homeFiles(s: SessionSetting): Record<string, string>;
  /** The agent's own environment variables (HOME, PATH and the like are the harness's). */
  env(s: SessionSetting): Record<string, string>;
  /** Arguments after the executable: one headless session, tools approved without asking. */
  args(s: SessionSetting): string[];
  /**
   * A tool call's outcome read from one line of the agent's stdout, for agents whose API does
   * not carry it back (opencode sends the model no exit code).
   */
  outcomeOf?(line: string): ReportedOutcome | undefined;
}
