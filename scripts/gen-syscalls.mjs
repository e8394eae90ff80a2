#!/usr/bin/env node
// Generates src/sensor/syscall-names.ts from the Linux UAPI headers installed on this machine
// (Debian: package linux-libc-dev). The table is committed so that nothing at run time depends on
// kernel headers being present; rerun this after a linux-libc-dev upgrade to pick up new calls.
//
//   node scripts/gen-syscalls.mjs [--x86_64 <unistd_64.h>] [--aarch64 <asm-generic/unistd.h>]
//                                 [--i386 <unistd_32.h>] [--out <file>] [--check]
//
// --check writes nothing and exits 1 if the committed file differs from what would be generated.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..");

const { values: args } = parseArgs({
  options: {
    x86_64: { type: "string", default: "/usr/include/x86_64-linux-gnu/asm/unistd_64.h" },
    aarch64: { type: "string", default: "/usr/include/asm-generic/unistd.h" },
    i386: { type: "string", default: "/usr/include/x86_64-linux-gnu/asm/unistd_32.h" },
    out: { type: "string", default: join(repoRoot, "src/sensor/syscall-names.ts") },
    check: { type: "boolean", default: false },
  },
});

// What arch/arm64/include/uapi/asm/unistd.h defines before including asm-generic/unistd.h; the
// generic table is only arm64's table under exactly these switches (64-bit, no compat).
const AARCH64_PREDEFINED = {
  __BITS_PER_LONG: "64",
  __ARCH_WANT_RENAMEAT: "",
  __ARCH_WANT_NEW_STAT: "",
  __ARCH_WANT_SET_GET_RLIMIT: "",
  __ARCH_WANT_TIME32_SYSCALLS: "",
  __ARCH_WANT_SYS_CLONE3: "",
  __ARCH_WANT_MEMFD_SECRET: "",
};

// __NR_ macros that are bookkeeping, not system calls.
const NOT_SYSCALLS = new Set(["syscalls", "arch_specific_syscall"]);

/**
 * Just enough of the C preprocessor for unistd headers: object-like #define/#undef and
 * #if/#ifdef/#ifndef/#elif/#else/#endif with defined(), ! && || == != < > <= >= and integers.
 * Returns the macros defined when the file ends.
 */
function preprocess(text, predefined) {
  const macros = new Map(Object.entries(predefined));
  // Each frame: is this branch live, has any branch of this #if been taken, was the parent live.
  const stack = [];
  const live = () => stack.every((f) => f.live);
  const source = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\\\n/g, " ");
  for (const rawLine of source.split("\n")) {
    const line = rawLine.replace(/\/\/.*$/, "").trim();
    const m = /^#\s*(\w+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const [, directive, rest] = m;
    switch (directive) {
      case "if":
      case "ifdef":
      case "ifndef": {
        const parentLive = live();
        let cond = false;
        if (parentLive) {
          if (directive === "if") cond = evaluate(rest, macros);
          else cond = macros.has(rest.trim()) === (directive === "ifdef");
        }
        stack.push({ live: parentLive && cond, taken: cond, parentLive });
        break;
      }
      case "elif": {
        const f = top(stack, line);
        const cond = f.parentLive && !f.taken && evaluate(rest, macros);
        f.live = cond;
        f.taken ||= cond;
        break;
      }
      case "else": {
        const f = top(stack, line);
        f.live = f.parentLive && !f.taken;
        f.taken = true;
        break;
      }
      case "endif":
        top(stack, line);
        stack.pop();
        break;
      case "define": {
        if (!live()) break;
        const d = /^(\w+)(\([^)]*\))?\s*(.*)$/.exec(rest);
        if (!d) throw new Error(`cannot parse: ${line}`);
        // Function-like macros (__SYSCALL etc.) only matter for being defined.
        macros.set(d[1], d[2] ? "" : d[3].trim());
        break;
      }
      case "undef":
        if (live()) macros.delete(rest.trim());
        break;
      default:
        // #include, #error, #pragma: nothing in a unistd header that affects numbering.
        break;
    }
  }
  if (stack.length > 0) throw new Error("unterminated #if");
  return macros;
}

function top(stack, line) {
  const f = stack.at(-1);
  if (!f) throw new Error(`unbalanced ${line}`);
  return f;
}

