/**
 * The sensor against the real kernel: exact n-grams from a process with a known syscall
 * sequence, isolation of untracked processes, hooks detached while idle, drops counted when
 * maps are forced small, and a killed helper restarted.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { isVigilError } from "../../src/errors.js";
import { HelperProcess } from "../../src/sensor/helper-process.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { rootOnly } from "../helpers/root.js";
import {
  HELPER_PATH,
  ngramMap,
  runTracked,
  sleep,
  spawnTrigger,
  startTestSensor,
  waitFor,
} from "../helpers/sensor-harness.js";
import { tempDir } from "../helpers/temp-dir.js";

const SEQ_TRIGRAMS = new Map([
  ["getppid,getppid,getppid", 98],
  ["getppid,getppid,getuid", 1],
  ["getppid,getuid,getgid", 1],
  ["getuid,getgid,getuid", 49],
  ["getgid,getuid,getgid", 49],
  ["getuid,getgid,exit_group", 1],
]);

/** Runs the "seq" trigger as a tracked agent and returns its windows. */
async function runSeq(helper: { syscallHook?: "tp_btf" | "raw_tp"; ngram?: number } = {}) {
  const ts = await startTestSensor({ helper });
  try {
    const { instance } = await runTracked(ts, "seq", { agentId: `seq-${helper.syscallHook}` });
    return ts.windowsOf(instance.agentId);
  } finally {
    await ts.stop();
  }
}

