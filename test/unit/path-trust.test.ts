/**
 * Trust in files on disk, with real files, owners and modes (root: chown), and the attack the
 * default rules must refuse: an unprivileged user's copy of /bin/sleep named like an agent, at
 * the agent's own npm path, running.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { createPathTrust } from "../../src/sensor/path-trust.js";
import { processFacts, scriptArgument } from "../../src/sensor/proc.js";
import { createRuleMatcher, DEFAULT_AGENT_RULES } from "../../src/sensor/rules.js";
import { rootOnly } from "../helpers/root.js";
import { tempDir } from "../helpers/temp-dir.js";
import { NOBODY } from "../helpers/vigil-run.js";

test("proc - scriptArgument: the interpreter's first argument that is no option", () => {
  assert.equal(scriptArgument(["node", "/a/cli.js", "x"]), "/a/cli.js");
  assert.equal(
    scriptArgument(["node", "--no-warnings", "--max-old-space-size=8192", "b.js"]),
    "b.js",
  );
  assert.equal(scriptArgument(["node", "--require", "/x/hook.js", "c.js"]), "c.js");
  assert.equal(scriptArgument(["node", "-r", "hook", "--import", "tsx", "d.js"]), "d.js");
  assert.equal(scriptArgument(["node", "--", "-e.js"]), "-e.js");
  assert.equal(scriptArgument(["node", "-e", "code", "/a/cli.js"]), undefined);
  assert.equal(scriptArgument(["python3", "-m", "aider"]), undefined);
  assert.equal(scriptArgument(["python3", "-W", "ignore", "/usr/bin/aider"]), "/usr/bin/aider");
  assert.equal(scriptArgument(["node", "-"]), undefined);
  assert.equal(scriptArgument(["node"]), undefined);
});

/** mkdir -p (root's), then the last directory given to `uid`. */
function dirs(path: string, uid: number, mode = 0o755): void {
  mkdirSync(path, { recursive: true });
  chownSync(path, uid, uid);
  chmodSync(path, mode);
}

function file(path: string, uid: number, mode = 0o755): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, "#!/bin/sh\n");
  chownSync(path, uid, uid);
  chmodSync(path, mode);
  return path;
}

