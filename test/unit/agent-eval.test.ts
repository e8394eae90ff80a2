/**
 * The pure parts of the real-agent evaluation: steps rendered as each agent's own tools, the
 * session plans, the kept state a run resumes from, and the figures (the exact binomial bound).
 */
import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { renderStep, shellFor, type ToolDecl } from "../../training/agents/render.js";
import { planAgentSession, resolvePlaceholders } from "../../training/agents/workload.js";
import { upper95 } from "../../training/atomics/measure.js";
import { EvalStore } from "../../training/atomics/store.js";
import { tempDir } from "../helpers/temp-dir.js";

const decl = (
  name: string,
  props: string[],
  kind: ToolDecl["kind"] = "function",
): [string, ToolDecl] => [
  name,
  { name, kind, properties: Object.fromEntries(props.map((p) => [p, "string"])), required: [] },
];

const CLAUDE = new Map([
  decl("Bash", ["command", "timeout", "description"]),
  decl("Read", ["file_path", "offset", "limit"]),
  decl("Write", ["file_path", "content"]),
  decl("Edit", ["file_path", "old_string", "new_string", "replace_all"]),
]);
const CODEX = new Map([
  decl("exec_command", ["cmd", "workdir"]),
  decl("apply_patch", [], "custom"),
]);
const GEMINI = new Map([
  decl("run_shell_command", ["command", "description"]),
  decl("read_file", ["file_path"]),
  decl("replace", ["file_path", "old_string", "new_string", "instruction"]),
  decl("grep_search", ["pattern", "dir_path", "include_pattern"]),
]);
const OPENCODE = new Map([
  decl("bash", ["command", "description"]),
  decl("read", ["filePath"]),
  decl("edit", ["filePath", "oldString", "newString"]),
  decl("glob", ["pattern", "path"]),
]);

describe("render", () => {
  test("render - each agent's own tool and argument names, absolute paths", () => {
    const edit = { tool: "edit", path: "src/a.js", old: "x = 1;", new: "x = 2;" } as const;
    assert.deepEqual(renderStep(edit, CLAUDE, "/w"), {
      name: "Edit",
      input: { file_path: "/w/src/a.js", old_string: "x = 1;", new_string: "x = 2;" },
    });
    assert.deepEqual(renderStep(edit, OPENCODE, "/w"), {
      name: "edit",
      input: { filePath: "/w/src/a.js", oldString: "x = 1;", newString: "x = 2;" },
    });
    const gemini = renderStep(edit, GEMINI, "/w");
    assert.equal(gemini.name, "replace");
    assert.equal((gemini.input as Record<string, unknown>).instruction, "Edit src/a.js");
    assert.deepEqual(renderStep(edit, CODEX, "/w"), {
      name: "apply_patch",
      input: "*** Begin Patch\n*** Update File: /w/src/a.js\n@@\n-x = 1;\n+x = 2;\n*** End Patch\n",
    });
  });

  test("render - a step the agent has no tool for goes through its shell", () => {
    const read = renderStep({ tool: "read", path: "notes.md" }, CODEX, "/w");
    assert.deepEqual(read, { name: "exec_command", input: { cmd: "sed -n '1,200p' notes.md" } });
    const grep = renderStep({ tool: "grep", pattern: "TODO" }, CLAUDE, "/w");
    assert.equal(grep.name, "Bash");
    assert.match(String((grep.input as { command: string }).command), /^grep -rn -e TODO \. /);
    const fetch = renderStep({ tool: "fetch", url: "http://127.0.0.1:1/x" }, GEMINI, "/w");
    assert.deepEqual(fetch.input, {
      command: "curl -sS --max-time 20 http://127.0.0.1:1/x",
      description: "Fetch http://127.0.0.1:1/x",
    });
    assert.throws(
      () => renderStep({ tool: "shell", command: "ls" }, new Map(), "/w"),
      /no shell tool/,
    );
  });

  test("render - shell writes survive content that holds the heredoc marker", () => {
    const cmd = shellFor({ tool: "write", path: "a b.txt", content: "EOF\nEOF0\nend" });
    assert.match(cmd, /<<'EOF1'\nEOF\nEOF0\nend\nEOF1$/);
    assert.match(cmd, /cat > 'a b\.txt'/);
  });
});

describe("workload", () => {
  test("workload - the attack sits between two benign tasks, marked, and plans repeat by seed", () => {
    const attack = { id: "T0000-1", steps: [{ tool: "shell" as const, command: "id" }] };
    const a = planAgentSession({ seed: 7, sessionId: "s", tasks: 6, attack });
    const b = planAgentSession({ seed: 7, sessionId: "s", tasks: 6, attack });
    assert.deepEqual(a, b);
    assert.ok(a.attack && a.attack.atStep > 0 && a.attack.atStep < a.steps.length - 1);
    assert.deepEqual(a.steps[a.attack.atStep], { step: attack.steps[0], attack: "T0000-1" });
    assert.equal(a.steps.filter((s) => s.attack).length, 1);
  });

  test("workload - no session makes the same edit twice (its old text is gone after the first)", () => {
    for (let seed = 0; seed < 200; seed++) {
      const p = planAgentSession({ seed, sessionId: "s", tasks: 12, kind: "coding" });
      const edits = p.steps.flatMap((s) =>
        s.step.tool === "edit" ? [`${s.step.path}:${s.step.old}`] : [],
      );
      assert.equal(new Set(edits).size, edits.length, `seed ${seed}`);
    }
  });

  test("workload - placeholders are filled, and an unknown one is an error", () => {
    const steps = resolvePlaceholders([{ step: { tool: "fetch", url: "{{WEB}}/a" } }], {
      WEB: "http://127.0.0.1:9",
    });
    assert.deepEqual(steps, [{ step: { tool: "fetch", url: "http://127.0.0.1:9/a" } }]);
    assert.throws(
      () => resolvePlaceholders([{ step: { tool: "shell", command: "{{NOPE}}" } }], {}),
      /NOPE/,
    );
  });
});

describe("store", () => {
  test("store - a run resumes from its records; a line cut off by a stop is dropped, the next is kept", () => {
    const dir = tempDir("vigil-store-");
    const s = new EvalStore(dir);
    const rec = { id: "a", agent: "x", kind: "skipped" as const, reason: "r", test: {} as never };
    s.append(rec);
    appendFileSync(join(dir, "sessions", "x.jsonl"), '{"id":"b","agent":"x","ki');
    assert.deepEqual(
      s.records("x").map((r) => r.id),
      ["a"],
    );
    s.append({ ...rec, id: "c" });
    assert.deepEqual(
      new EvalStore(dir).records("x").map((r) => r.id),
      ["a", "c"],
    );
  });

  test("store - resuming with other options is refused, naming them", () => {
    const dir = tempDir("vigil-store-");
    new EvalStore(dir).checkOptions({ seed: 0 });
    new EvalStore(dir).checkOptions({ seed: 0 });
    assert.throws(
      () => new EvalStore(dir).checkOptions({ seed: 1 }),
      /other options[\s\S]*"seed": 0/,
    );
  });
});

describe("measure", () => {
  test("measure - the exact one-sided 95 % upper bound of a rate", () => {
    assert.ok(Math.abs(upper95(0, 100) - (1 - 0.05 ** (1 / 100))) < 1e-6); // 0.0295
    assert.ok(Math.abs(upper95(1, 100) - 0.0466) < 5e-4);
    assert.ok(Math.abs(upper95(5, 1000) - 0.0105) < 5e-4);
    assert.equal(upper95(0, 0), 1);
    assert.equal(upper95(3, 3), 1);
  });
});
