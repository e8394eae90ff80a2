/**
 * The confinement real agents run in (training/agents/isolation.ts), checked from inside: the
 * agent user, no_new_privs, no capabilities, private /tmp, and nothing the session started
 * surviving it, daemons included, while another process of the same user is left alone. Root.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { ensureAgentUser } from "../../training/agents/isolation.js";
import { runConfined } from "../../training/atomics/confined.js";
import { rootOnly } from "../helpers/root.js";

function confinement() {
  const user = ensureAgentUser("vigil-eval-test");
  // Not under /tmp: the confined command's /tmp is bound over it.
  const root = join("/var/lib/vigil-eval", `test-${process.pid}`);
  const dirs = { tmp: join(root, "tmp"), varTmp: join(root, "var-tmp"), shm: join(root, "shm") };
  for (const d of Object.values(dirs)) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o1777);
  }
  return { c: { user, ...dirs }, root };
}

after(() =>
  rmSync(join("/var/lib/vigil-eval", `test-${process.pid}`), { recursive: true, force: true }),
);

const ENV = { PATH: "/usr/bin:/bin", HOME: "/nonexistent" };

test(
  "isolation - confined commands run as the agent user, without privileges, with their own /tmp",
  rootOnly(),
  async () => {
    const { c } = confinement();
    const marker = `vigil-confined-${process.pid}`;
    const r = await runConfined(
      c,
      ENV,
      "sh",
      `id -u; grep -E '^(NoNewPrivs|CapEff|CapBnd)' /proc/self/status; echo x > /tmp/${marker}; ls /tmp`,
      "/",
      20_000,
    );
    assert.equal(r.exitCode, 0, r.output);
    const lines = r.output.trim().split("\n");
    assert.equal(lines[0], String(c.user.uid));
    assert.match(r.output, /NoNewPrivs:\s+1/);
    assert.match(r.output, /CapEff:\s+0+\n/);
    assert.ok(existsSync(join(c.tmp, marker)), "the write landed in the sandbox's tmp");
    assert.ok(!existsSync(join("/tmp", marker)), "and not in the host's /tmp");
    // sudo is setuid: no_new_privs makes it useless.
    const sudo = await runConfined(
      c,
      ENV,
      "sh",
      "command -v sudo >/dev/null || exit 42; sudo -n true",
      "/",
      20_000,
    );
    assert.notEqual(sudo.exitCode, 0);
  },
);

test(
  "isolation - what a confined command leaves running is killed, and only that",
  rootOnly(),
  async () => {
    const { c } = confinement();
    // Another process of the same user, outside the confined namespace: it must survive.
    const bystander = spawn(
      "setpriv",
      [`--reuid=${c.user.uid}`, `--regid=${c.user.gid}`, "--init-groups", "sleep", "60"],
      {
        stdio: "ignore",
      },
    );
    try {
      const tag = `vigil-daemon-${process.pid}`;
      const r = await runConfined(
        c,
        ENV,
        "bash",
        `setsid bash -c 'exec -a ${tag} sleep 300' </dev/null >/dev/null 2>&1 & sleep 0.3; pgrep -f ^${tag} || echo none`,
        "/",
        20_000,
      );
      assert.equal(r.exitCode, 0, r.output);
      assert.match(r.output, /^\d+\s*$/, "the daemon was running when the command ended");
      const left = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.startsWith(tag));
      assert.deepEqual(left, [], "the daemon is gone");
      assert.equal(bystander.exitCode, null, "the bystander still runs");
      assert.ok(readFileSync(`/proc/${bystander.pid}/status`, "utf8").includes("sleep"));
    } finally {
      bystander.kill("SIGKILL");
    }
  },
);

test("isolation - a confined command that outlives its timeout is killed", rootOnly(), async () => {
  const { c } = confinement();
  const started = Date.now();
  const r = await runConfined(c, ENV, "sh", "sleep 60", "/", 500);
  assert.equal(r.exitCode, null);
  assert.ok(Date.now() - started < 10_000);
});
