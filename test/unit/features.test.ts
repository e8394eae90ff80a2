import assert from "node:assert/strict";
import { test } from "node:test";
import { WINDOW_SCHEMA, type WindowRecord, windowSchema } from "../../src/contracts/window.js";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import {
  buildFeatureSpec,
  type FeatureSpec,
  featurize,
  featurizeMany,
  fnv1a32,
  hashBucket,
  validateFeatureSpec,
  windowFromTrace,
} from "../../src/features/index.js";
import { WINDOW_FEATURE_NAMES, writeWindowFeatures } from "../../src/features/window-features.js";

function win(parts: Partial<WindowRecord> & { ngrams?: (string | number)[][]; total?: number }) {
  const { ngrams = [], total, ...rest } = parts;
  const listed = ngrams.reduce((sum, g) => sum + (g[3] as number), 0);
  const w: WindowRecord = {
    schema: WINDOW_SCHEMA,
    host: "h",
    agentType: "claude-code",
    agentId: "a1",
    pid: 100,
    seq: 0,
    start: "2025-01-01T00:00:00.000Z",
    end: "2025-01-01T00:00:10.000Z",
    final: false,
    syscalls: { n: 3, total: total ?? listed, ngrams },
    execs: [],
    files: [],
    net: [],
    privilege: [],
    processes: { started: 0, exited: 0, live: 1 },
    drops: {},
    truncated: {},
    ...rest,
  };
  assert.ok(windowSchema.safeParse(w).success, "test windows are schema-valid");
  return w;
}

// Baseline counts: read,read,write 8 (in 2 windows); open,read,close 5 (3); mmap,mmap,read 4
// (1); read,write,close 2 (2) and stat,stat,stat 2 (1): a tie, broken by key.
const baseline = [
  win({
    ngrams: [
      ["read", "read", "write", 5],
      ["open", "read", "close", 2],
      ["read", "write", "close", 1],
    ],
  }),
  win({
    ngrams: [
      ["read", "read", "write", 3],
      ["open", "read", "close", 2],
      ["mmap", "mmap", "read", 4],
    ],
  }),
  win({
    ngrams: [
      ["open", "read", "close", 1],
      ["read", "write", "close", 1],
      ["stat", "stat", "stat", 2],
    ],
  }),
];

const options = { topK: 4, hashBuckets: 4 } as const;

const FIXED_NAMES = [
  "syscalls:total_log",
  "syscalls:distinct_log",
  "syscalls:unseen_fraction",
  "exec:count_log",
  "exec:distinct_paths",
  "exec:shell",
  "exec:network_tools",
  "exec:inline_code",
  "exec:from_tmp",
  "file:workspace:read",
  "file:workspace:write",
  "file:home:read",
  "file:home:write",
  "file:system:read",
  "file:system:write",
  "file:secret:read",
  "file:secret:write",
  "file:temp:read",
  "file:temp:write",
  "file:other:read",
  "file:other:write",
  "file:distinct_log",
  "net:out:connections_log",
  "net:in:connections_log",
  "net:listen:count",
  "net:destinations",
  "net:nonloopback_destinations",
  "net:bytes_out_log",
  "net:bytes_in_log",
  "net:sends_log",
  "net:recvs_log",
  "net:udp53_sends_log",
  "net:unix_connections_log",
  "priv:setuid",
  "priv:to_root",
  "priv:capset",
  "priv:ptrace",
  "priv:bpf",
  "priv:module",
  "priv:mount",
  "priv:namespace",
  "priv:kexec",
  "priv:other",
  "proc:started_log",
  "proc:exited_log",
];

test("features - spec from a baseline: vocabulary by count then key, every feature named", () => {
  const spec = buildFeatureSpec(baseline, options);
  assert.deepEqual(spec, {
    version: 1,
    ngram: 3,
    vocabulary: ["read,read,write", "open,read,close", "mmap,mmap,read", "read,write,close"],
    hashBuckets: 4,
    scaling: "log",
    names: [
      "ngram:read,read,write",
      "ngram:open,read,close",
      "ngram:mmap,mmap,read",
      "ngram:read,write,close",
      "ngram_hash:0",
      "ngram_hash:1",
      "ngram_hash:2",
      "ngram_hash:3",
      ...FIXED_NAMES,
    ],
  });
  assert.equal(new Set(spec.names).size, spec.names.length, "names are unique");
  // The order of the baseline does not matter.
  assert.deepEqual(buildFeatureSpec([...baseline].reverse(), options), spec);
});

test("features - defaults: top 512, 64 buckets, log scaling; empty baseline", () => {
  const spec = buildFeatureSpec(baseline);
  assert.equal(spec.hashBuckets, 64);
  assert.equal(spec.scaling, "log");
  assert.equal(spec.vocabulary.length, 5);
  const empty = buildFeatureSpec([], { ngram: 2, hashBuckets: 0 });
  assert.equal(empty.ngram, 2);
  assert.deepEqual(empty.names, FIXED_NAMES);
});

