import assert from "node:assert/strict";
import { test } from "node:test";
import {
  destinationKey,
  NOVELTY_MAX,
  novelItems,
  noveltySets,
} from "../../src/features/novelty.js";
import { makeWindow } from "../helpers/messages.js";

test("novelty - the baseline's execs, destinations, file accesses and privilege calls", () => {
  const base = [
    makeWindow(1),
    makeWindow(2, { privilege: [{ syscall: "setgid", args: ["0"], count: 1 }] }),
  ];
  const sets = noveltySets(base);
  assert.deepEqual(sets.execs, ["/usr/bin/git"]);
  assert.deepEqual(sets.destinations, ["out tcp 127.0.0.1:8080"]);
  assert.deepEqual(sets.fileAccess, ["workspace:read"]);
  assert.deepEqual(sets.privilege, ["setgid"]);
  assert.deepEqual(sets.truncated, []);
});

test("novelty - a window's never-seen items are named by kind", () => {
  const sets = noveltySets([makeWindow(1)]);
  const attack = makeWindow(9, {
    execs: [
      { path: "/usr/bin/git", argv: ["git"], pid: 1, ppid: 1, uid: 0, count: 1 },
      { path: "/usr/bin/nc", argv: ["nc", "10.0.0.9", "4444"], pid: 2, ppid: 1, uid: 0, count: 1 },
    ],
    files: [{ path: "~/.ssh/id_rsa", class: "secret", op: "read", count: 1 }],
    net: [
      { ...makeWindow(1).net[0], port: 4444, address: "10.0.0.9" } as ReturnType<
        typeof makeWindow
      >["net"][number],
    ],
    privilege: [{ syscall: "setuid", args: ["0"], count: 1 }],
  });
  assert.deepEqual(novelItems(sets, attack), [
    { kind: "exec", value: "/usr/bin/nc" },
    { kind: "destination", value: "out tcp 10.0.0.9:4444" },
    { kind: "file", value: "~/.ssh/id_rsa (secret:read)" },
    { kind: "privilege", value: "setuid" },
  ]);
  assert.deepEqual(novelItems(sets, makeWindow(3)), [], "a normal window has nothing novel");
});

test("novelty - sets are bounded and say when they were cut", () => {
  const many = Array.from({ length: NOVELTY_MAX + 10 }, (_, i) =>
    makeWindow(i, {
      execs: [{ path: `/opt/bin/tool-${i}`, argv: ["t"], pid: 1, ppid: 1, uid: 0, count: 1 }],
    }),
  );
  const sets = noveltySets(many);
  assert.equal(sets.execs.length, NOVELTY_MAX);
  assert.deepEqual(sets.truncated, ["execs"]);
});

test("mass deletion: more than 3x the baseline's most deletions in a window (and at least 5) is novel", () => {
  const win = (i: number, deletes: number) =>
    makeWindow(i, {
      syscalls: {
        n: 3,
        total: 100 + deletes,
        ngrams: [
          ["read", "read", "write", 100],
          ...(deletes > 0 ? [["newfstatat", "openat", "unlinkat", deletes]] : []),
        ],
      },
    });
  const sets = noveltySets([win(0, 0), win(1, 4), win(2, 2)]);
  assert.equal(sets.maxDeletes, 4);
  const kinds = (w: ReturnType<typeof win>) => novelItems(sets, w).map((n) => n.kind);
  assert.ok(!kinds(win(3, 12)).includes("deletions"), "12 <= 3 x 4");
  const items = novelItems(sets, win(4, 13));
  assert.deepEqual(
    items.filter((n) => n.kind === "deletions").map((n) => n.value),
    ["deleted 13 files (at most 4 a window in its baseline)"],
  );
  // A baseline that never deleted: 5 is allowed, 6 is a mass deletion.
  const none = noveltySets([win(0, 0)]);
  assert.ok(!novelItems(none, win(5, 5)).some((n) => n.kind === "deletions"));
  assert.ok(novelItems(none, win(6, 6)).some((n) => n.kind === "deletions"));
});

test("destinationKey: digit runs in unix socket paths are one destination; inet addresses are kept", () => {
  const net = (family: "unix" | "inet", address: string) => ({
    direction: "out" as const,
    protocol: family === "unix" ? "unix" : "tcp",
    family,
    address,
    port: family === "unix" ? 0 : 8080,
    connections: 1,
    bytesOut: 0,
    bytesIn: 0,
    sends: 0,
    recvs: 0,
  });
  assert.equal(
    destinationKey(net("unix", "/tmp/tsx-0/22197.pipe")),
    "out unix /tmp/tsx-#/#.pipe:0",
  );
  assert.equal(
    destinationKey(net("unix", "/tmp/tsx-0/22197.pipe")),
    destinationKey(net("unix", "/tmp/tsx-0/31.pipe")),
  );
  assert.equal(destinationKey(net("inet", "10.0.0.9")), "out tcp 10.0.0.9:8080");
});
