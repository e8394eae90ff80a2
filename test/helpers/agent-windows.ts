/**
 * Realistic windows of one agent type for training and scorer tests: benign work with natural
 * variation, an attacked window, and a capture directory exactly as `vigil capture` writes one.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { CAPTURE_SCHEMA } from "../../src/bus/capture.js";
import { WINDOW_SCHEMA, type WindowRecord } from "../../src/contracts/index.js";
import { prng } from "../../training/random.js";
import { makeWindow } from "./messages.js";

export const AGENT = "coding-agent";
export const BENIGN_NGRAMS = [
  ["read", "read", "write"],
  ["openat", "read", "close"],
  ["openat", "fstat", "read"],
  ["fstat", "read", "close"],
  ["epoll_wait", "read", "write"],
  ["write", "epoll_wait", "read"],
  ["mmap", "mprotect", "munmap"],
  ["clock_gettime", "epoll_wait", "read"],
  ["sendto", "recvfrom", "epoll_wait"],
  ["futex", "futex", "epoll_wait"],
];
const WORKSPACE = ["~/proj/main.py", "~/proj/util.py", "~/proj/README.md", "~/proj/test_main.py"];
const TOOLS = [
  ["/usr/bin/git", "git", "status"],
  ["/usr/bin/python3", "python3", "-m", "pytest"],
  ["/usr/bin/node", "node", "build.js"],
];

/** A benign window: the usual n-grams in varying amounts, workspace files, loopback traffic. */
export function benign(i: number, random: () => number): WindowRecord {
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const ngrams = BENIGN_NGRAMS.filter((_, k) => k < 3 || random() < 0.7).map((g) => [
    ...g,
    int(5, 200),
  ]);
  const total = ngrams.reduce((n, g) => n + (g[3] as number), 0);
  const files = WORKSPACE.filter(() => random() < 0.5).map((path) => ({
    path,
    class: "workspace" as const,
    op: random() < 0.8 ? ("read" as const) : ("write" as const),
    count: int(1, 6),
  }));
  const execs = TOOLS.filter(() => random() < 0.3).map(([path, ...argv]) => ({
    path: path as string,
    argv,
    pid: 5000 + i,
    ppid: 4242,
    uid: 1000,
    count: 1,
  }));
  const base = makeWindow(i);
  return {
    ...base,
    syscalls: { n: 3, total, ngrams },
    execs,
    files,
    net: [
      {
        direction: "out",
        protocol: "tcp",
        family: "inet",
        address: "127.0.0.1",
        port: 8080,
        connections: int(0, 3),
        bytesOut: int(100, 4000),
        bytesIn: int(500, 20000),
        sends: int(1, 10),
        recvs: int(1, 12),
      },
    ],
    processes: { started: execs.length, exited: execs.length, live: 1 },
  };
}

/** The same agent doing benign work, then reading a secret, a shell, a new host, setuid. */
export function attack(i: number): WindowRecord {
  const w = benign(i, prng(99));
  return {
    ...w,
    syscalls: {
      n: 3,
      total: w.syscalls.total + 60,
      ngrams: [
        ...w.syscalls.ngrams,
        ["socket", "connect", "dup2", 20],
        ["dup2", "dup2", "execve", 20],
        ["setuid", "execve", "close", 20],
      ],
    },
    execs: [
      ...w.execs,
      {
        path: "/bin/sh",
        argv: ["sh", "-c", "cat ~/.ssh/id_rsa"],
        pid: 9,
        ppid: 1,
        uid: 0,
        count: 1,
      },
    ],
    files: [...w.files, { path: "~/.ssh/id_rsa", class: "secret", op: "read", count: 1 }],
    net: [
      ...w.net,
      {
        direction: "out",
        protocol: "tcp",
        family: "inet",
        address: "203.0.113.7",
        port: 4444,
        connections: 1,
        bytesOut: 3000,
        bytesIn: 100,
        sends: 3,
        recvs: 1,
      },
    ],
    privilege: [{ syscall: "setuid", args: ["0"], count: 1 }],
  };
}

/** A capture directory exactly as `vigil capture` writes one (one gzip JSONL file). */
export function writeCapture(
  dir: string,
  windows: WindowRecord[],
  schema: string = CAPTURE_SCHEMA,
) {
  mkdirSync(dir, { recursive: true });
  const gz = gzipSync(windows.map((w) => `${JSON.stringify(w)}\n`).join(""));
  const name = "windows-0001.jsonl.gz";
  writeFileSync(join(dir, name), gz);
  const ends = windows.map((w) => Date.parse(w.end));
  const starts = windows.map((w) => Date.parse(w.start));
  writeFileSync(
    join(dir, "manifest.json"),
    JSON.stringify({
      schema,
      id: dir.split("/").pop(),
      agentType: AGENT,
      windowSchema: WINDOW_SCHEMA,
      hosts: ["web-1"],
      kernel: "6.8.0",
      createdAt: new Date().toISOString(),
      timeRange: {
        start: new Date(Math.min(...starts)).toISOString(),
        end: new Date(Math.max(...ends)).toISOString(),
      },
      counts: { windows: windows.length, invalid: 0 },
      files: [
        {
          name,
          windows: windows.length,
          bytes: gz.byteLength,
          sha256: createHash("sha256").update(gz).digest("hex"),
        },
      ],
    }),
  );
}