test("features - tfidf: idf = ln((1 + N) / (1 + df)) + 1, buckets share the unseen df", () => {
  const spec = buildFeatureSpec(baseline, { ...options, scaling: "tfidf" });
  const idf = spec.idf ?? [];
  const expected = [
    Math.log(4 / 3) + 1, // read,read,write: in 2 of 3 windows
    1, // open,read,close: in all 3
    Math.log(4 / 2) + 1, // mmap,mmap,read: 1
    Math.log(4 / 3) + 1, // read,write,close: 2
    Math.log(4 / 2) + 1, // buckets: 1 window (the third) has an n-gram outside the vocabulary
  ];
  assert.equal(idf.length, expected.length);
  for (const [i, v] of expected.entries()) {
    assert.ok(Math.abs((idf[i] ?? 0) - v) < 1e-12, `idf[${i}]`);
  }
});

test("features - FNV-1a 32: published vectors, UTF-8, and the bucket of a known key", () => {
  assert.equal(fnv1a32(""), 0x811c9dc5);
  assert.equal(fnv1a32("a"), 0xe40c292c);
  assert.equal(fnv1a32("foobar"), 0xbf9cf968);
  // Same bytes as TextEncoder: two-, three-byte and surrogate-pair code points.
  assert.equal(fnv1a32("ünïcode,😀"), 0x699012c8);
  assert.equal(fnv1a32("€"), referenceFnv("€"));
  assert.equal(fnv1a32("stat,stat,stat"), 0xf4a2dd0f); // 4104314127 % 4 = 3
  assert.equal(hashBucket("stat,stat,stat", 4), 3);
  assert.equal(fnv1a32("execve,execve,execve"), 0xbfb475d9); // 3216274905 % 4 = 1
  assert.equal(hashBucket("execve,execve,execve", 4), 1);
});

function referenceFnv(text: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(text)) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

/** A window touching every feature group. */
const busy = win({
  // 20 listed of 24 (a capped window: 3 n-grams left out); stat and execve are unseen.
  total: 24,
  truncated: { ngrams: 3 },
  ngrams: [
    ["read", "read", "write", 10],
    ["mmap", "mmap", "read", 2],
    ["stat", "stat", "stat", 4],
    ["execve", "execve", "execve", 4],
  ],
  execs: [
    { path: "/usr/bin/bash", argv: ["bash", "-c", "ls"], pid: 2, ppid: 1, uid: 1000, count: 2 },
    { path: "/usr/bin/bash", argv: ["bash", "x.sh"], pid: 3, ppid: 1, uid: 1000, count: 1 },
    { path: "/usr/bin/curl", argv: ["curl", "http://x"], pid: 4, ppid: 1, uid: 1000, count: 1 },
    { path: "/tmp/x/payload", argv: ["payload"], pid: 5, ppid: 1, uid: 1000, count: 1 },
    {
      path: "/usr/bin/python3.11",
      argv: ["python3", "-c", "print(1)"],
      pid: 6,
      ppid: 1,
      uid: 1000,
      count: 3,
    },
    { path: "/bin/busybox", argv: ["busybox", "nc", "1.2.3.4"], pid: 7, ppid: 1, uid: 0, count: 1 },
  ],
  files: [
    { path: "/work/a.ts", class: "workspace", op: "read", count: 5 },
    { path: "/work/a.ts", class: "workspace", op: "write", count: 2 },
    { path: "~/.ssh/id_rsa", class: "secret", op: "read", count: 1 },
    { path: "/etc/passwd", class: "system", op: "read", count: 3 },
    { path: "/etc/hosts", class: "system", op: "read", count: 1 },
  ],
  net: [
    net("out", "tcp", "inet", "93.184.216.34", 443, [2, 1000, 5000, 4, 6]),
    net("out", "udp", "inet", "127.0.0.53", 53, [0, 60, 120, 2, 2]),
    net("out", "udp", "inet", "8.8.8.8", 53, [0, 40, 80, 1, 1]),
    net("out", "tcp", "inet6", "::1", 8080, [1, 0, 0, 0, 0]),
    net("out", "udp", "inet", "93.184.216.34", 443, [0, 100, 0, 1, 0]), // same destination
    net("in", "tcp", "inet", "10.0.0.5", 22, [3, 0, 0, 0, 0]),
    net("listen", "tcp", "inet", "0.0.0.0", 8080, [0, 0, 0, 0, 0]),
    net("out", "unix", "unix", "/run/dbus.sock", 0, [2, 0, 0, 0, 0]),
  ],
  privilege: [
    { syscall: "setuid", args: ["0"], count: 1 },
    { syscall: "setresgid", args: ["1000", "1000", "1000"], count: 2 },
    { syscall: "ptrace", args: ["16", "1234", "0", "0"], count: 1 },
    { syscall: "unshare", args: ["268435456"], count: 1 },
    { syscall: "finit_module", args: ["3", "0", "0"], count: 1 },
    { syscall: "iopl", args: ["3"], count: 2 },
  ],
  processes: { started: 4, exited: 3, live: 1 },
});

