/**
 * `vigil demo`, the README's first thing to try, run as a user runs it: the CLI in a child
 * process, as root. It must learn the coding agent, catch the prompt-injected session and print
 * the alert Alertmanager holds, with the stolen files named; a usage mistake must say how to fix
 * it. About a minute; root (eBPF).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { REPO } from "../helpers/build-fixture.js";
import { rootOnly } from "../helpers/root.js";

const TSX = import.meta.resolve("tsx");
const CLI = join(REPO, "src/cli/main.ts");

function vigil(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TSX, CLI, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

test("vigil demo: a bad --attack is refused with the list of attacks", async () => {
  const r = await vigil(["demo", "--attack", "rm-rf-slash"]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /unknown --agent-type or --attack/);
  assert.match(r.stderr, /VIGIL_ERR_USAGE/);
  assert.match(r.stderr, /exfil-credentials/);
  assert.equal(r.stdout, "");
});

test(
  "vigil demo: learns a coding agent, then prints the credential theft as Alertmanager shows it",
  rootOnly(),
  async () => {
    const ours = () =>
      new Set(readdirSync(tmpdir()).filter((f) => /^vigil-(demo|scenario)-/.test(f)));
    const before = ours();
    const r = await vigil(["demo", "--sessions", "12"]);
    assert.equal(r.code, 0, `demo failed:\n${r.stdout}\n${r.stderr}`);
    const out = r.stdout;
    for (const step of ["1/4 starting Vigil", "2/4 learning", "3/4 detecting", "4/4 Alertmanager"])
      assert.ok(out.includes(step), `step "${step}" printed:\n${out}`);
    const alert = out.slice(out.indexOf("4/4 Alertmanager"));
    assert.match(
      alert,
      /AgentBehaviorAnomaly {2}\[critical\] {2}coding-agent demo-exfil-credentials/,
    );
    assert.match(alert, /summary: .*~\/\.ssh\/id_rsa/);
    assert.match(
      alert,
      /Never seen in the baseline:[\s\S]*file: ~\/\.aws\/credentials \(secret:read\)/,
    );
    assert.match(alert, /destination: out tcp 127\.0\.0\.1:\d+/);
    // Its sandbox (fake HOME, workspaces) and its pipeline's files are removed afterwards.
    assert.deepEqual(
      [...ours()].filter((f) => !before.has(f)),
      [],
      "demo left files in /tmp",
    );
  },
);
