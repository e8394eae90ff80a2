import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import {
  createRuleMatcher,
  DEFAULT_AGENT_RULES,
  type ProcessFacts,
  type Rule,
} from "../../src/sensor/rules.js";

const defaults = createRuleMatcher(DEFAULT_AGENT_RULES);

function facts(p: Partial<ProcessFacts> & { argv?: readonly string[] }): ProcessFacts {
  const argv = p.argv ?? [];
  return {
    exe: p.exe ?? "/usr/bin/true",
    comm: p.comm ?? "true",
    argv,
    ...(p.cgroup === undefined ? {} : { cgroup: p.cgroup }),
  };
}

const agentOf = (p: Partial<ProcessFacts>) => defaults.match(facts(p))?.agentType;

test("rules - defaults cover the well-known agent CLIs", () => {
  const types = new Set(DEFAULT_AGENT_RULES.map((r) => r.agentType));
  assert.deepEqual(
    [...types].sort(),
    ["aider", "claude-code", "codex", "gemini-cli", "goose", "opencode", "qwen-code"].sort(),
  );
});

test("rules - defaults match agents by comm", () => {
  const cases: [string, string][] = [
    ["claude", "claude-code"],
    ["codex", "codex"],
    ["gemini", "gemini-cli"],
    ["aider", "aider"],
    ["goose", "goose"],
    ["opencode", "opencode"],
    ["qwen", "qwen-code"],
  ];
  for (const [comm, agentType] of cases) {
    assert.equal(agentOf({ comm, exe: `/usr/local/bin/${comm}` }), agentType, comm);
  }
});

test("rules - defaults match node running an agent package", () => {
  const cases: [string, string, string][] = [
    ["/usr/bin/node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", "claude-code"],
    [
      "/home/u/.nvm/versions/node/v20.11.0/bin/node",
      "/home/u/.nvm/versions/node/v20.11.0/lib/node_modules/@anthropic-ai/claude-code/cli.js",
      "claude-code",
    ],
    ["/usr/bin/node", "/usr/lib/node_modules/@openai/codex/bin/codex.js", "codex"],
    ["/usr/bin/node", "/srv/agents/node_modules/.bin/codex", "codex"],
    ["/usr/bin/node", "/usr/local/bin/codex", "codex"],
    [
      "/usr/local/bin/node",
      "/usr/local/lib/node_modules/@google/gemini-cli/dist/index.js",
      "gemini-cli",
    ],
    ["/usr/bin/node", "/usr/lib/node_modules/@qwen-code/qwen-code/cli.js", "qwen-code"],
    ["/usr/bin/node", "/srv/agents/node_modules/.bin/qwen", "qwen-code"],
  ];
  for (const [exe, script, agentType] of cases) {
    assert.equal(agentOf({ exe, comm: "node", argv: ["node", script] }), agentType, script);
    // Node options before the script change nothing.
    assert.equal(
      agentOf({ exe, comm: "node", argv: ["node", "--no-warnings", script, "--print", "hi"] }),
      agentType,
    );
  }
});

test("rules - node running an unrelated script does not match", () => {
  for (const argv of [
    ["node", "/srv/app/server.js"],
    ["node", "build.js", "--name", "claude"],
    ["node", "/usr/lib/node_modules/npm/bin/npm-cli.js", "install", "claude-code"],
    ["node", "/home/u/src/claude-code-clone/index.js"],
  ]) {
    assert.equal(agentOf({ exe: "/usr/bin/node", comm: "node", argv }), undefined, argv.join(" "));
  }
});

