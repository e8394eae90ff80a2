import { ErrorCodes, VigilError } from "../errors.js";
import { compileLinearRegExp, type LinearRegExp } from "./linear-regex.js";

/**
 * Says which processes are agents, and of which type. Every matcher given must match (AND); a
 * rule must give at least one. Rules are tried in order and the first match wins.
 */
export interface Rule {
  /** Names the baseline the process is scored against: /^[a-z0-9][a-z0-9_-]{0,62}$/. */
  readonly agentType: string;
  /**
   * Exact kernel task name, which the kernel truncates to 15 bytes. Anyone can name a file like
   * an agent, so a comm proves nothing on its own; it also asks the kernel to start tracking at
   * the exec that sets it, and the whole rule is then checked at that exec.
   */
  readonly comm?: string;
  /** Glob on the executable's resolved path: `*` stays within one path segment, `**` spans any. */
  readonly exe?: string;
  /**
   * Glob, as for `exe`, on the script an interpreter runs (symlinks resolved): the file the
   * kernel ran through a `#!` line, or else the interpreter's first argument that is not an
   * option, resolved against the process's working directory.
   */
  readonly script?: string;
  /**
   * Who may own the files `exe` and `script` match. "trusted" (the default): root or a uid in
   * `sensor.trustedUids`, in directories only those can write (see path-trust.ts). "any": the
   * path alone decides.
   */
  readonly owner?: RuleOwner;
  /**
   * Regular expression source in RE2 syntax (linear-time: no backreferences or lookaround),
   * searched (unanchored) in the argv joined with single spaces.
   */
  readonly argv?: string;
  /** Glob, as for `exe`, on the process's cgroup v2 path (e.g. "/user.slice/..."). */
  readonly cgroup?: string;
}

export const RULE_OWNERS = ["trusted", "any"] as const;
export type RuleOwner = (typeof RULE_OWNERS)[number];

/**
 * What is known about a process when it execs. `exe`, `script` and `cgroup` may be getters that
 * read /proc, so they are read only when a rule asks.
 */
export interface ProcessFacts {
  exe: string;
  comm: string;
  argv: readonly string[];
  cgroup?: string;
  /** The script an interpreter runs, symlinks resolved; "" or absent when there is none. */
  script?: string;
  /**
   * Whether only trusted uids can change or replace the executable, or the script (see
   * PathTrust). Absent: nothing is trusted, so rules that require an owner do not match.
   */
  trusted?(what: "exe" | "script"): boolean;
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
   * The comm of every rule that has one, mapped to the first such rule's index: the kernel
   * starts tracking an exec with that comm at once, and user space then checks the whole rule
   * list for it and stops tracking it if none matches.
   */
  kernelComms(): ReadonlyMap<string, number>;
  /** Every agent type a rule names (a closed set: metric labels). */
  agentTypes(): readonly string[];
}

export const RULE_MATCHER_KEYS = ["comm", "exe", "script", "argv", "cgroup"] as const;

// Node CLIs reach the kernel in two shapes. A native binary (Claude Code, OpenCode, Codex's
// vendored one) is its own executable. A script (Codex's launcher, Gemini CLI, Qwen Code) is
// exec'd through its npm bin shim, whose `#!/usr/bin/env node` runs env and then node with the
// shim's path as argument: the rule matches at node's exec, on the script that path resolves
// to. Either way the file must be root's or a trusted uid's: `cp /bin/sleep ~/claude` names a
// process "claude" but proves nothing. Globs start with `**/node_modules/` so that every npm
// prefix matches (/usr/lib, /usr/local/lib, ~/.npm-global/lib, nvm's, a project's).
const NODE = "**/node";
const PYTHON = "**/python*";
const NM = "**/node_modules";