/** sys_enter links held by the helper process, read from its fds (not from what it says). */
function syscallLinks(helperPid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${helperPid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${helperPid}/fdinfo/${fd}`, "utf8");
    } catch {
      continue;
    }
    if (!info.includes("link_type:")) continue;
    const progId = /prog_id:\s+(\d+)/.exec(info)?.[1];
    if (!progId) continue;
    const prog = JSON.parse(
      execFileSync("bpftool", ["prog", "show", "id", progId, "-j"], { encoding: "utf8" }),
    );
    if (String(prog.name).startsWith("handle_sys_enter")) n++;
  }
  return n;
}

describe("sensor (eBPF)", rootOnly(), () => {
  test("sensor - a known syscall sequence yields exactly the expected n-grams", async () => {
    const windows = await runSeq({ syscallHook: "tp_btf" });
    assert.equal(windows.length, 1);
    const w = windows[0];
    assert.ok(w);
    assert.equal(w.final, true);
    assert.equal(w.syscalls.n, 3);
    assert.deepEqual(ngramMap(w), SEQ_TRIGRAMS);
    assert.equal(w.syscalls.total, 199);
    assert.deepEqual(w.processes, { started: 1, exited: 1, live: 0 });
  });

  test("sensor - the raw_tp fallback counts the same n-grams", async () => {
    const windows = await runSeq({ syscallHook: "raw_tp" });
    assert.equal(windows.length, 1);
    assert.deepEqual(ngramMap(windows[0] as never), SEQ_TRIGRAMS);
  });

  test("sensor - n-gram length is set at load (n = 2)", async () => {
    const windows = await runSeq({ ngram: 2 });
    const w = windows[0];
    assert.ok(w);
    assert.equal(w.syscalls.n, 2);
    assert.deepEqual(
      ngramMap(w),
      new Map([
        ["getppid,getppid", 99],
        ["getppid,getuid", 1],
        ["getuid,getgid", 50],
        ["getgid,getuid", 49],
        ["getgid,exit_group", 1],
      ]),
    );
  });

  test("sensor - opens come from a full-path hook where the kernel allows one, else from sys_enter", async () => {
    for (const fileHook of ["auto", "sys_enter"] as const) {
      const ts = await startTestSensor({ helper: { fileHook } });
      try {
        const { fileHook: used } = ts.sensor.status();
        const hello = ts.logs.find((l) => l.msg === "sensor started");
        if (fileHook === "sys_enter") {
          assert.equal(used, "sys_enter");
          assert.equal(hello?.fileHookFallback, "configured");
        } else {
          assert.ok(["fentry", "lsm", "sys_enter"].includes(used), used);
          // a refusal is never silent: the reason is reported
          if (used === "sys_enter")
            assert.match(String(hello?.fileHookFallback), /fentry: .*lsm: /);
        }
        const { window: w } = await runTracked(ts, "opens", { n: 3 });
        assert.deepEqual(
          w?.files.map((f) => [f.path, f.op, f.count]),
          [["/dev/null", "read", 3]],
          `file hook ${used}`,
        );
      } finally {
        await ts.stop();
      }
    }
  });

  test("sensor - privilege calls, bind/listen/accept and cwd-relative opens are reported", async () => {
    const ts = await startTestSensor({ helper: { fileHook: "sys_enter" } });
    try {
      const run = (mode: string) => runTracked(ts, mode, { agentId: `t-${mode}`, close: false });
      await run("priv");
      const server = await run("server");
      await run("chdir");
      await ts.closeWindow();

      const priv = ts.windowsOf("t-priv")[0];
      const uid = String(process.getuid?.());
      const gid = String(process.getgid?.());
      assert.deepEqual(
        priv?.privilege.map((p) => [p.syscall, p.args[0], p.count]),
        [
          ["setuid", uid, 1],
          ["setgid", gid, 1],
          ["unshare", "0", 1],
        ],
        JSON.stringify(ts.windowsOf("t-priv")),
      );

      const port = Number(server.trig.stdout().trim());
      assert.ok(port > 0);
      const net = ts.windowsOf("t-server")[0]?.net ?? [];
      const find = (direction: string, p: number) =>
        net.find((n) => n.direction === direction && n.port === p && n.address === "127.0.0.1");
      assert.ok(find("listen", 0), `bind to port 0 is reported: ${JSON.stringify(net)}`);
      assert.ok(find("listen", port), "listen reports the bound local port");
      assert.equal(find("out", port)?.connections, 1, "connect");
      assert.equal(find("in", port)?.connections, 1, "accept on the local port");
      assert.ok(net.filter((n) => n.family === "inet").every((n) => n.protocol === "tcp"));
      // node's spawn gives the trigger a socketpair for stdout: its printf is a unix flow
      assert.ok(net.some((n) => n.family === "unix" && n.bytesOut === String(port).length + 1));

      const files = ts.windowsOf("t-chdir")[0]?.files ?? [];
      assert.deepEqual(
        files.map((f) => [f.path, f.class]),
        [["/tmp/vigil-rel-probe", "temp"]],
        `a relative open after chdir resolves against the new cwd: ${JSON.stringify(ts.windowsOf("t-chdir"))}`,
      );
    } finally {
      await ts.stop();
    }
  });

  test("sensor - an untracked process never appears", async () => {
    const ts = await startTestSensor();
    try {
      const tracked = await spawnTrigger("seq");
      const untracked = await spawnTrigger("yield");
      const instance = await ts.sensor.track(tracked.pid, "test-agent");
      untracked.release();
      tracked.release();
      await Promise.all([tracked.exited, untracked.exited]);
      await ts.closeWindow();
      assert.equal(ts.sink.records.length, 1);
      const text = JSON.stringify(ts.sink.records);
      assert.ok(!text.includes("sched_yield"), "no n-gram of the untracked process");
      assert.ok(!text.includes(`"pid":${untracked.pid}`));
      assert.equal(ts.sink.records[0]?.agentId, instance.agentId);
    } finally {
      await ts.stop();
    }
  });

  test("sensor - syscall hooks are attached only while an agent is tracked", async () => {
    const ts = await startTestSensor();
    try {
      const helperPid = ts.sensor.helperPid;
      assert.equal(syscallLinks(helperPid), 0, "idle: no sys_enter hook");
      const trig = await spawnTrigger("seq");
      await ts.sensor.track(trig.pid, "test-agent");
      assert.equal(syscallLinks(helperPid), 1, "tracking: the sys_enter hook is attached");
      trig.release();
      await trig.exited;
      await waitFor(
        () => syscallLinks(helperPid) === 0,
        5000,
        "hooks to detach after the agent exited",
      );
    } finally {
      await ts.stop();
    }
  });

  test("sensor - a full n-gram map is counted as a drop, not lost silently", async () => {
    const ts = await startTestSensor({ helper: { ngramMapEntries: 16 } });
    try {
      const { window: w } = await runTracked(ts, "spread", { n: 20_000 });
      assert.ok(w);
      assert.ok(w.syscalls.ngrams.length <= 16);
      assert.ok((w.drops.ngram_map_full ?? 0) > 1000, `drops: ${JSON.stringify(w.drops)}`);
      const metric = await ts.registry.getSingleMetricAsString("vigil_sensor_kernel_drops_total");
      assert.match(metric, /reason="ngram_map_full"} [1-9]/);
    } finally {
      await ts.stop();
    }
  });

  test("sensor - a full ring buffer is counted as a drop", async () => {
    const ts = await startTestSensor({ helper: { ringbufBytes: 4096 } });
    try {
      const { window: w } = await runTracked(ts, "opens", { n: 900 });
      assert.ok(w);
      const opens = w.files.find((f) => f.path === "/dev/null")?.count ?? 0;
      const dropped = w.drops.ringbuf_full ?? 0;
      assert.ok(dropped > 0, `drops: ${JSON.stringify(w.drops)}`);
      // every open is either reported or counted as dropped (exec/exit events may be dropped too)
      assert.ok(opens + dropped >= 900, `opens ${opens} + dropped ${dropped}`);
    } finally {
      await ts.stop();
    }
  });

  test("sensor - a killed helper is reported and restarted, and tracking goes on", async () => {
    const ts = await startTestSensor();
    const trig = await spawnTrigger("loop");
    try {
      const instance = await ts.sensor.track(trig.pid, "test-agent");
      trig.release();
      await sleep(100);
      await ts.closeWindow();
      const before = ts.sensor.helperPid;
      process.kill(before, "SIGKILL");
      await waitFor(
        () => ts.logs.some((l) => l.msg === "BPF helper restarted"),
        10_000,
        "the helper to restart",
      );
      assert.notEqual(ts.sensor.helperPid, before);
      const died = ts.logs.find((l) => l.msg === "BPF helper died; restarting it");
      assert.equal(died?.code, "VIGIL_ERR_HELPER_CRASHED");
      assert.equal(died?.signal, "SIGKILL");
      const restarts = await ts.registry.getSingleMetricAsString(
        "vigil_sensor_helper_restarts_total",
      );
      assert.match(restarts, /vigil_sensor_helper_restarts_total 1/);
      await sleep(200);
      await ts.closeWindow();
      const windows = ts.windowsOf(instance.agentId);
      const after = windows.at(-1);
      assert.ok(after);
      assert.equal(after.drops.helper_restart, 1);
      assert.ok(
        (ngramMap(after).get("getppid,nanosleep,getppid") ?? 0) > 10,
        "the agent is still tracked by the new helper",
      );
    } finally {
      trig.child.kill("SIGKILL");
      await ts.stop();
    }
  });

  test("sensor - a helper that keeps dying is a fatal error, not a restart loop", async () => {
    const ts = await startTestSensor({
      restart: { initialDelayMs: 10, maxDelayMs: 10, maxRestartsPerMinute: 1 },
    });
    try {
      const fatal = new Promise<Error>((resolve) => ts.sensor.onFatal(resolve));
      process.kill(ts.sensor.helperPid, "SIGKILL");
      await waitFor(() => ts.logs.some((l) => l.msg === "BPF helper restarted"), 10_000, "restart");
      process.kill(ts.sensor.helperPid, "SIGKILL");
      const e = await fatal;
      assert.ok(isVigilError(e, "VIGIL_ERR_HELPER_CRASHED"));
      assert.match(e.message, /giving up/);
    } finally {
      await ts.stop();
    }
  });

  test("sensor - without root the helper says so and how to fix it", async () => {
    const setpriv = spawnSync("setpriv", ["--version"]);
    assert.equal(setpriv.status, 0, "setpriv (util-linux) is needed for this test");
    // Run the helper as nobody with no capabilities, through a wrapper script.
    const wrapper = join(tempDir("vigil-nobody-"), "helper.sh");
    execFileSync("sh", [
      "-c",
      `printf '#!/bin/sh\\nexec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all ${HELPER_PATH} "$@"\\n' > ${wrapper} && chmod +x ${wrapper}`,
    ]);
    await assert.rejects(
      HelperProcess.open(
        {
          path: wrapper,
          ngram: 3,
          ngramMapEntries: 1024,
          flowMapEntries: 1024,
          ringbufBytes: 4096,
          reportUntrackedExecs: true,
        },
        () => {},
        () => {},
        createSilentLogger(),
      ),
      (e: unknown) => {
        assert.ok(isVigilError(e, "VIGIL_ERR_NOT_ROOT"), String(e));
        assert.match(e.hint ?? "", /root|CAP_BPF/);
        return true;
      },
    );
  });
});