/** Value of a macro as an integer, following macro-to-macro indirections (__NR3264_*). */
function resolve(name, macros, seen = new Set()) {
  const body = macros.get(name);
  if (body === undefined || seen.has(name)) return undefined;
  if (/^\d+$/.test(body)) return Number(body);
  if (/^\w+$/.test(body)) return resolve(body, macros, new Set(seen).add(name));
  const paren = /^\(\s*(\w+)\s*\)$/.exec(body);
  return paren ? resolve(paren[1], macros, new Set(seen).add(name)) : undefined;
}

function evaluate(expr, macros) {
  const tokens = expr
    .replace(/defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)/g, (_, a, b) =>
      macros.has(a ?? b) ? "1" : "0",
    )
    .match(/\d+|\w+|&&|\|\||[=!<>]=|[!()<>]/g);
  if (!tokens) throw new Error(`empty #if expression: ${expr}`);
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];
  // C precedence, lowest first.
  const levels = [["||"], ["&&"], ["==", "!="], ["<", ">", "<=", ">="]];
  const apply = (op, a, b) =>
    ({
      "||": a || b,
      "&&": a && b,
      "==": a === b,
      "!=": a !== b,
      "<": a < b,
      ">": a > b,
      "<=": a <= b,
      ">=": a >= b,
    })[op]
      ? 1
      : 0;
  const binary = (level) => {
    if (level === levels.length) return unary();
    let left = binary(level + 1);
    while (levels[level].includes(peek())) {
      const op = next();
      left = apply(op, left, binary(level + 1));
    }
    return left;
  };
  const unary = () => {
    const t = next();
    if (t === "!") return unary() ? 0 : 1;
    if (t === "(") {
      const v = binary(0);
      if (next() !== ")") throw new Error(`missing ) in: ${expr}`);
      return v;
    }
    if (t !== undefined && /^\d+$/.test(t)) return Number(t);
    // Undefined identifiers are 0 in #if, as in C.
    if (t !== undefined && /^\w+$/.test(t)) return resolve(t, macros) ?? 0;
    throw new Error(`cannot evaluate #if ${expr}`);
  };
  const value = binary(0);
  if (i !== tokens.length) throw new Error(`trailing tokens in #if ${expr}`);
  return value !== 0;
}

function syscallTable(file, predefined) {
  const macros = preprocess(readFileSync(file, "utf8"), predefined);
  const names = [];
  for (const macro of macros.keys()) {
    const m = /^__NR_(\w+)$/.exec(macro);
    if (!m || NOT_SYSCALLS.has(m[1])) continue;
    const nr = resolve(macro, macros);
    if (nr === undefined) throw new Error(`${file}: cannot resolve ${macro}`);
    if (names[nr] !== undefined) {
      throw new Error(`${file}: ${m[1]} and ${names[nr]} both claim number ${nr}`);
    }
    names[nr] = m[1];
  }
  return names;
}

/**
 * Eight per line with the first number in a comment, so a number is easy to find by eye; long
 * runs of unassigned numbers (aarch64 has 129 in a row) collapse to one `...gap(n)` line.
 */
function arrayLiteral(names) {
  const lines = [];
  let i = 0;
  while (i < names.length) {
    let run = 0;
    while (i + run < names.length && names[i + run] === undefined) run++;
    if (run >= 8) {
      lines.push(`  /* ${String(i).padStart(3)} */ ...gap(${run}),`);
      i += run;
      continue;
    }
    const row = [];
    for (; row.length < 8 && i < names.length; i++) {
      if (names[i] === undefined && names.slice(i, i + 8).every((n) => n === undefined)) break;
      row.push(names[i] === undefined ? "undefined" : JSON.stringify(names[i]));
    }
    lines.push(`  /* ${String(i - row.length).padStart(3)} */ ${row.join(", ")},`);
  }
  return `[\n${lines.join("\n")}\n]`;
}

