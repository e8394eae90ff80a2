/**
 * An agent started by `sudo vigil exec` runs as the user who invoked sudo, not as root: a
 * hijacked agent that goes for the monitor (kills it, reads the bus credentials) is refused.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { credentialsPath } from "../../src/bus/bus-credentials.js";
import { lookupUser, targetUser } from "../../src/cli/exec-command.js";
import { rootOnly } from "../helpers/root.js";
import { NOBODY, startVigilRun, type VigilRun, vigilExecArgv } from "../helpers/vigil-run.js";

function vigilExec(run: VigilRun, env: Record<string, string>, flags: string[], script: string) {
  const r = spawnSync(
    process.execPath,
    vigilExecArgv(run.socket, "sec-agent", undefined, ["sh", "-c", script], flags),
    { encoding: "utf8", env: { ...run.env, ...env }, cwd: "/", timeout: 60_000 },
  );
  return { status: r.status, out: r.stdout ?? "", err: r.stderr ?? "" };
}

test("exec - the target user: sudo's invoker, or --user; root only says so", () => {
  assert.equal(targetUser(undefined, {}, 0), undefined, "root without sudo: unchanged");
  assert.equal(targetUser(undefined, { SUDO_UID: String(NOBODY) }, 0)?.uid, NOBODY);
  assert.equal(targetUser("nobody", {}, 0)?.uid, NOBODY);
  assert.equal(targetUser("root", { SUDO_UID: String(NOBODY) }, 0), undefined, "--user wins");
  assert.throws(() => targetUser("no-such-user-xyz", {}, 0), /no user "no-such-user-xyz"/);
  assert.throws(() => targetUser("root", {}, NOBODY), /only root can run an agent as root/);
  assert.equal(lookupUser("0")?.name, "root");
});

describe("security: agents do not run as root", rootOnly(), () => {
  let run: VigilRun;
  before(async () => {
    run = await startVigilRun();
    assert.ok(run.url, run.stderr());
  });
  after(async () => {
    await run?.stop();
  });

  test("exec - under sudo the agent is the invoking user, without new privileges; it cannot kill Vigil or read its credentials", () => {
    const pid = run.child.pid as number;
    const r = vigilExec(
      run,
      { SUDO_UID: String(NOBODY), SUDO_GID: String(NOBODY) },
      [],
      `id -u; grep NoNewPrivs /proc/self/status; kill -9 ${pid}; echo kill=$?; cat ${credentialsPath(run.dataDir)}; echo cat=$?`,
    );
    assert.match(r.err, /vigil: tracking sec-agent/, r.err);
    assert.match(r.out, new RegExp(`^${NOBODY}$`, "m"), r.out);
    assert.match(r.out, /NoNewPrivs:\s+1/);
    assert.match(r.out, /kill=1/);
    assert.match(r.err, /Operation not permitted/);
    assert.match(r.out, /cat=1/);
    assert.match(r.err, /Permission denied/);
    assert.equal(run.child.exitCode, null, "vigil run is still running");
    assert.equal(process.kill(pid, 0), true);
  });

  test("exec - as root without sudo the agent runs as root, and vigil exec warns", () => {
    const r = vigilExec(run, { SUDO_UID: "" }, [], "id -u");
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /^0$/m);
    assert.match(r.err, /warning: the agent runs as root and can stop Vigil/);
    const bad = vigilExec(run, {}, ["--user", "no-such-user-xyz"], "true");
    assert.notEqual(bad.status, 0);
    assert.match(bad.err, /no user "no-such-user-xyz" in \/etc\/passwd/);
  });
});