function net(
  direction: "out" | "in" | "listen",
  protocol: string,
  family: "inet" | "inet6" | "unix",
  address: string,
  port: number,
  [connections, bytesOut, bytesIn, sends, recvs]: number[],
): WindowRecord["net"][number] {
  return {
    direction,
    protocol,
    family,
    address,
    port,
    connections: connections ?? 0,
    bytesOut: bytesOut ?? 0,
    bytesIn: bytesIn ?? 0,
    sends: sends ?? 0,
    recvs: recvs ?? 0,
  };
}

const L = Math.log1p;
/** Hand-computed, shared by both scalings: everything but the n-gram block. */
const busyFixed: Record<string, number> = {
  "syscalls:total_log": L(24),
  "syscalls:distinct_log": L(4 + 3),
  "syscalls:unseen_fraction": 8 / 20,
  "exec:count_log": L(9),
  "exec:distinct_paths": L(5),
  "exec:shell": L(3),
  "exec:network_tools": L(2), // curl, busybox nc
  "exec:inline_code": L(3),
  "exec:from_tmp": L(1),
  "file:workspace:read": L(5),
  "file:workspace:write": L(2),
  "file:secret:read": L(1),
  "file:system:read": L(4),
  "file:distinct_log": L(4),
  "net:out:connections_log": L(5),
  "net:in:connections_log": L(3),
  "net:listen:count": L(1),
  "net:destinations": L(5),
  "net:nonloopback_destinations": L(2), // 93.184.216.34:443, 8.8.8.8:53
  "net:bytes_out_log": L(1200),
  "net:bytes_in_log": L(5200),
  "net:sends_log": L(8),
  "net:recvs_log": L(9),
  "net:udp53_sends_log": L(3),
  "net:unix_connections_log": L(2),
  "priv:setuid": L(3),
  "priv:to_root": L(1),
  "priv:ptrace": L(1),
  "priv:module": L(1),
  "priv:namespace": L(1),
  "priv:other": L(2),
  "proc:started_log": L(4),
  "proc:exited_log": L(3),
};

function assertVector(spec: FeatureSpec, v: Float32Array, expected: Record<string, number>) {
  assert.equal(v.length, spec.names.length);
  for (const name of Object.keys(expected)) assert.ok(spec.names.includes(name), name);
  spec.names.forEach((name, i) => {
    const want = expected[name] ?? 0;
    const got = v[i] ?? Number.NaN;
    assert.ok(Math.abs(got - want) < 1e-6, `${name}: got ${got}, want ${want}`);
  });
}

test("features - featurize with log scaling: every value hand-computed", () => {
  const spec = buildFeatureSpec(baseline, options);
  assertVector(spec, featurize(spec, busy), {
    "ngram:read,read,write": L((10 / 24) * 1000),
    "ngram:mmap,mmap,read": L((2 / 24) * 1000),
    "ngram_hash:3": L((4 / 24) * 1000), // stat,stat,stat
    "ngram_hash:1": L((4 / 24) * 1000), // execve,execve,execve
    ...busyFixed,
  });
});

test("features - featurize with tfidf scaling: share times idf", () => {
  const spec = buildFeatureSpec(baseline, { ...options, scaling: "tfidf" });
  const unseenIdf = Math.log(2) + 1;
  assertVector(spec, featurize(spec, busy), {
    "ngram:read,read,write": (10 / 24) * (Math.log(4 / 3) + 1),
    "ngram:mmap,mmap,read": (2 / 24) * (Math.log(2) + 1),
    "ngram_hash:3": (4 / 24) * unseenIdf,
    "ngram_hash:1": (4 / 24) * unseenIdf,
    ...busyFixed,
  });
});

test("features - an empty window is all zeros; featurizeMany keeps order", () => {
  const spec = buildFeatureSpec(baseline, options);
  const empty = win({});
  assert.ok(featurize(spec, empty).every((x) => x === 0));
  const many = featurizeMany(spec, [busy, empty]);
  assert.deepEqual(many, [featurize(spec, busy), featurize(spec, empty)]);
});

test("features - a window of another n is refused", () => {
  const spec = buildFeatureSpec(baseline, options);
  const twoGrams = windowFromTrace(["read", "write"], 2, meta);
  assert.throws(
    () => featurize(spec, twoGrams),
    (e) => isVigilError(e, ErrorCodes.CONFIG_INVALID),
  );
  assert.throws(
    () => buildFeatureSpec([...baseline, twoGrams]),
    (e) => isVigilError(e, ErrorCodes.CONFIG_INVALID),
  );
});

