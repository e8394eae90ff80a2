import { ErrorCodes, VigilError } from "../errors.js";
import { compileLinearRegExp, type LinearRegExp } from "./linear-regex.js";

/**
 * Says which processes are agents, and of which type. Every matcher given must match (AND); a
 * rule must give at least one. Rules are tried in order and the first match wins.
 */
export interface Rule {
  /** Names the baseline the process is scored against: /^[a-z0-9][a-z0-9_-]{0,62}$/. */
  readonly agentType: string;
  /** Exact kernel task name, which the kernel truncates to 15 bytes. */
  readonly comm?: string;
  /** Glob on the executable's resolved path: `*` stays within one path segment, `**` spans any. */
  readonly exe?: string;
  /**
   * Regular expression source in RE2 syntax (linear-time: no backreferences or lookaround),
   * searched (unanchored) in the argv joined with single spaces.
   */
  readonly argv?: string;
  /** Glob, as for `exe`, on the process's cgroup v2 path (e.g. "/user.slice/..."). */
  readonly cgroup?: string;
}

/** What is known about a process when it execs. `exe` and `cgroup` may be getters that read /proc. */
export interface ProcessFacts {
  exe: string;
  comm: string;
  argv: readonly string[];
  cgroup?: string;
}

export interface RuleMatch {
  agentType: string;
  /** Index into the rules the matcher was created from. */
  ruleIndex: number;
}

export interface RuleMatcher {
  /** The first rule all of whose matchers match `p`, or undefined if none does. */
  match(p: ProcessFacts): RuleMatch | undefined;
  /**
   * comm values that can be matched in the kernel at exec time, mapped to the rule index: rules
   * whose only matcher is comm. A comm is left out when an earlier rule could also claim a
   * process with that comm, because the kernel cannot evaluate that rule and would break
   * first-rule-wins; such processes are attributed in user space by `match`.
   */
  kernelComms(): ReadonlyMap<string, number>;
}

export const RULE_MATCHER_KEYS = ["comm", "exe", "argv", "cgroup"] as const;

// Node CLIs reach the kernel in two shapes. Launched through their npm bin shim (`claude`, whose
// shebang runs node), the exec that starts them has comm "claude": the kernel names the task
// after the file exec'd, not the interpreter, and the later env -> node exec keeps the pid. Run
// as `node .../cli.js` they have comm "node" (until process.title renames them), so they are
// recognised by the package path in argv, and only when the executable really is node.
const NODE = "**/node";
const PYTHON = "**/python*";

export const DEFAULT_AGENT_RULES: readonly Rule[] = Object.freeze(
  [
    { agentType: "claude-code", comm: "claude" },
    { agentType: "codex", comm: "codex" },
    { agentType: "gemini-cli", comm: "gemini" },
    { agentType: "aider", comm: "aider" },
    { agentType: "goose", comm: "goose" },
    { agentType: "opencode", comm: "opencode" },
    { agentType: "qwen-code", comm: "qwen" },
    { agentType: "claude-code", exe: NODE, argv: "/@anthropic-ai/claude-code/" },
    { agentType: "codex", exe: NODE, argv: "/@openai/codex/" },
    // Through its bin shim (node_modules/.bin, or a global prefix's bin) the launcher's argv
    // names the shim, not the package.
    { agentType: "codex", exe: NODE, argv: "/\\.?bin/codex( |$)" },
    // The codex npm package runs a native binary it ships, whose comm is its target triple.
    { agentType: "codex", exe: "**/node_modules/@openai/codex/**" },
    { agentType: "gemini-cli", exe: NODE, argv: "/@google/gemini-cli/" },
    // Through its bin shim (node_modules/.bin, or a global prefix's bin) the argv names the shim,
    // and so does the copy of itself the CLI relaunches with a larger heap.
    { agentType: "gemini-cli", exe: NODE, argv: "/\\.?bin/gemini( |$)" },
    { agentType: "qwen-code", exe: NODE, argv: "/@qwen-code/qwen-code/" },
    // Through its bin shim the launcher's argv names the shim; it relaunches the package's cli.js.
    { agentType: "qwen-code", exe: NODE, argv: "/\\.?bin/qwen( |$)" },
    { agentType: "aider", exe: PYTHON, argv: "(^|/| -m )aider( |$)" },
  ].map((r) => Object.freeze(r)),
);

