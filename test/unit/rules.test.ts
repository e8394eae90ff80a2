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

function facts(
  p: Partial<Omit<ProcessFacts, "trusted">> & { trusted?: boolean | ProcessFacts["trusted"] },
): ProcessFacts {
  const { trusted, ...rest } = p;
  return {
    exe: rest.exe ?? "/usr/bin/true",
    comm: rest.comm ?? "true",
    argv: rest.argv ?? [],
    ...(rest.cgroup === undefined ? {} : { cgroup: rest.cgroup }),
    ...(rest.script === undefined ? {} : { script: rest.script }),
    ...(trusted === undefined
      ? {}
      : { trusted: typeof trusted === "function" ? trusted : () => trusted }),
  };
}

/** The default rules' answer for a process whose files are all trusted, unless told. */
const agentOf = (p: Parameters<typeof facts>[0]) =>
  defaults.match(facts({ trusted: true, ...p }))?.agentType;

// Where npm puts a package: system prefixes, a user prefix, nvm, a project (the evaluation's).
const PREFIXES = [
  "/usr/lib/node_modules",
  "/usr/local/lib/node_modules",
  "/home/u/.npm-global/lib/node_modules",
  "/home/u/.local/lib/node_modules",
  "/home/u/.nvm/versions/node/v20.11.0/lib/node_modules",
  "/srv/vigil/agents/node_modules",
];

test("rules - defaults cover the well-known agent CLIs", () => {
  const types = new Set(DEFAULT_AGENT_RULES.map((r) => r.agentType));
  assert.deepEqual(
    [...types].sort(),
    ["aider", "claude-code", "codex", "gemini-cli", "goose", "opencode", "qwen-code"].sort(),
  );
  assert.deepEqual([...defaults.agentTypes()].sort(), [...types].sort());
});

test("rules - no default rule matches on comm alone; each checks a path and its owner", () => {
  for (const r of DEFAULT_AGENT_RULES) {
    assert.ok(r.exe !== undefined || r.script !== undefined, JSON.stringify(r));
    assert.equal(r.owner, undefined, "owner defaults to trusted");
  }
});

test("rules - defaults match the native agent binaries under every npm prefix", () => {
  for (const prefix of PREFIXES) {
    const cases: [string, string, string][] = [
      // comm: the npm bin shim's name, which the kernel takes from the exec'd link
      [`${prefix}/@anthropic-ai/claude-code/bin/claude.exe`, "claude", "claude-code"],
      [`${prefix}/@anthropic-ai/claude-code/bin/claude.exe`, "claude.exe", "claude-code"],
      [`${prefix}/@anthropic-ai/claude-code-linux-x64/claude`, "claude", "claude-code"],
      [`${prefix}/opencode-ai/bin/opencode.exe`, "opencode", "opencode"],
      [`${prefix}/opencode-linux-x64/bin/opencode`, "opencode", "opencode"],
      [
        `${prefix}/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex`,
        "codex",
        "codex",
      ],
      [
        `${prefix}/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex`,
        "codex-x86_64-un",
        "codex",
      ],
    ];
    for (const [exe, comm, agentType] of cases) {
      assert.equal(agentOf({ exe, comm, argv: [exe] }), agentType, exe);
    }
  }
  // The native installers: ~/.local/bin/claude links to a version; opencode's own directory.
  assert.equal(
    agentOf({ exe: "/home/u/.local/share/claude/versions/2.1.3", comm: "claude" }),
    "claude-code",
  );
  assert.equal(agentOf({ exe: "/home/u/.opencode/bin/opencode", comm: "opencode" }), "opencode");
  assert.equal(agentOf({ exe: "/home/u/.local/bin/goose", comm: "goose" }), "goose");
});

test("rules - defaults match node running an agent package's script", () => {
  const cases: [string, string][] = [
    ["@anthropic-ai/claude-code/cli.js", "claude-code"],
    ["@openai/codex/bin/codex.js", "codex"],
    ["@google/gemini-cli/bundle/gemini.js", "gemini-cli"],
    ["@google/gemini-cli/dist/index.js", "gemini-cli"],
    ["@qwen-code/qwen-code/cli-entry.js", "qwen-code"],
    ["@qwen-code/qwen-code/cli.js", "qwen-code"],
    ["opencode-ai/bin/opencode", "opencode"],
  ];
  for (const prefix of PREFIXES) {
    for (const exe of ["/usr/bin/node", "/home/u/.nvm/versions/node/v20.11.0/bin/node"]) {
      for (const [rel, agentType] of cases) {
        const script = `${prefix}/${rel}`;
        // argv names the bin shim; `script` is what it resolves to.
        assert.equal(
          agentOf({ exe, comm: "node", argv: ["node", "/usr/bin/x"], script }),
          agentType,
          script,
        );
      }
    }
  }
});

