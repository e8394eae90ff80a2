/**
 * Attribution end to end: `vigil exec` (the real CLI) through the control socket, children
 * followed across fork and exec, files classified, a loopback connection, secrets redacted;
 * agents found by rules at exec (in the kernel, and in user space) and at start-up.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { chownSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { DEFAULT_AGENT_RULES } from "../../src/sensor/rules.js";
import { REPO } from "../helpers/build-fixture.js";
import { rootOnly } from "../helpers/root.js";
import {
  namedTrigger,
  ngramMap,
  openTestControl,
  spawnTrigger,
  startTestSensor,
  waitFor,
} from "../helpers/sensor-harness.js";
import { tempDir } from "../helpers/temp-dir.js";
import { NOBODY } from "../helpers/vigil-run.js";

const run = promisify(execFile);
/** The TypeScript loader, by absolute URL: the CLI runs from other working directories. */
const TSX = import.meta.resolve("tsx");

/** A throwaway HOME with a fake SSH key, and a workspace, under /tmp. */
function sandbox() {
  const root = tempDir("vigil-agent-");
  const home = join(root, "home", "alice");
  const workspace = join(root, "work");
  mkdirSync(join(home, ".ssh"), { recursive: true });
  mkdirSync(workspace, { recursive: true });
  writeFileSync(join(home, ".ssh", "id_ed25519"), "not a real key\n");
  writeFileSync(join(workspace, "main.py"), "print('hi')\n");
  return { root, home, workspace };
}