/**
 * Compiles a glob on a path to an anchored, linear-time regex (`a*a*a*b` would backtrack
 * polynomially on a long path in a backtracking engine). `*` matches within one segment, `**` across
 * segments, and `**` followed by `/` also matches no directory at all; every other character is
 * literal.
 */
function globToRegExp(glob: string, what: string): LinearRegExp {
  let src = "";
  for (let i = 0; i < glob.length; ) {
    if (glob.startsWith("**/", i)) {
      src += "(?:.*/)?";
      i += 3;
    } else if (glob.startsWith("**", i)) {
      src += ".*";
      i += 2;
    } else if (glob[i] === "*") {
      src += "[^/]*";
      i += 1;
    } else {
      src += (glob[i] ?? "").replace(/[\\^$.|?+()[\]{}]/g, "\\$&");
      i += 1;
    }
  }
  return compileLinearRegExp(`^${src}$`, what, { dotAll: true });
}

interface CompiledRule {
  readonly agentType: string;
  readonly comm: string | undefined;
  readonly exe: LinearRegExp | undefined;
  readonly argv: LinearRegExp | undefined;
  readonly cgroup: LinearRegExp | undefined;
}

function compile(rule: Rule, index: number): CompiledRule {
  if (!RULE_MATCHER_KEYS.some((k) => rule[k] !== undefined)) {
    throw new VigilError(
      ErrorCodes.CONFIG_INVALID,
      `rule ${index} (${rule.agentType}) has no matcher`,
      {
        hint: `give at least one of ${RULE_MATCHER_KEYS.join(", ")}`,
      },
    );
  }
  const what = `rule ${index} (${rule.agentType})`;
  const argv =
    rule.argv === undefined ? undefined : compileLinearRegExp(rule.argv, `${what}: argv`);
  return {
    agentType: rule.agentType,
    comm: rule.comm,
    exe: rule.exe === undefined ? undefined : globToRegExp(rule.exe, `${what}: exe`),
    argv,
    cgroup: rule.cgroup === undefined ? undefined : globToRegExp(rule.cgroup, `${what}: cgroup`),
  };
}

// Cheapest first: comm and argv come with the exec event, while exe and cgroup may need a /proc
// read (ProcessFacts may compute them lazily), which this order skips for most processes.
function matches(r: CompiledRule, p: ProcessFacts): boolean {
  if (r.comm !== undefined && r.comm !== p.comm) return false;
  if (r.argv !== undefined && !r.argv.test(p.argv.join(" "))) return false;
  if (r.exe !== undefined && !r.exe.test(p.exe)) return false;
  if (r.cgroup !== undefined && (p.cgroup === undefined || !r.cgroup.test(p.cgroup))) return false;
  return true;
}

/** Compiles `rules` once; throws VigilError(CONFIG_INVALID) for a rule that cannot match. */
export function createRuleMatcher(rules: readonly Rule[]): RuleMatcher {
  const compiled = rules.map(compile);

  const kernel = new Map<string, number>();
  compiled.forEach((r, i) => {
    const commOnly = r.comm !== undefined && !r.exe && !r.argv && !r.cgroup;
    if (!commOnly || kernel.has(r.comm)) return;
    const comm = r.comm;
    const shadowed = compiled.slice(0, i).some((e) => e.comm === undefined || e.comm === comm);
    if (!shadowed) kernel.set(comm, i);
  });

  return {
    match(p) {
      const ruleIndex = compiled.findIndex((r) => matches(r, p));
      const rule = compiled[ruleIndex];
      return rule === undefined ? undefined : { agentType: rule.agentType, ruleIndex };
    },
    kernelComms: () => kernel,
  };
}