test("rules - node running an unrelated script does not match", () => {
  for (const script of [
    "/srv/app/server.js",
    "/usr/lib/node_modules/npm/bin/npm-cli.js",
    "/home/u/src/claude-code-clone/index.js",
    "/usr/lib/node_modules/@openai/codex-sdk/index.js",
    "",
  ]) {
    assert.equal(agentOf({ exe: "/usr/bin/node", comm: "node", script }), undefined, script);
  }
  // An agent's name in argv proves nothing.
  assert.equal(
    agentOf({
      exe: "/usr/bin/node",
      comm: "node",
      argv: ["node", "build.js", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"],
      script: "/srv/build.js",
    }),
    undefined,
  );
});

test("rules - the package's script does not make any executable an agent", () => {
  const script = "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js";
  assert.equal(agentOf({ exe: "/usr/bin/grep", comm: "grep", script }), undefined);
  // A binary merely named like node is not node; nor is env, which runs node next.
  assert.equal(agentOf({ exe: "/usr/bin/nodemon", comm: "nodemon", script }), undefined);
  assert.equal(agentOf({ exe: "/usr/bin/env", comm: "claude", script }), undefined);
});

test("rules - a comm or a path is not enough: the files must be trusted", () => {
  // `cp /bin/sleep ~/claude`: the kernel names it "claude".
  assert.equal(agentOf({ comm: "claude", exe: "/home/mallory/claude" }), undefined);
  assert.equal(agentOf({ comm: "opencode", exe: "/tmp/opencode" }), undefined);
  // The same copy at an npm path, in a directory its owner can write: not trusted.
  const exe = "/home/mallory/.npm-global/lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe";
  assert.equal(agentOf({ comm: "claude", exe, trusted: false }), undefined);
  assert.equal(defaults.match(facts({ comm: "claude", exe })), undefined, "unknown: untrusted");
  // node is trusted, the script is not (or the other way round).
  const script = "/home/mallory/node_modules/@openai/codex/bin/codex.js";
  const only = (ok: "exe" | "script") => (what: "exe" | "script") => what === ok;
  assert.equal(agentOf({ exe: "/usr/bin/node", script, trusted: only("exe") }), undefined);
  assert.equal(agentOf({ exe: "/usr/bin/node", script, trusted: only("script") }), undefined);
  assert.equal(
    agentOf({ exe: "/usr/bin/node", script, trusted: () => true }),
    "codex",
    "both trusted: codex",
  );
});

test("rules - defaults: aider is python running aider's entry point", () => {
  const py = "/usr/bin/python3.11";
  for (const script of [
    "/usr/local/bin/aider",
    "/home/u/.local/share/pipx/venvs/aider-chat/bin/aider",
  ]) {
    assert.equal(agentOf({ exe: py, comm: "aider", script }), "aider", script);
  }
  for (const script of ["/srv/manage.py", "/srv/aider_stats.py", "/srv/not-aider", ""]) {
    assert.equal(agentOf({ exe: py, comm: "python3", script }), undefined, script);
  }
  assert.equal(agentOf({ exe: "/usr/bin/cat", comm: "cat", script: "/usr/bin/aider" }), undefined);
});

test("rules - owner any: the path alone decides; owner needs a path", () => {
  const m = createRuleMatcher([{ agentType: "a", exe: "/opt/a/bin/*", owner: "any" }]);
  assert.ok(m.match(facts({ exe: "/opt/a/bin/run" })), "no trust needed");
  const strict = createRuleMatcher([{ agentType: "a", exe: "/opt/a/bin/*" }]);
  assert.equal(strict.match(facts({ exe: "/opt/a/bin/run" })), undefined);
  assert.ok(strict.match(facts({ exe: "/opt/a/bin/run", trusted: true })));
  // A comm-only rule, written on purpose, matches on comm alone.
  assert.ok(
    createRuleMatcher([{ agentType: "a", comm: "claude" }]).match(facts({ comm: "claude" })),
  );
  assert.throws(
    () => createRuleMatcher([{ agentType: "a", comm: "x", owner: "trusted" }]),
    (e: unknown) => isVigilError(e, ErrorCodes.CONFIG_INVALID) && /owner applies/.test(e.message),
  );
});

test("rules - script globs match the resolved script", () => {
  const m = createRuleMatcher([{ agentType: "a", exe: "**/node", script: "/opt/a/**/*.js" }]);
  assert.ok(m.match(facts({ exe: "/usr/bin/node", script: "/opt/a/x/main.js", trusted: true })));
  assert.equal(
    m.match(facts({ exe: "/usr/bin/node", script: "/opt/b/main.js", trusted: true })),
    undefined,
  );
  assert.equal(m.match(facts({ exe: "/usr/bin/node", trusted: true })), undefined, "no script");
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
    trusted: () => true,
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
    createRuleMatcher([{ agentType: "a", exe: glob, owner: "any" }]).match(facts({ exe: path })) !==
    undefined;
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
    createRuleMatcher([{ agentType: "a", exe: glob, owner: "any" }]).match(facts({ exe: path })) !==
    undefined;
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

test("rules - kernelComms lists the defaults' native binaries' comms", () => {
  const comms = defaults.kernelComms();
  assert.deepEqual([...comms.keys()].sort(), ["claude", "goose", "opencode"]);
  for (const [comm, index] of comms) {
    assert.equal(DEFAULT_AGENT_RULES[index]?.comm, comm);
  }
  // Never the name of a `#!` script's shim: its first exec runs env, which no rule matches,
  // and only node's exec after it shows the script.
  for (const shim of ["codex", "gemini", "qwen", "aider"]) assert.ok(!comms.has(shim), shim);
});

test("rules - kernelComms lists every rule's comm, first rule first", () => {
  const m = createRuleMatcher([
    { agentType: "a", comm: "alpha", cgroup: "/a/**" },
    { agentType: "b", comm: "alpha" },
    { agentType: "c", comm: "gamma" },
    { agentType: "e", comm: "epsilon", exe: "/usr/bin/*" },
    { agentType: "f", argv: "serve" },
  ]);
  assert.deepEqual(
    [...m.kernelComms()],
    [
      ["alpha", 0],
      ["gamma", 2],
      ["epsilon", 3],
    ],
  );
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
