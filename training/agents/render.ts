/**
 * Renders a step as a call of one of the agent's own tools, chosen from the tool schemas the
 * agent declared in its request: the names and argument names differ between agents (Claude
 * Code's Read takes `file_path`, opencode's read `filePath`, Codex has no read tool at all and
 * reads with exec_command), so the step is matched to the declared tools, and a step the agent
 * has no tool for becomes the shell command an agent would use instead (sed -n, a heredoc,
 * grep -rn, find, curl). Fetches always go through the shell: the agents' own web tools call
 * out to their vendors first.
 */
import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { describeStep, type Step } from "./steps.js";

/** A tool as the agent declared it. */
export interface ToolDecl {
  name: string;
  /** "custom": a freeform tool whose input is plain text (Codex's apply_patch). */
  kind: "function" | "custom";
  /** The JSON schema's property names, with their declared type where given. */
  properties: Record<string, string | undefined>;
  required: readonly string[];
}

export interface Rendered {
  name: string;
  /** The arguments object, or the text of a custom tool. */
  input: Record<string, unknown> | string;
}

const SHELL = ["Bash", "exec_command", "shell_command", "shell", "run_shell_command", "bash"];
const READ = ["Read", "read_file", "read"];
const WRITE = ["Write", "write_file", "write"];
const EDIT = ["Edit", "replace", "edit"];
const GREP = ["Grep", "grep_search", "search_file_content", "grep"];
const GLOB = ["Glob", "glob"];
const PATH_PROPS = ["file_path", "absolute_path", "filePath", "path"];

function find(
  tools: ReadonlyMap<string, ToolDecl>,
  names: readonly string[],
): ToolDecl | undefined {
  for (const n of names) {
    const t = tools.get(n);
    if (t) return t;
  }
  return undefined;
}

function prop(t: ToolDecl, names: readonly string[]): string | undefined {
  return names.find((n) => n in t.properties);
}

/** A POSIX shell single-quoted word. */
export function quote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function heredoc(content: string): { marker: string; body: string } {
  let marker = "EOF";
  for (let i = 0; content.split("\n").includes(marker); i++) marker = `EOF${i}`;
  return { marker, body: content.endsWith("\n") ? content : `${content}\n` };
}

/** The shell command an agent without a dedicated tool would run for `step`. */
export function shellFor(step: Step): string {
  switch (step.tool) {
    case "shell":
      return step.command;
    case "read":
      return `sed -n '1,200p' ${quote(step.path)}`;
    case "write": {
      const h = heredoc(step.content);
      return `mkdir -p "$(dirname ${quote(step.path)})" && cat > ${quote(step.path)} <<'${h.marker}'\n${h.body}${h.marker}`;
    }
    case "edit": {
      // What an agent without an edit tool writes: a short python program (JSON string
      // literals are python string literals).
      const py = [
        "from pathlib import Path",
        `p = Path(${JSON.stringify(step.path)})`,
        "s = p.read_text()",
        `old, new = ${JSON.stringify(step.old)}, ${JSON.stringify(step.new)}`,
        'assert old in s, "old text not found"',
        "p.write_text(s.replace(old, new, 1))",
      ].join("\n");
      const h = heredoc(py);
      return `python3 - <<'${h.marker}'\n${h.body}${h.marker}`;
    }
    case "grep":
      return `grep -rn${step.include ? ` --include=${quote(step.include)}` : ""} -e ${quote(step.pattern)} ${quote(step.path ?? ".")} | head -n 50`;
    case "glob": {
      const name = step.pattern.split("/").pop() ?? step.pattern;
      return `find . -name ${quote(name)} -not -path './.git/*' -not -path '*/node_modules/*' | sort | head -n 100`;
    }
    case "fetch":
      return `curl -sS --max-time 20 ${quote(step.url)}`;
  }
}

function shellCall(tools: ReadonlyMap<string, ToolDecl>, step: Step): Rendered {
  const t = find(tools, SHELL);
  if (!t)
    throw new Error(`the agent declared no shell tool (tools: ${[...tools.keys()].join(", ")})`);
  const command = shellFor(step);
  const input: Record<string, unknown> = {};
  const key = prop(t, ["command", "cmd"]);
  if (key === undefined) throw new Error(`${t.name} has no command argument`);
  input[key] = t.properties[key] === "array" ? ["bash", "-lc", command] : command;
  if ("description" in t.properties) input.description = describeStep(step);
  return { name: t.name, input };
}

/** Codex's apply_patch grammar: a new file, or the replacement of whole lines. */
function patch(step: Step & { tool: "write" | "edit" }, path: string): string {
  const lines = (s: string, sign: string) =>
    s
      .replace(/\n$/, "")
      .split("\n")
      .map((l) => `${sign}${l}`)
      .join("\n");
  const body =
    step.tool === "write"
      ? `*** Add File: ${path}\n${lines(step.content, "+")}`
      : `*** Update File: ${path}\n@@\n${lines(step.old, "-")}\n${lines(step.new, "+")}`;
  return `*** Begin Patch\n${body}\n*** End Patch\n`;
}

/**
 * `step` as a call of one of `tools`. `cwd` makes relative paths absolute, as the agents' file
 * tools require; a write to an existing file through a patch tool goes through the shell,
 * since adding a file that exists is an error there.
 */
export function renderStep(
  step: Step,
  tools: ReadonlyMap<string, ToolDecl>,
  cwd: string,
): Rendered {
  const abs = (p: string) => (isAbsolute(p) ? p : join(cwd, p));
  const withPath = (t: ToolDecl | undefined, path: string, rest: Record<string, unknown>) => {
    const key = t && prop(t, PATH_PROPS);
    if (!t || key === undefined) return undefined;
    return { name: t.name, input: { [key]: abs(path), ...rest } };
  };
  let r: Rendered | undefined;
  switch (step.tool) {
    case "shell":
    case "fetch":
      return shellCall(tools, step);
    case "read":
      r = withPath(find(tools, READ), step.path, {});
      break;
    case "write":
      r = withPath(find(tools, WRITE), step.path, { content: step.content });
      if (!r && tools.get("apply_patch")?.kind === "custom" && !existsSync(abs(step.path))) {
        r = { name: "apply_patch", input: patch(step, abs(step.path)) };
      }
      break;
    case "edit": {
      const t = find(tools, EDIT);
      const oldKey = t && prop(t, ["old_string", "oldString"]);
      const newKey = t && prop(t, ["new_string", "newString"]);
      if (oldKey && newKey) {
        const rest: Record<string, unknown> = { [oldKey]: step.old, [newKey]: step.new };
        // Gemini CLI's replace requires an instruction (what its edit fixer would be told).
        if (t && "instruction" in t.properties) rest.instruction = describeStep(step);
        r = withPath(t, step.path, rest);
      } else if (tools.get("apply_patch")?.kind === "custom") {
        r = { name: "apply_patch", input: patch(step, abs(step.path)) };
      }
      break;
    }
    case "grep": {
      const t = find(tools, GREP);
      if (t && "pattern" in t.properties) {
        const input: Record<string, unknown> = { pattern: step.pattern };
        const pathKey = prop(t, ["path", "dir_path"]);
        if (pathKey) input[pathKey] = abs(step.path ?? ".");
        const incKey = prop(t, ["glob", "include", "include_pattern"]);
        if (incKey && step.include) input[incKey] = step.include;
        r = { name: t.name, input };
      }
      break;
    }
    case "glob": {
      const t = find(tools, GLOB);
      if (t && "pattern" in t.properties) r = { name: t.name, input: { pattern: step.pattern } };
      break;
    }
  }
  return r ?? shellCall(tools, step);
}