const meta = { agentType: "adfa", agentId: "trace-1", host: "adfa-ld", seq: 7 };

test("features - windowFromTrace counts n-grams exactly and makes a valid window", () => {
  const trace = ["open", "read", "read", "read", "close", "read", "read", "read"];
  const w = windowFromTrace(trace, 3, meta);
  assert.deepEqual(w.syscalls, {
    n: 3,
    total: 6,
    ngrams: [
      ["read", "read", "read", 2],
      ["close", "read", "read", 1],
      ["open", "read", "read", 1],
      ["read", "close", "read", 1],
      ["read", "read", "close", 1],
    ],
  });
  const parsed = windowSchema.safeParse(w);
  assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  assert.equal(w.agentId, "trace-1");
  assert.equal(w.seq, 7);
  assert.deepEqual([w.execs, w.files, w.net, w.privilege], [[], [], [], []]);

  const short = windowFromTrace(["read"], 3, meta);
  assert.deepEqual(short.syscalls, { n: 3, total: 0, ngrams: [] });
  assert.ok(windowSchema.safeParse(short).success);

  assert.throws(
    () => windowFromTrace(trace, 5, meta),
    (e) => isVigilError(e),
  );
  assert.throws(
    () => windowFromTrace(["read", ""], 1, meta),
    (e) => isVigilError(e),
  );
});

test("features - a spec round-trips through JSON and validateFeatureSpec", () => {
  for (const scaling of ["log", "tfidf"] as const) {
    const spec = buildFeatureSpec(baseline, { ...options, scaling });
    const back = validateFeatureSpec(JSON.parse(JSON.stringify(spec)));
    assert.deepEqual(back, spec);
    assert.deepEqual(featurize(back, busy), featurize(spec, busy));
  }
});

test("features - a bad spec is rejected, naming what is wrong", () => {
  const good = buildFeatureSpec(baseline, { ...options, scaling: "tfidf" });
  const cases: [string, (s: Record<string, unknown>) => void, RegExp][] = [
    ["names length", (s) => (s.names as string[]).pop(), /names/],
    ["a renamed feature", (s) => ((s.names as string[])[9] = "exec:whatever"), /names\[9\]/],
    ["unknown scaling", (s) => (s.scaling = "sqrt"), /scaling/],
    ["missing idf", (s) => delete s.idf, /idf/],
    ["idf of the wrong length", (s) => (s.idf as number[]).pop(), /idf/],
    ["idf with log", (s) => (s.scaling = "log"), /idf/],
    ["version", (s) => (s.version = 2), /version/],
    ["ngram", (s) => (s.ngram = 7), /ngram/],
    ["vocabulary key of the wrong n", (s) => ((s.vocabulary as string[])[0] = "a,b"), /vocab/],
    ["hashBuckets", (s) => (s.hashBuckets = -1), /hashBuckets/],
  ];
  for (const [what, mutate, field] of cases) {
    const bad = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
    mutate(bad);
    assert.throws(
      () => validateFeatureSpec(bad),
      (e) => isVigilError(e, ErrorCodes.MODEL_INVALID) && field.test(e.message),
      what,
    );
  }
  assert.throws(
    () => validateFeatureSpec(null),
    (e) => isVigilError(e),
  );
  assert.throws(
    () => buildFeatureSpec(baseline, { topK: -1 }),
    (e) => isVigilError(e),
  );
});

test("features - the newer privilege events and compat calls land in their families", () => {
  const w = win({
    privilege: [
      { syscall: "pidfd_getfd", args: ["3", "0", "0"], count: 1 },
      { syscall: "compat_ptrace", args: ["3", "0", "0"], count: 1 }, // int 0x80 ptrace
      { syscall: "clone", args: ["67108881", "0", "0"], count: 2 },
      { syscall: "clone3", args: ["134217728", "64", "0"], count: 1 },
      { syscall: "setgroups", args: ["0", "0", "0"], count: 1 },
      { syscall: "memfd_create", args: ["0", "0", "0"], count: 1 },
      { syscall: "io_uring_setup", args: ["8", "0", "0"], count: 1 },
    ],
  });
  const out = new Float32Array(WINDOW_FEATURE_NAMES.length);
  writeWindowFeatures(w, out, 0);
  const at = (name: string) => out[WINDOW_FEATURE_NAMES.indexOf(name)];
  assert.equal(at("priv:ptrace"), Math.fround(Math.log1p(2)));
  assert.equal(at("priv:namespace"), Math.fround(Math.log1p(3)));
  assert.equal(at("priv:setuid"), Math.fround(Math.log1p(1)));
  assert.equal(at("priv:other"), Math.fround(Math.log1p(2)));
});
