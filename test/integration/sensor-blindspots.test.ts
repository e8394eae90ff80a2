/**
 * A tracked agent must not go dark (issue 13, section 4): each test makes a tracked trigger do
 * one thing the sensor used to miss or misname, under the real BPF sensor, and checks the window.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { rootOnly } from "../helpers/root.js";
import { ngramMap, runTracked, startTestSensor } from "../helpers/sensor-harness.js";

describe("sensor blind spots (eBPF)", rootOnly(), () => {
  test("sensor - ids that are no syscall count as one `invalid` id, never as a real call", async () => {
    const ts = await startTestSensor();
    try {
      const { window: w } = await runTracked(ts, "badsys");
      assert.ok(w);
      // 0x10000 | SYS_read used to count as read, and each id above the table as its own key
      assert.deepEqual(
        ngramMap(w),
        new Map([
          ["invalid,invalid,invalid", 199],
          ["invalid,invalid,exit_group", 1],
        ]),
        JSON.stringify(w.syscalls.ngrams.slice(0, 5)),
      );
      assert.equal(w.syscalls.total, 200);
    } finally {
      await ts.stop();
    }
  });

  test("sensor - fd theft, process memory, new namespaces and fileless exec are privilege events", async () => {
    const ts = await startTestSensor();
    try {
      const { window: w } = await runTracked(ts, "priv2");
      assert.ok(w);
      const calls = w.privilege.map((p) => p.syscall);
      assert.deepEqual(
        calls,
        [
          "setgroups",
          "process_vm_readv",
          "process_vm_writev",
          "pidfd_getfd",
          "clone",
          "clone3",
          "memfd_create",
          "execveat",
          "perf_event_open",
          "keyctl",
          "io_uring_setup",
        ],
        JSON.stringify(w.privilege),
      );
      assert.ok(w.privilege.every((p) => p.count === 1));
      // only the clones that made a namespace: CLONE_NEWUTS | SIGCHLD, then CLONE_NEWIPC
      const clone = w.privilege.find((p) => p.syscall === "clone");
      assert.equal(clone?.args[0], String(0x04000000 | 17));
      const clone3 = w.privilege.find((p) => p.syscall === "clone3");
      assert.equal(clone3?.args[0], String(0x08000000));
      // four children were made, two of them plain: processes, not privilege events
      assert.equal(w.processes.started, 5);
    } finally {
      await ts.stop();
    }
  });

  test("sensor - sendmsg and sendmmsg destinations are recorded like sendto's", async () => {
    const ts = await startTestSensor();
    try {
      const { window: w } = await runTracked(ts, "sendmsg");
      assert.ok(w);
      const udp = w.net
        .filter((n) => n.protocol === "udp" && n.address === "127.0.0.1")
        .map((n) => [n.direction, n.port, n.bytesOut, n.sends])
        .sort((a, b) => Number(a[1]) - Number(b[1])); // flows come in map order
      assert.deepEqual(
        udp,
        [
          ["out", 40001, 7, 1],
          ["out", 40002, 5, 1],
          ["out", 40003, 6, 1],
        ],
        JSON.stringify(w.net),
      );
    } finally {
      await ts.stop();
    }
  });

  test("sensor - 32-bit syscalls (int 0x80) are decoded as compat events, never as x86_64 names", async (t) => {
    if (process.arch !== "x64") {
      t.skip("the i386 ABI exists on x86_64 only");
      return;
    }
    const ts = await startTestSensor({ helper: { fileHook: "sys_enter" } });
    try {
      const { window: w } = await runTracked(ts, "compat");
      assert.ok(w);
      const uid = String(process.getuid?.());
      assert.deepEqual(
        w.privilege.map((p) => [p.syscall, p.args[0], p.count]),
        [
          ["compat_getpid", "0", 1], // the first compat call of a task, whatever it is
          ["compat_setuid32", uid, 1],
          ["compat_ptrace", "3", 1],
          ["compat_mount", "0", 1],
          ["compat_unshare", "0", 1],
        ],
        JSON.stringify(w.privilege),
      );
      const udp = w.net
        .filter((n) => n.address === "127.0.0.1" && n.direction === "out" && n.connections > 0)
        .map((n) => [n.protocol, n.port, n.connections])
        .sort((a, b) => Number(a[1]) - Number(b[1]));
      assert.deepEqual(udp, [
        ["udp", 40010, 1], // socketcall(SYS_CONNECT)
        ["udp", 40011, 1], // connect
      ]);
      assert.deepEqual(
        w.files.map((f) => [f.path, f.op]),
        [["/etc/hostname", "read"]],
      );
      // i386 numbers are other x86_64 calls (20 is writev, 213 epoll_create, 102 getuid...):
      // every compat call is the one `compat` id
      const names = new Set(w.syscalls.ngrams.flatMap((g) => g.slice(0, -1)));
      assert.deepEqual([...names].sort(), ["compat", "exit_group", "getuid", "mmap", "socket"]);
      const compatCalls = w.syscalls.ngrams.reduce(
        (sum, g) => sum + (g.at(-2) === "compat" ? (g.at(-1) as number) : 0),
        0,
      );
      assert.equal(compatCalls, 9);
    } finally {
      await ts.stop();
    }
  });

  test("sensor - an open submitted through io_uring is attributed, inline and from an SQPOLL thread", async () => {
    const ts = await startTestSensor({ helper: { fileHook: "sys_enter" } });
    try {
      for (const mode of ["uring", "uring-sqpoll"]) {
        const { trig, window: w } = await runTracked(ts, mode, { agentId: `t-${mode}` });
        assert.ok(Number(trig.stdout().trim()) >= 0, `${mode}: the open succeeded`);
        assert.ok(w, mode);
        // no openat syscall was made: the path comes from the io_uring request
        assert.deepEqual(
          w.files.map((f) => [f.path, f.op, f.count]),
          [["/etc/hostname", "read", 1]],
          `${mode}: ${JSON.stringify(w.files)}`,
        );
        assert.ok(!ngramMap(w).has("openat"));
        assert.deepEqual(
          w.privilege.map((p) => p.syscall),
          ["io_uring_setup"],
          `${mode}: the ring itself is a reason`,
        );
      }
    } finally {
      await ts.stop();
    }
  });
});
