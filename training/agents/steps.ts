/**
 * What the scripted model asks a real agent to do, independent of the agent: a step is one tool
 * call, rendered into the agent's own tool vocabulary (Claude Code's Bash / Read / Edit / Write,
 * Codex's exec_command / apply_patch, Gemini CLI's run_shell_command / read_file / replace...)
 * by render.ts, from the tool schemas the agent declares in its request.
 */
import type { ToolCall } from "../scenarios/types.js";

export type Step =
  | { tool: "shell"; command: string }
  | { tool: "read"; path: string }
  | { tool: "write"; path: string; content: string }
  | { tool: "edit"; path: string; old: string; new: string }
  | { tool: "grep"; pattern: string; path?: string; include?: string }
  | { tool: "glob"; pattern: string }
  | { tool: "fetch"; url: string };

/** A step the session plan marks: the attack's steps carry the test they belong to. */
export interface PlannedStep {
  step: Step;
  /** Set on the steps of an injected attack (an Atomic Red Team test, or a scenario attack). */
  attack?: string;
}

/** The scenario library's tool calls (bash, read_file, write_file, http_get) as steps. */
export function fromToolCall(call: ToolCall): Step {
  const a = call.arguments;
  const need = (k: string): string => {
    const v = a[k];
    if (v === undefined) throw new Error(`${call.name} step without ${k}`);
    return v;
  };
  switch (call.name) {
    case "bash":
      return { tool: "shell", command: need("command") };
    case "read_file":
      return { tool: "read", path: need("path") };
    case "write_file":
      return { tool: "write", path: need("path"), content: need("content") };
    case "http_get":
      return { tool: "fetch", url: need("url") };
  }
}

/** A one-line description of a step, for reports and the agents' `description` fields. */
export function describeStep(s: Step): string {
  switch (s.tool) {
    case "shell":
      return s.command.length > 60 ? `${s.command.slice(0, 57)}...` : s.command;
    case "read":
      return `Read ${s.path}`;
    case "write":
      return `Write ${s.path}`;
    case "edit":
      return `Edit ${s.path}`;
    case "grep":
      return `Search for ${s.pattern}`;
    case "glob":
      return `Find files matching ${s.pattern}`;
    case "fetch":
      return `Fetch ${s.url}`;
  }
}