function render(tables) {
  return `// GENERATED by scripts/gen-syscalls.mjs from the Linux UAPI headers; do not edit by hand.
// Regenerate: node scripts/gen-syscalls.mjs   (verify: node scripts/gen-syscalls.mjs --check)
// Sources: x86_64 ${args.x86_64}; aarch64 ${args.aarch64} (64-bit, arm64 switches);
// i386 (the compat syscalls of x86_64 tasks) ${args.i386}.
import { ErrorCodes, VigilError } from "../errors.js";

export type SyscallArch = "x86_64" | "aarch64";

const gap = (n: number): undefined[] => new Array<undefined>(n).fill(undefined);

// biome-ignore format: generated, kept eight names per line
const X86_64: readonly (string | undefined)[] = ${arrayLiteral(tables.x86_64)};

// biome-ignore format: generated, kept eight names per line
const AARCH64: readonly (string | undefined)[] = ${arrayLiteral(tables.aarch64)};

// biome-ignore format: generated, kept eight names per line
const I386: readonly (string | undefined)[] = ${arrayLiteral(tables.i386)};

/** Syscall name by number for each supported architecture; holes are unassigned numbers. */
export const SYSCALL_NAMES: Readonly<Record<SyscallArch, readonly (string | undefined)[]>> =
  Object.freeze({ x86_64: Object.freeze(X86_64), aarch64: Object.freeze(AARCH64) });

/**
 * The id the kernel counts every id outside [0, VIGIL_SYSCALL_LIMIT) under (VIGIL_SYS_INVALID in
 * bpf/include/vigil.h): not a syscall, so not a name of the table either.
 */
export const SYSCALL_INVALID = 0xffff;

/**
 * The id the kernel counts every 32-bit (compat) syscall of a 64-bit task under in n-grams
 * (VIGIL_SYS_COMPAT): i386 numbers are other calls than the x86_64 ones of the same number.
 */
export const SYSCALL_COMPAT = 0xfffe;

/** i386 syscall names by number: what a compat syscall (int 0x80) of an x86_64 task called. */
export const I386_SYSCALL_NAMES: readonly (string | undefined)[] = Object.freeze(I386);

const numbers = new Map<SyscallArch, ReadonlyMap<string, number>>();

/**
 * Name of syscall \`nr\` on \`arch\`; SYSCALL_INVALID is \`invalid\`, SYSCALL_COMPAT \`compat\`,
 * other numbers with no name (or out of range) give \`sys_<nr>\`.
 */
export function syscallName(arch: SyscallArch, nr: number): string {
  if (nr === SYSCALL_INVALID) return "invalid";
  if (nr === SYSCALL_COMPAT) return "compat";
  return SYSCALL_NAMES[arch][nr] ?? \`sys_\${nr}\`;
}

/** Name of a compat syscall by its i386 number: \`compat_<name>\`, or \`compat_sys_<nr>\`. */
export function compatSyscallName(nr: number): string {
  return \`compat_\${I386[nr] ?? \`sys_\${nr}\`}\`;
}

/** Number of the syscall called \`name\` on \`arch\`, or undefined if \`arch\` has no such call. */
export function syscallNumber(arch: SyscallArch, name: string): number | undefined {
  let byName = numbers.get(arch);
  if (byName === undefined) {
    const m = new Map<string, number>();
    SYSCALL_NAMES[arch].forEach((n, i) => {
      if (n !== undefined) m.set(n, i);
    });
    numbers.set(arch, m);
    byName = m;
  }
  return byName.get(name);
}

/**
 * The syscall table of the machine we run on, from Node's \`process.arch\` (or the value given,
 * for tests). Vigil's BPF programs exist for x86_64 and aarch64 only.
 */
export function hostArch(nodeArch: string = process.arch): SyscallArch {
  if (nodeArch === "x64") return "x86_64";
  if (nodeArch === "arm64") return "aarch64";
  throw new VigilError(
    ErrorCodes.USAGE,
    \`unsupported CPU architecture "\${nodeArch}": Vigil supports x86_64 (x64) and aarch64 (arm64)\`,
    { hint: "run Vigil on an x86_64 or aarch64 Linux host" },
  );
}
`;
}

const tables = {
  x86_64: syscallTable(args.x86_64, {}),
  aarch64: syscallTable(args.aarch64, AARCH64_PREDEFINED),
  i386: syscallTable(args.i386, {}),
};
const out = render(tables);
if (args.check) {
  let current = "";
  try {
    current = readFileSync(args.out, "utf8");
  } catch {}
  if (current !== out) {
    console.error(`${args.out} is out of date: run node scripts/gen-syscalls.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(args.out, out);
  const count = (t) => t.filter((n) => n !== undefined).length;
  console.log(
    `wrote ${args.out}: x86_64 ${count(tables.x86_64)} calls, aarch64 ${count(tables.aarch64)} calls`,
  );
}
