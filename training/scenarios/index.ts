/** The scenario library: realistic agent sessions and the attacks injected into them. */

export { ATTACK_VARIANTS, attackSteps } from "./attacks.js";
export { type LlmServer, type ScriptedSession, startLlmServer } from "./llm-server.js";
export { type PlanOptions, planSession } from "./plan.js";
export { createSandbox, type Sandbox } from "./sandbox.js";
export { type Received, SHELL_COMMANDS } from "./services.js";
export { type RunOptions, resolveSteps, runSession, type SessionResult } from "./session.js";
export {
  AGENT_TYPES,
  ATTACKS,
  type AttackName,
  type ScenarioAgentType,
  type SessionPlan,
  type ToolCall,
} from "./types.js";