export const DEFAULT_AGENT_RULES: readonly Rule[] = Object.freeze(
  [
    // The npm package's native binary, the platform package it is copied from, the native
    // installer's versions (~/.local/bin/claude links there); "claude" is the shim's name.
    {
      agentType: "claude-code",
      comm: "claude",
      exe: `${NM}/@anthropic-ai/claude-code/bin/claude.exe`,
    },
    {
      agentType: "claude-code",
      comm: "claude",
      exe: `${NM}/@anthropic-ai/claude-code-linux-*/claude`,
    },
    { agentType: "claude-code", comm: "claude", exe: "**/.local/share/claude/versions/*" },
    { agentType: "claude-code", exe: `${NM}/@anthropic-ai/claude-code/bin/claude.exe` },
    // Versions before the native binary ran cli.js under node.
    { agentType: "claude-code", exe: NODE, script: `${NM}/@anthropic-ai/claude-code/**` },
    { agentType: "codex", exe: NODE, script: `${NM}/@openai/codex/bin/*` },
    // The launcher runs a native binary from the platform package (or, before, its own vendor/).
    { agentType: "codex", exe: `${NM}/@openai/codex*/vendor/*/bin/codex` },
    { agentType: "codex", exe: `${NM}/@openai/codex*/vendor/*/codex/codex` },
    // Also the copy of itself the CLI relaunches with a larger heap.
    { agentType: "gemini-cli", exe: NODE, script: `${NM}/@google/gemini-cli/**` },
    { agentType: "qwen-code", exe: NODE, script: `${NM}/@qwen-code/qwen-code/**` },
    { agentType: "opencode", comm: "opencode", exe: `${NM}/opencode-ai/bin/opencode.exe` },
    { agentType: "opencode", comm: "opencode", exe: `${NM}/opencode-linux-*/bin/opencode` },
    { agentType: "opencode", comm: "opencode", exe: "**/.opencode/bin/opencode" },
    // Versions whose bin was a node launcher for the platform binary.
    { agentType: "opencode", exe: NODE, script: `${NM}/opencode-ai/bin/*` },
    // pip's and pipx's entry-point script, run by its `#!` python.
    { agentType: "aider", exe: PYTHON, script: "**/bin/aider" },
    { agentType: "goose", comm: "goose", exe: "**/bin/goose" },
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
  readonly script: LinearRegExp | undefined;
  /** exe and script must be trusted files. */
  readonly owned: boolean;
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
  if (rule.owner !== undefined && rule.exe === undefined && rule.script === undefined) {
    throw new VigilError(
      ErrorCodes.CONFIG_INVALID,
      `${what}: owner applies to exe and script, and it has neither`,
      { hint: "add an exe or script glob, or drop owner" },
    );
  }
  const argv =
    rule.argv === undefined ? undefined : compileLinearRegExp(rule.argv, `${what}: argv`);
  return {
    agentType: rule.agentType,
    comm: rule.comm,
    exe: rule.exe === undefined ? undefined : globToRegExp(rule.exe, `${what}: exe`),
    script: rule.script === undefined ? undefined : globToRegExp(rule.script, `${what}: script`),
    owned: rule.owner !== "any",
    argv,
    cgroup: rule.cgroup === undefined ? undefined : globToRegExp(rule.cgroup, `${what}: cgroup`),
  };
}

// Cheapest first: comm and argv come with the exec event, exe, script and cgroup may need a
// /proc read (ProcessFacts may compute them lazily), and ownership a walk up the file's path,
// which this order leaves for the few processes that match everything else.
function matches(r: CompiledRule, p: ProcessFacts): boolean {
  if (r.comm !== undefined && r.comm !== p.comm) return false;
  if (r.argv !== undefined && !r.argv.test(p.argv.join(" "))) return false;
  if (r.exe !== undefined && !r.exe.test(p.exe)) return false;
  if (r.script !== undefined && !(p.script && r.script.test(p.script))) return false;
  if (r.cgroup !== undefined && (p.cgroup === undefined || !r.cgroup.test(p.cgroup))) return false;
  if (r.owned) {
    if (r.exe !== undefined && p.trusted?.("exe") !== true) return false;
    if (r.script !== undefined && p.trusted?.("script") !== true) return false;
  }
  return true;
}

/** Compiles `rules` once; throws VigilError(CONFIG_INVALID) for a rule that cannot match. */
export function createRuleMatcher(rules: readonly Rule[]): RuleMatcher {
  const compiled = rules.map(compile);

  const kernel = new Map<string, number>();
  compiled.forEach((r, i) => {
    if (r.comm !== undefined && !kernel.has(r.comm)) kernel.set(r.comm, i);
  });
  const types = [...new Set(compiled.map((r) => r.agentType))];

  return {
    match(p) {
      const ruleIndex = compiled.findIndex((r) => matches(r, p));
      const rule = compiled[ruleIndex];
      return rule === undefined ? undefined : { agentType: rule.agentType, ruleIndex };
    },
    kernelComms: () => kernel,
    agentTypes: () => types,
  };
}
