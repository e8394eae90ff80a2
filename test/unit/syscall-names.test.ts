import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import {
  compatSyscallName,
  hostArch,
  I386_SYSCALL_NAMES,
  SYSCALL_COMPAT,
  SYSCALL_INVALID,
  SYSCALL_NAMES,
  type SyscallArch,
  syscallName,
  syscallNumber,
} from "../../src/sensor/syscall-names.js";

const ARCHES: readonly SyscallArch[] = ["x86_64", "aarch64"];

const KNOWN: Record<SyscallArch, Record<string, number>> = {
  x86_64: {
    read: 0,
    write: 1,
    open: 2,
    close: 3,
    connect: 42,
    clone: 56,
    execve: 59,
    getppid: 110,
    openat: 257,
    execveat: 322,
    pidfd_open: 434,
    clone3: 435,
  },
  aarch64: {
    io_setup: 0,
    fcntl: 25,
    renameat: 38,
    openat: 56,
    lseek: 62,
    read: 63,
    write: 64,
    newfstatat: 79,
    fstat: 80,
    getrlimit: 163,
    getppid: 173,
    connect: 203,
    clone: 220,
    execve: 221,
    mmap: 222,
    fadvise64: 223,
    clone3: 435,
    memfd_secret: 447,
  },
};

test("syscall-names - known numbers map to names on each arch", () => {
  for (const arch of ARCHES) {
    for (const [name, nr] of Object.entries(KNOWN[arch])) {
      assert.equal(syscallName(arch, nr), name, `${arch} ${nr}`);
      assert.equal(syscallNumber(arch, name), nr, `${arch} ${name}`);
    }
  }
});

test("syscall-names - aarch64 has only the 64-bit generic names", () => {
  // Legacy calls and the 32-bit spellings of __NR3264_* calls must not leak into the table.
  for (const name of [
    "open",
    "stat",
    "fork",
    "fcntl64",
    "mmap2",
    "fstatat64",
    "llseek",
    "clock_gettime64",
  ]) {
    assert.equal(syscallNumber("aarch64", name), undefined, name);
  }
  assert.equal(syscallName("aarch64", 300), "sys_300");
  assert.equal(syscallName("aarch64", 403), "sys_403");
});

test("syscall-names - unknown numbers name themselves sys_<nr>", () => {
  assert.equal(syscallName("x86_64", 100_000), "sys_100000");
  assert.equal(syscallName("x86_64", 400), "sys_400");
  assert.equal(syscallName("x86_64", -1), "sys_-1");
  assert.equal(syscallNumber("x86_64", "no_such_call"), undefined);
  assert.equal(syscallNumber("x86_64", "sys_400"), undefined);
});

test("syscall-names - tables are non-trivial, unique and round-trip", () => {
  for (const arch of ARCHES) {
    const names = SYSCALL_NAMES[arch].filter((n): n is string => n !== undefined);
    assert.ok(names.length > 280, `${arch} has ${names.length} names`);
    assert.equal(new Set(names).size, names.length, `${arch} names are unique`);
    SYSCALL_NAMES[arch].forEach((name, nr) => {
      if (name === undefined) return;
      assert.match(name, /^[a-z_][a-z0-9_]*$/);
      assert.equal(syscallNumber(arch, name), nr);
    });
  }
});

test("syscall-names - tables are frozen", () => {
  assert.ok(Object.isFrozen(SYSCALL_NAMES));
  assert.ok(Object.isFrozen(SYSCALL_NAMES.x86_64));
  assert.ok(Object.isFrozen(SYSCALL_NAMES.aarch64));
});

test("syscall-names - hostArch maps Node's arch names", () => {
  assert.equal(hostArch("x64"), "x86_64");
  assert.equal(hostArch("arm64"), "aarch64");
  if (process.arch === "x64" || process.arch === "arm64") {
    assert.equal(hostArch(), process.arch === "x64" ? "x86_64" : "aarch64");
  }
});

test("syscall-names - hostArch rejects other architectures with USAGE", () => {
  for (const arch of ["ia32", "arm", "riscv64", "s390x"]) {
    assert.throws(
      () => hostArch(arch),
      (e: unknown) => isVigilError(e, ErrorCodes.USAGE) && e.message.includes(arch),
    );
  }
});

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const headers = [
  "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
  "/usr/include/asm-generic/unistd.h",
];

test("syscall-names - committed table matches the installed kernel headers", {
  skip: headers.every(existsSync) ? false : "UAPI headers not installed",
}, () => {
  // Throws (exit 1) when the generator's output differs from the committed file.
  execFileSync(process.execPath, [join(root, "scripts/gen-syscalls.mjs"), "--check"], {
    stdio: "pipe",
  });
});

test("syscall names - the kernel's invalid-id bucket has its own name, on every arch", () => {
  for (const arch of ARCHES) {
    assert.equal(syscallName(arch, SYSCALL_INVALID), "invalid");
    assert.equal(syscallNumber(arch, "invalid"), undefined, "no syscall is called invalid");
  }
});

test("syscall names - compat calls have their own id in n-grams and their i386 names in events", () => {
  for (const arch of ARCHES) assert.equal(syscallName(arch, SYSCALL_COMPAT), "compat");
  assert.equal(compatSyscallName(213), "compat_setuid32");
  assert.equal(compatSyscallName(102), "compat_socketcall");
  assert.equal(compatSyscallName(9999), "compat_sys_9999");
});

test("syscall names - the i386 numbers the BPF program decodes are the i386 table's", () => {
  const header = readFileSync(join(root, "bpf/include/i386-syscalls.h"), "utf8");
  const defs = [...header.matchAll(/^#define I386_NR_(\w+) (\d+)$/gm)];
  assert.ok(defs.length > 40, "the header lists the decoded calls");
  for (const [, name, nr] of defs) assert.equal(I386_SYSCALL_NAMES[Number(nr)], name, name);
});