describe("sensor attribution (eBPF)", rootOnly(), () => {
  test("sensor - vigil exec tracks a command and its children, files, network; secrets redacted", async () => {
    const box = sandbox();
    const ts = await startTestSensor({ homes: [box.home] });
    const socket = join(box.root, "sensor.sock");
    const control = await openTestControl(ts.sensor, socket);
    const received: Buffer[] = [];
    const listener = createServer((s) => s.on("data", (d: Buffer) => received.push(d)));
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    const port = (listener.address() as AddressInfo).port;
    // Built at run time so the repository holds nothing that looks like a credential.
    const token = `ghp_${"Ab1".repeat(12)}`;
    const script = [
      "cat main.py >/dev/null",
      `cat ${box.home}/.ssh/id_ed25519 >/dev/null`,
      `/bin/true --token=${token}`,
      `node -e "require('net').connect(${port},'127.0.0.1',function(){this.end('hello')})"`,
    ].join("; ");
    try {
      const cli = spawn(
        process.execPath,
        [
          "--import",
          TSX,
          join(REPO, "src/cli/main.ts"),
          "exec",
          "--user",
          "root",
          "--socket",
          socket,
          "--agent-type",
          "coding-agent",
          "--agent-id",
          "e2e-1",
          "--",
          "sh",
          "-c",
          script,
        ],
        { cwd: box.workspace, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stderr = "";
      cli.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      const code = await new Promise<number | null>((r) => cli.on("exit", r));
      assert.equal(code, 0, stderr);
      assert.match(stderr, /tracking coding-agent e2e-1/);
      await waitFor(() => Buffer.concat(received).toString() === "hello", 5000, "the listener");
      await ts.closeWindow();

      const windows = ts.windowsOf("e2e-1");
      assert.equal(windows.length, 1);
      const w = windows[0];
      assert.ok(w);
      assert.equal(w.agentType, "coding-agent");
      assert.equal(w.final, true);
      const execs = w.execs.map((e) => e.path);
      for (const bin of ["/usr/bin/sh", "/usr/bin/cat", "/usr/bin/true"]) {
        assert.ok(
          execs.some((p) => p === bin || p === bin.replace("/usr", "")),
          `${bin} in ${execs}`,
        );
      }
      const sh = w.execs.find((e) => e.argv[0] === "sh");
      assert.ok(sh);
      assert.equal(w.pid, sh.pid, "the instance's pid is the command's own");
      const cat = w.execs.find((e) => e.argv[0] === "cat");
      assert.equal(cat?.ppid, sh.pid, "children are attributed through fork and exec");
      assert.ok(w.processes.started >= 5, `started ${w.processes.started}`);
      assert.equal(w.processes.started, w.processes.exited, "every process that started exited");

      const key = w.files.find((f) => f.path === "~/.ssh/id_ed25519");
      assert.deepEqual(key && { class: key.class, op: key.op }, { class: "secret", op: "read" });
      const main = w.files.find((f) => f.path.endsWith("/work/main.py"));
      assert.equal(main?.class, "workspace", "a relative path is resolved against the cwd");

      const conn = w.net.find((n) => n.port === port);
      assert.ok(conn, JSON.stringify(w.net));
      assert.equal(conn.address, "127.0.0.1");
      assert.equal(conn.protocol, "tcp");
      assert.equal(conn.connections, 1);
      assert.equal(conn.bytesOut, 5);

      const text = JSON.stringify(ts.sink.records);
      assert.ok(!text.includes(token), "the token never leaves the sensor");
      assert.ok(!text.includes(box.home), "the home directory is masked");
      assert.ok(
        w.execs.some((e) => e.argv.includes("--token=ghp_[REDACTED]")),
        JSON.stringify(w.execs),
      );
    } finally {
      listener.close();
      await control.close();
      await ts.stop();
    }
  });

  test("sensor - vigil exec refuses to run the command when no sensor answers", async () => {
    const box = sandbox();
    const marker = join(box.root, "ran");
    const res = await run(
      process.execPath,
      [
        "--import",
        TSX,
        join(REPO, "src/cli/main.ts"),
        "exec",
        "--socket",
        join(box.root, "nobody.sock"),
        "--agent-type",
        "coding-agent",
        "--",
        "touch",
        marker,
      ],
      { cwd: REPO },
    ).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(res.code, 1);
    assert.match(res.stderr, /VIGIL_ERR_SENSOR_UNREACHABLE/);
    assert.match(res.stderr, /fix: start it first/);
    await assert.rejects(import("node:fs/promises").then((fs) => fs.access(marker)));
  });

  test("sensor - a comm rule starts tracking in the kernel at exec", async () => {
    const bin = namedTrigger("vigil-trig-k");
    const ts = await startTestSensor({
      rules: [{ agentType: "kernel-matched", comm: "vigil-trig-k" }],
    });
    try {
      const child = spawn(bin, ["seq"], { stdio: ["pipe", "ignore", "inherit"] });
      await waitFor(() => ts.sensor.status().instances.length === 1, 5000, "the agent to be found");
      child.stdin?.end("g");
      await new Promise((r) => child.on("exit", r));
      await ts.closeWindow();
      const w = ts.sink.records[0];
      assert.ok(w);
      assert.equal(w.agentType, "kernel-matched");
      assert.equal(w.pid, child.pid);
      assert.equal(ngramMap(w).get("getppid,getppid,getppid"), 98);
      // Tracked from exec; its first syscalls count only once the helper has attached the hooks
      // (they are detached while nothing is tracked), so the total is at least the sequence.
      assert.ok(w.syscalls.total >= 199, `total ${w.syscalls.total}`);
    } finally {
      await ts.stop();
    }
  });

  test("sensor - an exe rule is matched in user space after exec", async () => {
    const bin = namedTrigger("vigil-trig-u");
    const ts = await startTestSensor({
      rules: [{ agentType: "exe-matched", exe: "**/vigil-trig-u" }],
    });
    try {
      const child = spawn(bin, ["seq"], { stdio: ["pipe", "ignore", "inherit"] });
      await waitFor(
        () => ts.sensor.status().instances[0]?.tagged === true,
        5000,
        "the agent to be found and tagged",
      );
      child.stdin?.end("g");
      await new Promise((r) => child.on("exit", r));
      await ts.closeWindow();
      const w = ts.sink.records[0];
      assert.ok(w);
      assert.equal(w.agentType, "exe-matched");
      assert.equal(ngramMap(w).get("getppid,getppid,getppid"), 98);
    } finally {
      await ts.stop();
    }
  });

  test("sensor - agents already running at start-up are found through /proc", async () => {
    const bin = namedTrigger("vigil-trig-p");
    const trig = await spawnTrigger("seq", undefined, bin);
    const child = trig.child;
    const ts = await startTestSensor({
      rules: [{ agentType: "preexisting", comm: "vigil-trig-p" }],
      scanProc: true,
    });
    try {
      assert.deepEqual(
        ts.sensor.status().instances.map((i) => [i.agentType, i.rootPid]),
        [["preexisting", child.pid]],
      );
      child.stdin?.end("g");
      await new Promise((r) => child.on("exit", r));
      await ts.closeWindow();
      const w = ts.sink.records[0];
      assert.ok(w);
      assert.deepEqual(ngramMap(w).get("getppid,getppid,getppid"), 98);
    } finally {
      child.kill("SIGKILL");
      await ts.stop();
    }
  });

  test("sensor - the default rules find the installed agent CLIs run by an unprivileged user", async (t) => {
    // The CLIs the evaluation runs (scripts/setup.sh eval): root's files, run by another user,
    // as the evaluation runs them. Each is only asked its version, in a network namespace with
    // nothing but a loopback that is down: nothing leaves the machine.
    const bin = join(REPO, "agents", "node_modules", ".bin");
    if (!existsSync(join(bin, "claude"))) {
      if (process.env.CI) assert.fail(`the agent CLIs are not installed in ${bin}`);
      t.skip(`the agent CLIs are not installed in ${bin} (scripts/setup.sh eval)`);
      return;
    }
    const home = tempDir("vigil-agent-home-");
    chownSync(home, NOBODY, NOBODY);
    const ts = await startTestSensor({ rules: [...DEFAULT_AGENT_RULES] });
    try {
      for (const [cli, agentType] of [
        ["claude", "claude-code"],
        ["codex", "codex"],
        ["gemini", "gemini-cli"],
        ["qwen", "qwen-code"],
        ["opencode", "opencode"],
      ] as const) {
        const child = spawn(
          "unshare",
          [
            "--net",
            "--",
            "setpriv",
            `--reuid=${NOBODY}`,
            `--regid=${NOBODY}`,
            "--clear-groups",
            "--",
            join(bin, cli),
            "--version",
          ],
          {
            stdio: ["pipe", "ignore", "ignore"],
            env: { PATH: "/usr/bin:/bin", HOME: home },
            cwd: home,
          },
        );
        const exited = new Promise((r) => child.on("exit", r));
        await waitFor(
          () => ts.sensor.status().instances.some((i) => i.rootPid === child.pid),
          20_000,
          `${cli} to be found`,
        );
        const found = ts.sensor.status().instances.find((i) => i.rootPid === child.pid);
        assert.equal(found?.agentType, agentType, cli);
        assert.equal(found?.uid, NOBODY, cli);
        child.kill("SIGKILL");
        await exited;
      }
    } finally {
      await ts.stop();
    }
  });
});
