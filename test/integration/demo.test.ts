/**
 * `vigil demo`, the README's first thing to try, run as a user runs it: the CLI in a child
 * process, as root. It must learn the coding agent, catch the prompt-injected session and print
 * the alert Alertmanager holds, with the stolen files named; a usage mistake must say how to fix
 * it. About a minute; root (eBPF).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
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

/**
 * Processes whose environment or command line mentions one of `texts`: the demo's children
 * carry its directory in their environment, and a session's `vigil exec` and agent name the
 * sensor's socket or the sandbox on their command lines. Pid and command line of each.
 */
function processesMentioning(texts: readonly string[]): string[] {
  const found: string[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "latin1");
      const environ = readFileSync(`/proc/${entry}/environ`, "latin1");
      if (texts.some((t) => cmdline.includes(t) || environ.includes(t))) {
        found.push(`${entry}: ${cmdline.replaceAll("\0", " ").trim()}`);
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

test(
  "vigil demo: SIGTERM mid-way stops vigil run (sensor, NATS) and Alertmanager and removes its files",
  rootOnly(),
  async () => {
    const demoDirs = () =>
      readdirSync(tmpdir()).filter((f) => /^vigil-(demo|scenario|am)-/.test(f));
    const before = new Set(demoDirs());
    const child = spawn(process.execPath, ["--import", TSX, CLI, "demo"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const deadline = Date.now() + 60_000;
    while (!stdout.includes("2/4 learning") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(stdout.includes("2/4 learning"), `demo started:\n${stdout}`);
    const ours = demoDirs().filter((f) => !before.has(f));
    const dir = ours.find((f) => f.startsWith("vigil-demo-"));
    assert.ok(dir, `the demo's directory: ${ours.join(", ")}`);
    const watched = ours.map((f) => join(tmpdir(), f));
    assert.ok(processesMentioning(watched).length > 0, "vigil run is running");
    // Wait for a learning session's vigil exec and agent, which run in their own process group.
    const sessionDeadline = Date.now() + 30_000;
    while (
      !processesMentioning(watched).some((p) => p.includes(" exec ")) &&
      Date.now() < sessionDeadline
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(
      processesMentioning(watched).some((p) => p.includes(" exec ")),
      "a learning session (vigil exec) is running",
    );
    child.kill("SIGTERM");
    assert.equal(await exited, 143);
    // vigil run got SIGINT from the exit hook and stops its sensor and NATS by itself; the
    // session's process group got SIGKILL.
    const until = Date.now() + 30_000;
    while (processesMentioning(watched).length > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.deepEqual(processesMentioning(watched), [], "no process of the demo left");
    assert.deepEqual(
      demoDirs().filter((f) => !before.has(f)),
      [],
      "the sandbox, the pipeline's and Alertmanager's directories are removed",
    );
  },
);