test("rules - the package path alone does not match a non-node executable", () => {
  assert.equal(
    agentOf({
      exe: "/usr/bin/grep",
      comm: "grep",
      argv: ["grep", "-r", "TODO", "/usr/lib/node_modules/@anthropic-ai/claude-code/"],
    }),
    undefined,
  );
  // A binary merely named like node is not node.
  assert.equal(
    agentOf({
      exe: "/usr/bin/nodemon",
      comm: "nodemon",
      argv: ["nodemon", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"],
    }),
    undefined,
  );
});

test("rules - codex's bundled native binary is codex", () => {
  const exe = "/usr/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex";
  assert.equal(agentOf({ exe, comm: "codex-x86_64-un", argv: [exe, "exec"] }), "codex");
});

test("rules - aider under python is aider, other python is not", () => {
  const py = "/usr/bin/python3.11";
  assert.equal(
    agentOf({ exe: py, comm: "python3", argv: ["python3", "/home/u/.local/bin/aider"] }),
    "aider",
  );
  assert.equal(
    agentOf({
      exe: py,
      comm: "python3",
      argv: ["python3", "/home/u/.local/bin/aider", "--model", "x"],
    }),
    "aider",
  );
  assert.equal(
    agentOf({ exe: py, comm: "python3", argv: ["python3", "-m", "aider", "--yes"] }),
    "aider",
  );
  assert.equal(
    agentOf({ exe: py, comm: "python3", argv: ["python3", "manage.py", "runserver"] }),
    undefined,
  );
  assert.equal(
    agentOf({ exe: py, comm: "python3", argv: ["python3", "/srv/aider_stats.py"] }),
    undefined,
  );
  assert.equal(
    agentOf({ exe: py, comm: "python3", argv: ["python3", "/srv/not-aider"] }),
    undefined,
  );
  // "aider" in argv of something that is not python.
  assert.equal(
    agentOf({ exe: "/usr/bin/cat", comm: "cat", argv: ["cat", "/opt/aider"] }),
    undefined,
  );
});

test("rules - an ordinary process matches nothing", () => {
  assert.equal(
    agentOf({ exe: "/usr/bin/bash", comm: "bash", argv: ["bash", "-c", "ls"] }),
    undefined,
  );
  assert.equal(agentOf({ comm: "claude-desktop", exe: "/opt/Claude/claude-desktop" }), undefined);
});

test("rules - all matchers of a rule must match", () => {
  const m = createRuleMatcher([
    {
      agentType: "a",
      comm: "agent",
      exe: "/opt/agent/bin/*",
      argv: "--serve",
      cgroup: "/agents/**",
    },
  ]);
  const ok = {
    comm: "agent",
    exe: "/opt/agent/bin/agent",
    argv: ["agent", "--serve"],
    cgroup: "/agents/x",
  };
  assert.deepEqual(m.match(ok), { agentType: "a", ruleIndex: 0 });
  assert.equal(m.match({ ...ok, comm: "other" }), undefined);
  assert.equal(m.match({ ...ok, exe: "/usr/bin/agent" }), undefined);
  assert.equal(m.match({ ...ok, argv: ["agent"] }), undefined);
  assert.equal(m.match({ ...ok, cgroup: "/system.slice/x" }), undefined);
  const { cgroup: _omit, ...noCgroup } = ok;
  assert.equal(m.match(noCgroup), undefined, "a cgroup matcher needs a known cgroup");
});

test("rules - the first matching rule wins and its index is reported", () => {
  const rules: Rule[] = [
    { agentType: "special", comm: "node", argv: "special\\.js" },
    { agentType: "generic", comm: "node" },
    { agentType: "never", comm: "node" },
  ];
  const m = createRuleMatcher(rules);
  assert.deepEqual(m.match(facts({ comm: "node", argv: ["node", "special.js"] })), {
    agentType: "special",
    ruleIndex: 0,
  });
  assert.deepEqual(m.match(facts({ comm: "node", argv: ["node", "other.js"] })), {
    agentType: "generic",
    ruleIndex: 1,
  });
  assert.equal(m.match(facts({ comm: "deno" })), undefined);
  assert.equal(createRuleMatcher([]).match(facts({ comm: "node" })), undefined);
});

test("rules - comm is compared exactly", () => {
  const m = createRuleMatcher([{ agentType: "a", comm: "claude" }]);
  assert.ok(m.match(facts({ comm: "claude" })));
  assert.equal(m.match(facts({ comm: "Claude" })), undefined);
  assert.equal(m.match(facts({ comm: "claude2" })), undefined);
  assert.equal(m.match(facts({ comm: "claud" })), undefined);
});

test("rules - exe globs: * stays in a segment, ** spans segments", () => {
  const exe = (glob: string, path: string) =>
    createRuleMatcher([{ agentType: "a", exe: glob }]).match(facts({ exe: path })) !== undefined;
  assert.ok(exe("/usr/bin/*", "/usr/bin/node"));
  assert.ok(!exe("/usr/bin/*", "/usr/bin/sub/node"));
  assert.ok(exe("/usr/**", "/usr/bin/sub/node"));
  assert.ok(exe("/opt/*/bin/agent", "/opt/v1/bin/agent"));
  assert.ok(!exe("/opt/*/bin/agent", "/opt/v1/x/bin/agent"));
  assert.ok(exe("/opt/**/agent", "/opt/agent"), "**/ also matches no directory");
  assert.ok(exe("/opt/**/agent", "/opt/a/b/c/agent"));
  assert.ok(exe("**/node", "/node"));
  assert.ok(exe("**/node", "/home/u/.nvm/versions/node/v20/bin/node"));
  assert.ok(!exe("**/node", "/usr/bin/nodejs"));
  assert.ok(exe("/usr/bin/python3*", "/usr/bin/python3.12"));
  // Globs are anchored at both ends.
  assert.ok(!exe("/usr/bin/node", "/usr/bin/node2"));
  assert.ok(!exe("bin/node", "/usr/bin/node"));
});

test("rules - glob characters other than * are literal", () => {
  const exe = (glob: string, path: string) =>
    createRuleMatcher([{ agentType: "a", exe: glob }]).match(facts({ exe: path })) !== undefined;
  assert.ok(exe("/opt/a.b/x", "/opt/a.b/x"));
  assert.ok(!exe("/opt/a.b/x", "/opt/aXb/x"));
  assert.ok(exe("/opt/c++/(x)[1]?/x", "/opt/c++/(x)[1]?/x"));
  assert.ok(!exe("/opt/?", "/opt/a"));
  assert.ok(exe("/opt/$HOME^/x", "/opt/$HOME^/x"));
});

test("rules - cgroup globs match the cgroup v2 path", () => {
  const m = createRuleMatcher([{ agentType: "sandboxed", cgroup: "/user.slice/**/agent-*.scope" }]);
  assert.ok(
    m.match(
      facts({ cgroup: "/user.slice/user-1000.slice/user@1000.service/app.slice/agent-42.scope" }),
    ),
  );
  assert.ok(m.match(facts({ cgroup: "/user.slice/agent-1.scope" })));
  assert.equal(m.match(facts({ cgroup: "/system.slice/agent-1.scope" })), undefined);
  assert.equal(m.match(facts({ cgroup: "/user.slice/x/agent-1.scope/child" })), undefined);
});

test("rules - argv is a regex searched in argv joined by spaces", () => {
  const m = createRuleMatcher([{ agentType: "a", argv: "^bun run agent( |$)" }]);
  assert.ok(m.match(facts({ argv: ["bun", "run", "agent"] })));
  assert.ok(m.match(facts({ argv: ["bun", "run", "agent", "--x"] })));
  assert.equal(m.match(facts({ argv: ["bun", "run", "agents"] })), undefined);
  assert.equal(m.match(facts({ argv: ["x", "bun", "run", "agent"] })), undefined);
  const unanchored = createRuleMatcher([{ agentType: "a", argv: "agent" }]);
  assert.ok(unanchored.match(facts({ argv: ["x", "my-agent-thing"] })));
  assert.equal(unanchored.match(facts({ argv: [] })), undefined);
});

test("rules - kernelComms lists comm-only default rules with their index", () => {
  const comms = defaults.kernelComms();
  assert.deepEqual([...comms.keys()].sort(), [
    "aider",
    "claude",
    "codex",
    "gemini",
    "goose",
    "opencode",
    "qwen",
  ]);
  for (const [comm, index] of comms) {
    assert.equal(DEFAULT_AGENT_RULES[index]?.comm, comm);
    // The kernel's answer must be the one user space would give.
    assert.equal(defaults.match(facts({ comm }))?.ruleIndex, index);
  }
});

test("rules - kernelComms leaves out comms an earlier rule could claim", () => {
  const m = createRuleMatcher([
    { agentType: "a", comm: "alpha", cgroup: "/a/**" }, // could claim "alpha" first
    { agentType: "b", comm: "alpha" },
    { agentType: "c", comm: "gamma" },
    { agentType: "d", comm: "gamma" }, // duplicate: the first keeps it
    { agentType: "e", comm: "epsilon", exe: "/usr/bin/*" }, // not comm-only
    { agentType: "f", argv: "serve" }, // no comm: could claim anything after it
    { agentType: "g", comm: "omega" },
  ]);
  assert.deepEqual([...m.kernelComms()], [["gamma", 2]]);
});

test("rules - an invalid rule fails with CONFIG_INVALID", () => {
  assert.throws(
    () => createRuleMatcher([{ agentType: "a", argv: "(" }]),
    (e: unknown) => isVigilError(e, ErrorCodes.CONFIG_INVALID) && e.message.includes("rule 0"),
  );
  assert.throws(
    () => createRuleMatcher([{ agentType: "ok", comm: "x" }, { agentType: "a" }]),
    (e: unknown) => isVigilError(e, ErrorCodes.CONFIG_INVALID) && e.message.includes("rule 1"),
  );
});

test("rules - DEFAULT_AGENT_RULES is frozen", () => {
  assert.ok(Object.isFrozen(DEFAULT_AGENT_RULES));
  assert.ok(DEFAULT_AGENT_RULES.every((r) => Object.isFrozen(r)));
  assert.ok(
    DEFAULT_AGENT_RULES.every((r) => r.comm === undefined || Buffer.byteLength(r.comm) <= 15),
  );
});

test("rules - operator regexes and globs match in linear time", () => {
  // Each would take seconds to years in a backtracking engine on this input.
  const m = createRuleMatcher([
    { agentType: "a", argv: "(a+)+$" },
    { agentType: "b", argv: "(x|x)*y" },
    { agentType: "c", exe: "/*a*a*a*a*a*a*a*b" },
    { agentType: "d", cgroup: "/**/**/**/**/**/**/z" },
  ]);
  const start = performance.now();
  const long = "a".repeat(5000);
  assert.equal(m.match(facts({ argv: [`${long}!`, "x".repeat(5000)] })), undefined);
  assert.equal(m.match(facts({ exe: `/${long}`, cgroup: "/a".repeat(2500) })), undefined);
  const ms = performance.now() - start;
  assert.ok(ms < 500, `${ms.toFixed(0)} ms`);
  assert.equal(m.match(facts({ argv: ["aaa"] }))?.agentType, "a");
  assert.equal(m.match(facts({ argv: ["xxy"] }))?.agentType, "b");
});

test("rules - a regex the linear-time engine refuses is a config error with the fix", () => {
  for (const [argv, fix] of [
    ["(node)\\1", /backreferences/],
    ["claude(?!-code)", /lookahead/],
    ["(?<=bin/)codex", /lookbehind/],
  ] as const) {
    assert.throws(
      () => createRuleMatcher([{ agentType: "a", argv }]),
      (e: unknown) =>
        isVigilError(e, ErrorCodes.CONFIG_INVALID) &&
        e.message.startsWith("rule 0 (a): argv:") &&
        fix.test(e.hint ?? ""),
      argv,
    );
  }
});