describe("path trust (real files)", rootOnly(), () => {
  // mkdtemp makes a root-owned 0700 directory in /tmp (1777): trusted, as the sticky bit keeps
  // others from replacing it.
  const base = join(tempDir("vigil-trust-"), "vigil-trust-root");
  mkdirSync(base, { mode: 0o755 });
  chmodSync(dirname(base), 0o755);
  const trust = createPathTrust();

  test("trust - root's file in root's directories; not a directory, not missing", () => {
    const f = file(join(base, "ok/bin/agent"), 0);
    assert.equal(trust.isTrusted(f), true);
    assert.equal(trust.isTrusted(dirname(f)), false, "a directory is not a file");
    assert.equal(trust.isTrusted(join(base, "ok/bin/missing")), false);
    assert.equal(trust.isTrusted("relative/agent"), false);
    assert.equal(trust.isTrusted(`${base}/ok/./bin/../bin/agent`), true, ". and .. resolve");
  });

  test("trust - another user's file, or a file in another user's directory, is not trusted", () => {
    const theirs = file(join(base, "u1/agent"), NOBODY);
    assert.equal(trust.isTrusted(theirs), false);
    assert.equal(createPathTrust([NOBODY]).isTrusted(theirs), true, "unless the uid is trusted");
    dirs(join(base, "u2/home"), NOBODY);
    const inTheirDir = file(join(base, "u2/home/agent"), 0);
    assert.equal(trust.isTrusted(inTheirDir), false, "they can replace it");
  });

  test("trust - writable by others: never, except a sticky directory's trusted entries", () => {
    const open = join(base, "w1");
    const f1 = file(join(open, "agent"), 0);
    chmodSync(open, 0o777);
    assert.equal(trust.isTrusted(f1), false);
    const sticky = join(base, "w2");
    const f2 = file(join(sticky, "agent"), 0);
    const f3 = file(join(sticky, "fake"), NOBODY);
    chmodSync(sticky, 0o1777);
    assert.equal(trust.isTrusted(f2), true, "others cannot rename or remove root's entry");
    assert.equal(trust.isTrusted(f3), false);
    const group = join(base, "w3");
    const f4 = file(join(group, "agent"), 0);
    chownSync(group, 0, NOBODY);
    chmodSync(group, 0o775);
    assert.equal(trust.isTrusted(f4), false, "group-writable for a group other than root's");
    const writable = file(join(base, "w4/agent"), 0, 0o777);
    assert.equal(trust.isTrusted(writable), false, "a file others may write");
  });

  test("trust - symlinks are followed, and each link's own directory counts", () => {
    const target = file(join(base, "l/pkg/cli.js"), 0);
    symlinkSync("pkg/cli.js", join(base, "l/link"));
    assert.equal(trust.isTrusted(join(base, "l/link")), true);
    dirs(join(base, "l/theirs"), NOBODY);
    symlinkSync(target, join(base, "l/theirs/link"));
    assert.equal(trust.isTrusted(join(base, "l/theirs/link")), false, "they can repoint it");
    const fake = file(join(base, "l/fake/cli.js"), NOBODY);
    symlinkSync(fake, join(base, "l/to-fake"));
    assert.equal(trust.isTrusted(join(base, "l/to-fake")), false, "a trusted link to their file");
    symlinkSync("loop", join(base, "l/loop"));
    assert.equal(trust.isTrusted(join(base, "l/loop")), false);
  });

  describe("the attack: an unprivileged user's copy of /bin/sleep named like an agent", () => {
    const defaults = createRuleMatcher(DEFAULT_AGENT_RULES);
    const children: ChildProcess[] = [];
    after(() => {
      for (const c of children) c.kill("SIGKILL");
    });

    /** Runs `argv` as nobody; resolves once it has exec'd `exe`. */
    async function runAsNobody(argv: string[], cwd = "/"): Promise<number> {
      const child = spawn(
        "setpriv",
        [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--", ...argv],
        { stdio: "ignore", cwd },
      );
      children.push(child);
      const pid = child.pid as number;
      for (let i = 0; i < 200; i++) {
        try {
          if (!readlinkSync(`/proc/${pid}/exe`).endsWith("/setpriv")) return pid;
        } catch {}
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`${argv[0]} did not start`);
    }

    const matchOf = (pid: number, comm: string, argv: string[], filename?: string) =>
      defaults.match(processFacts(pid, { comm, argv, ...(filename ? { filename } : {}) }, trust))
        ?.agentType;

    test("attack - ~/claude, and a copy at claude-code's npm path in their home, are not claude-code", async () => {
      const home = join(base, "home-mallory");
      dirs(home, NOBODY, 0o700);
      const claude = join(home, "claude");
      copyFileSync("/bin/sleep", claude);
      chownSync(claude, NOBODY, NOBODY);
      const pid = await runAsNobody([claude, "30"]);
      assert.equal(matchOf(pid, "claude", [claude, "30"], claude), undefined);

      const npm = join(home, ".npm-global/lib/node_modules/@anthropic-ai/claude-code/bin");
      dirs(npm, NOBODY);
      const exe = join(npm, "claude.exe");
      copyFileSync("/bin/sleep", exe);
      chownSync(exe, NOBODY, NOBODY);
      const pid2 = await runAsNobody([exe, "30"]);
      assert.equal(matchOf(pid2, "claude", [exe, "30"], exe), undefined);

      // The same copy where only root can write is what the rules take for claude-code: the
      // rules do match this path, and refuse the copies above for their owner alone.
      const trusted = join(base, "opt/node_modules/@anthropic-ai/claude-code/bin/claude.exe");
      mkdirSync(dirname(trusted), { recursive: true });
      copyFileSync("/bin/sleep", trusted);
      const pid3 = await runAsNobody([trusted, "30"]);
      assert.equal(matchOf(pid3, "claude.exe", [trusted, "30"], trusted), "claude-code");
    });

    test("attack - node running their copy of codex's script is not codex; root's copy is", async () => {
      const theirs = join(base, "home-eve/node_modules/@openai/codex/bin/codex.js");
      dirs(dirname(theirs), NOBODY);
      file(theirs, NOBODY, 0o644);
      writeFileSync(theirs, "setTimeout(() => {}, 30000);\n");
      const pid = await runAsNobody([process.execPath, theirs]);
      assert.equal(matchOf(pid, "node", [process.execPath, theirs]), undefined);

      const root = join(base, "opt/node_modules/@openai/codex/bin/codex.js");
      file(root, 0, 0o644);
      writeFileSync(root, "setTimeout(() => {}, 30000);\n");
      // Relative to its working directory, as a shell would start it.
      const pid2 = await runAsNobody(
        [process.execPath, "--no-warnings", "codex.js"],
        dirname(root),
      );
      assert.equal(matchOf(pid2, "node", ["node", "--no-warnings", "codex.js"]), "codex");
    });
  });
});
