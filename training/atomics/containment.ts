/**
 * Which Atomic Red Team tests a sandbox can contain. The sandbox this assumes runs a test as an
 * unprivileged user with no_new_privs (so sudo and setuid helpers cannot elevate), with a private
 * /tmp, /var/tmp and /dev/shm, and in a network namespace with only loopback. Inside it, reads
 * (`cat /etc/passwd`, `ls /etc/cron.d`) and writes under HOME or /tmp are contained; what is not
 * is a test that needs root, or that reaches host state an unprivileged user can still change
 * from inside: the cron and at spools, the system log, systemd and logind over D-Bus.
 *
 * The check reads the shell text (command, cleanup, prerequisite check and install) the way a
 * shell splits it: commands are matched at command position only (after `;`, `&&`, `||`, `|`,
 * `$(`, backticks, `xargs`, `exec`, `sh -c`, `find -exec`, ...), never as substrings of paths,
 * quoted strings or heredoc bodies. It is deliberately moderate: a false "not run" loses a
 * test, while a missed case only runs unprivileged and fails harmlessly.
 */
import { posix } from "node:path";
import type { ResolvedTest } from "./resolve.js";

/** Why a test is not run: the kind is a closed set, the reason a sentence for a report. */
export type NotRunKind = "platform" | "executor" | "elevation" | "system" | "device" | "host-state";

/** The containment decision for one test. */
export type Containment = { run: true } | { run: false; kind: NotRunKind; reason: string };

interface Finding {
  kind: NotRunKind;
  reason: string;
}

const SHELL_EXECUTORS = new Set(["sh", "bash"]);
/** When a test trips several rules, the report names the most fundamental one. */
const PRIORITY: NotRunKind[] = ["elevation", "device", "system", "host-state"];

/** Decides whether `r` can run in the sandbox described above. */
export function classifyTest(r: ResolvedTest): Containment {
  const t = r.test;
  if (!t.platforms.includes("linux")) {
    return no("platform", `runs on ${t.platforms.join(", ") || "no platform"}, not linux`);
  }
  if (t.executor.name === "manual") {
    return no("executor", "is a manual test: steps for a person, not a command");
  }
  if (!SHELL_EXECUTORS.has(t.executor.name)) {
    return no("executor", `uses the ${t.executor.name} executor; only sh and bash run here`);
  }
  const dep = t.dependencyExecutor;
  if (t.dependencies.length > 0 && dep !== undefined && !SHELL_EXECUTORS.has(dep)) {
    return no("executor", `its prerequisites use the ${dep} executor; only sh and bash run here`);
  }
  if (t.executor.elevationRequired) return no("elevation", "needs elevation (elevation_required)");
  const texts: [string, string][] = [["", r.command]];
  if (r.cleanup !== undefined) texts.push(["the cleanup", r.cleanup]);
  for (const p of r.prereqs)
    texts.push(["a prerequisite check", p.check], ["a prerequisite", p.get]);
  const found: Finding[] = [];
  for (const [where, text] of texts) {
    for (const f of shellFindings(text)) {
      found.push(where ? { kind: f.kind, reason: `${f.reason} (in ${where})` } : f);
    }
  }
  for (const kind of PRIORITY) {
    const f = found.find((x) => x.kind === kind);
    if (f) return no(f.kind, f.reason);
  }
  return { run: true };
}

function no(kind: NotRunKind, reason: string): Containment {
  return { run: false, kind, reason };
}

/** What a shell text does that the sandbox cannot contain, in text order. */
function shellFindings(text: string): Finding[] {
  const out: Finding[] = [];
  for (const c of parseShell(text)) {
    for (const target of c.writes) pathWrite(target, "writes", out);
    commandFindings(c.words, out);
    for (const w of c.reads) deviceMention(w, out);
  }
  return out;
}

// ---- a small shell lexer: enough to find commands, their words and their redirections ----

interface Word {
  text: string;
  quoted: boolean;
}

interface SimpleCommand {
  words: Word[];
  /** Output redirection targets (`>`, `>>`, `&>`, `<>`). */
  writes: string[];
  /** Input redirections and here-strings: read, never a write. */
  reads: string[];
}

function parseShell(src: string, out: SimpleCommand[] = [], depth = 0): SimpleCommand[] {
  if (depth > 8) return out;
  let cmd: SimpleCommand = { words: [], writes: [], reads: [] };
  let word: string | undefined;
  let quoted = false;
  let pending: string | undefined; // a redirection operator waiting for its word
  const heredocs: string[] = [];
  const append = (s: string, quoting = quoted) => {
    word = (word ?? "") + s;
    quoted = quoting;
  };
  const endWord = () => {
    if (word === undefined) return;
    const w = { text: word, quoted };
    [word, quoted] = [undefined, false];
    if (pending === undefined) cmd.words.push(w);
    else if (pending === "<<" || pending === "<<-") heredocs.push(w.text);
    else if (/^(<|<<<)$/.test(pending) || /^(\d+|-)$/.test(w.text)) cmd.reads.push(w.text);
    else cmd.writes.push(w.text);
    pending = undefined;
  };
  const endCommand = () => {
    endWord();
    if (cmd.words.length > 0 || cmd.writes.length > 0) out.push(cmd);
    cmd = { words: [], writes: [], reads: [] };
    pending = undefined;
  };
  /** Commands inside `$(...)` run too; the word they produce is unknown text. */
  const substitute = (at: number) => {
    const [inner, end] = substitution(src, at);
    parseShell(inner, out, depth + 1);
    append("$(…)", true);
    return end;
  };
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    const next = src[i + 1];
    if (c === " " || c === "\t" || c === "\r") {
      endWord();
      i++;
    } else if (c === "\n") {
      endCommand();
      i++;
      for (const d of heredocs.splice(0)) i = skipHeredoc(src, i, d);
    } else if (c === "#" && word === undefined) {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "\\") {
      append(next === "\n" ? "" : (next ?? ""), true);
      i += 2;
    } else if (c === "'") {
      const end = src.indexOf("'", i + 1) < 0 ? src.length : src.indexOf("'", i + 1);
      append(src.slice(i + 1, end), true);
      i = end + 1;
    } else if (c === '"') {
      append("", true);
      for (i++; i < src.length && src[i] !== '"'; ) {
        const d = src[i] as string;
        if ((d === "$" && src[i + 1] === "(") || d === "`") i = substitute(i);
        else {
          append(d === "\\" ? (src[i + 1] ?? "") : d);
          i += d === "\\" ? 2 : 1;
        }
      }
      i++;
    } else if ((c === "$" || c === "<" || c === ">") && next === "(") {
      i = substitute(i);
    } else if (c === "`") {
      i = substitute(i);
    } else if (c === "$" && next === "{") {
      const end = src.indexOf("}", i) < 0 ? src.length : src.indexOf("}", i);
      append(src.slice(i, end + 1));
      i = end + 1;
    } else if (c === "(" && word !== undefined && /^[A-Za-z_]\w*\+?=$/.test(word)) {
      // An array assignment, `files=(/etc/passwd /tmp/x)`: words, not a command.
      const [inner, end] = substitution(src, i - 1);
      append(`(${inner})`);
      i = end;
    } else if (c === ">" || c === "<" || (c === "&" && next === ">")) {
      // Digits right before the operator are the file descriptor, not a word.
      if (word !== undefined && !quoted && /^\d+$/.test(word)) word = undefined;
      endWord();
      pending = /^(&>>|&>|>>|>\||>&|>|<<<|<<-|<<|<>|<&|<)/.exec(src.slice(i))?.[0] ?? c;
      i += pending.length;
    } else if (c === ";" || c === "|" || c === "&" || c === "(" || c === ")") {
      endCommand();
      i++;
    } else {
      append(c);
      i++;
    }
  }
  endCommand();
  return out;
}

/** The text inside `$(...)`, `<(...)` or backticks starting at `i`, and the index after it. */
function substitution(src: string, i: number): [string, number] {
  if (src[i] === "`") {
    let j = i + 1;
    while (j < src.length && src[j] !== "`") j += src[j] === "\\" ? 2 : 1;
    return [src.slice(i + 1, j), j + 1];
  }
  let depth = 0;
  for (let j = i + 1; j < src.length; j++) {
    const c = src[j];
    if (c === "'" || c === '"') {
      const end = src.indexOf(c, j + 1);
      j = end < 0 ? src.length : end;
    } else if (c === "\\") j++;
    else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return [src.slice(i + 2, j), j + 1];
  }
  return [src.slice(i + 2), src.length];
}

function skipHeredoc(src: string, from: number, delimiter: string): number {
  let i = from;
  while (i < src.length) {
    const nl = src.indexOf("\n", i);
    const line = src.slice(i, nl < 0 ? src.length : nl);
    i = nl < 0 ? src.length : nl + 1;
    if (line.trim() === delimiter) break;
  }
  return i;
}

// ---- what a command does ----

/** Commands that change host state, grouped by what the report says about them. */
const RULE_GROUPS: [NotRunKind, string, string][] = [
  ["host-state", "crontab", "changes the host's cron spool outside the sandbox"],
  ["host-state", "at batch atrm", "changes the host's at spool outside the sandbox"],
  ["host-state", "logger", "writes the host's system log"],
  ["host-state", "systemctl systemd-run", "manages the host's services outside the sandbox"],
  ["host-state", "loginctl hostnamectl timedatectl", "changes host settings outside the sandbox"],
  ["host-state", "shutdown reboot halt poweroff", "shuts down or reboots the host"],
  ["system", "telinit", "changes the host's runlevel and needs root"],
  ["system", "service", "manages the host's services and needs root"],
  [
    "system",
    "useradd userdel usermod adduser deluser groupadd groupdel groupmod passwd chpasswd chsh chfn pw",
    "changes the host's user accounts and needs root",
  ],
  ["system", "insmod rmmod modprobe", "loads or unloads kernel modules and needs root"],
  ["system", "mount umount", "changes the host's mounts and needs root"],
  ["system", "swapon swapoff", "changes the host's swap and needs root"],
  ["system", "sysctl", "changes kernel parameters and needs root"],
  ["system", "date", "sets the host's clock and needs root"],
  ["system", "iptables ip6tables nft ufw firewall-cmd", "changes the host firewall and needs root"],
  ["system", "setenforce", "changes SELinux enforcement and needs root"],
  ["system", "auditctl", "changes the audit rules and needs root"],
];
const COMMAND_RULES = new Map(
  RULE_GROUPS.flatMap(([kind, names, what]) => names.split(" ").map((n) => [n, { kind, what }])),
);
/** Forms that only list (`crontab -l`, `systemctl status`), tested on the joined arguments. */
const READ_ONLY: Record<string, RegExp> = {
  crontab: /^(-u \S+ )?-l( -u \S+)?$/,
  systemctl:
    /(^| )--user( |$)|^(-\S+ )*(status|show|cat|list-\S+|is-\S+|get-default|show-environment|help)( |$)|^(-\S+ ?)*$/,
  "systemd-run": /(^| )--user( |$)/,
  loginctl: /^(-\S+ )*(list-\S+|show-\S+|\S+-status)( |$)|^$/,
  hostnamectl: /^(-\S+ )*(status)?$/,
  timedatectl: /^(-\S+ )*((status|show|list-timezones|timesync-status|show-timesync)( .*)?)?$/,
  service: /(^| )--status-all$|^\S+ status$/,
  passwd: /^(-S|--status)( \S+)?$/,
  modprobe: /(^| )(-n|--dry-run|-c|--show-depends)( |$)/,
  mount: /^(-\S+ ?)*$/,
  swapon: /^((-s|--summary|--show\S*) ?)*$/,
  sysctl: /^(?!.*(^| )(-\w*[wp]\w*|--write|--load\S*|--system)( |$))(?!.*=)/,
  iptables: /(^| )(-\w*[LS]\w*|--list\S*)( |$)/,
  ip6tables: /(^| )(-\w*[LS]\w*|--list\S*)( |$)/,
  nft: /^(-\S+ )*list( |$)/,
  ufw: /^status( |$)/,
  "firewall-cmd": /^(--(state|list-\S+|get-\S+|query-\S+|zone=\S+) ?)+$/,
  auditctl: /^(-[ls] ?)+$/,
  pw: /^(user|group)show( |$)/,
  date: /^(?!.*(^| )(-s|--set)( |=|$))(?!(.* )?\d{8,12}(\.\d\d)?( |$))/,
};
const DEVICE_COMMANDS =
  /^(mkfs(\..+)?|mke2fs|mkswap|fdisk|sfdisk|gdisk|sgdisk|cfdisk|parted|wipefs|blkdiscard)$/;
const ELEVATION = new Set(["sudo", "sudoedit", "su", "doas", "pkexec", "run0"]);
const SHELLS = new Set(["sh", "bash", "dash", "zsh", "ksh", "ash", "mksh"]);
const KEYWORDS = /^(if|then|else|elif|fi|do|done|while|until|!|\{|\}|esac)$/;
/** Commands that name a device without opening it. */
const LOOKS_ONLY = /^(ls|stat|file|lsblk|blkid|readlink|realpath|test|\[\[?|echo|printf)$/;
/** Commands that run their arguments as a command: name, then its options that take a value. */
const WRAPPERS = new Map(
  "exec:a nohup: command: builtin: time:fo nice:n ionice:cnp timeout:ks env:uCS stdbuf:ioe setsid: xargs:IdEaLnPs busybox:"
    .split(" ")
    .map((s) => s.split(":") as [string, string]),
);

interface ParsedArgs {
  ops: string[];
  flags: Set<string>;
  values: Map<string, string>;
}
type Targets = (a: ParsedArgs) => string[];

const operands: Targets = (a) => a.ops;
const destination: Targets = (a) => {
  const dir = a.values.get("t") ?? a.values.get("--target-directory");
  if (dir !== undefined) return [dir];
  return a.ops.length >= 2 ? a.ops.slice(-1) : [];
};
/** Commands that write files: names, the verb for the report, value options, the targets. */
const WRITER_GROUPS: [string, string, string, Targets][] = [
  ["tee", "writes", "", operands],
  ["cp mv ln", "writes", "tS", destination],
  ["install", "writes", "tmogS", (a) => (a.flags.has("d") ? a.ops : destination(a))],
  ["rm rmdir unlink shred", "deletes", "ns", operands],
  // The mode or owner operand never starts with "/", so it can stay among the targets.
  ["chmod chown chgrp chattr", "changes the permissions of", "vp", operands],
  ["truncate touch", "writes", "srdt", operands],
  ["mkdir", "creates", "m", operands],
  [
    "sed",
    "writes",
    "efl",
    (a) => {
      if (!a.flags.has("i") && !a.flags.has("--in-place")) return [];
      return a.values.has("e") || a.values.has("f") || a.flags.has("--expression")
        ? a.ops
        : a.ops.slice(1);
    },
  ],
  ["dd", "writes", "", (a) => a.ops.filter((x) => x.startsWith("of=")).map((x) => x.slice(3))],
];
const WRITERS = new Map(
  WRITER_GROUPS.flatMap(([names, verb, value, targets]) =>
    names.split(" ").map((n) => [n, { verb, value, targets }]),
  ),
);

function parseArgs(args: string[], value: string): ParsedArgs {
  const r: ParsedArgs = { ops: [], flags: new Set(), values: new Map() };
  for (let j = 0; j < args.length; j++) {
    const a = args[j] as string;
    if (a === "--") {
      r.ops.push(...args.slice(j + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      r.flags.add(eq < 0 ? a : a.slice(0, eq));
      if (eq >= 0) r.values.set(a.slice(0, eq), a.slice(eq + 1));
    } else if (a.startsWith("-") && a.length > 1) {
      for (let p = 1; p < a.length; p++) {
        const ch = a[p] as string;
        r.flags.add(ch);
        if (value.includes(ch)) {
          r.values.set(ch, p + 1 < a.length ? a.slice(p + 1) : (args[++j] ?? ""));
          break;
        }
      }
    } else r.ops.push(a);
  }
  return r;
}

function commandFindings(words: Word[], out: Finding[]): void {
  const assignment = (w: Word | undefined) =>
    w !== undefined && !w.quoted && /^[A-Za-z_]\w*(\[[^\]]*\])?\+?=/.test(w.text);
  let i = 0;
  while (assignment(words[i]) || (!words[i]?.quoted && KEYWORDS.test(words[i]?.text ?? ""))) i++;
  let name = commandName(words[i]?.text);
  for (;;) {
    if (name === "" || /^(for|case|select|function)$/.test(name)) return;
    if (ELEVATION.has(name)) {
      out.push({ kind: "elevation", reason: `calls ${name}, which needs elevation` });
      return;
    }
    const value = WRAPPERS.get(name);
    if (value === undefined) break;
    // `command -v x` looks x up, it does not run it.
    if (name === "command" && /^-[vV]$/.test(words[i + 1]?.text ?? "")) return;
    let j = i + 1;
    while (words[j]?.text.startsWith("-") || assignment(words[j])) {
      const t = words[j]?.text ?? "";
      j += t.length === 2 && value.includes(t[1] as string) ? 2 : 1;
    }
    i = name === "timeout" ? j + 1 : j;
    name = commandName(words[i]?.text);
  }
  const rest = words.slice(i + 1);
  const args = rest.map((w) => w.text);
  if (SHELLS.has(name) || name === "eval") {
    const c = args.findIndex((a) => /^-[a-zA-Z]*c[a-zA-Z]*$/.test(a));
    const script = name === "eval" ? args.join(" ") : c >= 0 ? args[c + 1] : undefined;
    if (script !== undefined) out.push(...shellFindings(script));
    return;
  }
  if (name === "find") findFindings(rest, out);
  const rule = COMMAND_RULES.get(name);
  if (rule && !READ_ONLY[name]?.test(args.join(" "))) {
    out.push({ kind: rule.kind, reason: `uses ${name}, which ${rule.what}` });
  }
  if (DEVICE_COMMANDS.test(name)) {
    out.push({ kind: "device", reason: `uses ${name}, which writes a disk device` });
  }
  const writer = WRITERS.get(name);
  if (writer) {
    for (const t of writer.targets(parseArgs(args, writer.value))) pathWrite(t, writer.verb, out);
  }
  if (!LOOKS_ONLY.test(name)) for (const a of args) deviceMention(a, out);
}

/** `crontab` and `/usr/bin/crontab` name crontab; `/etc/passwd` as a word names no command. */
function commandName(word: string | undefined): string {
  if (word === undefined || !word.includes("/")) return word ?? "";
  return /\/s?bin\/[^/]+$/.test(word) ? posix.basename(word) : word;
}

/** `find ROOTS ... -exec CMD {} ;` runs CMD on files under ROOTS; `-delete` deletes them. */
function findFindings(words: Word[], out: Finding[]): void {
  const args = words.map((w) => w.text);
  const end = args.findIndex((a) => /^[-(!]/.test(a));
  const roots = end < 0 ? args : args.slice(0, end);
  if (args.includes("-delete")) for (const r of roots) pathWrite(r, "deletes", out);
  for (let j = 0; j < args.length; j++) {
    if (!/^-(exec|execdir|ok|okdir)$/.test(args[j] ?? "")) continue;
    let k = j + 1;
    while (k < args.length && args[k] !== ";" && args[k] !== "+") k++;
    const root = roots[0];
    commandFindings(
      words.slice(j + 1, k).map((w) => (w.text === "{}" && root ? { ...w, text: root } : w)),
      out,
    );
    j = k;
  }
}

// ---- where a write lands ----

const SYSTEM_PATH =
  /^\/(etc|usr|bin|sbin|lib[^/]*|boot|opt|root|srv|var|sys|run|proc\/sys|proc\/sysrq-trigger)(\/|$)/;
const CONTAINED = /^\/(var\/tmp|run\/user\/(\d+|\$[^/]*))(\/|$)/;
const SANDBOX_DEVICES =
  /^\/dev\/(null|zero|full|random|urandom|tty|stdin|stdout|stderr|fd\/.*|tcp\/.*|udp\/.*|shm(\/.*)?)$/;
const RAW_DEVICE =
  /(^|[=:])(\/dev\/([hsv]d[a-z]+\d*|xvd[a-z]+\d*|nvme\d+\S*|mmcblk\d+\S*|dm-\d+|md\d+|loop\d+|mapper\/\S+|mem|kmem|port))$/;

function pathWrite(target: string, verb: string, out: Finding[]): void {
  if (!target.startsWith("/")) return;
  const p = posix.normalize(target).replace(/(.)\/$/, "$1");
  if (p === "/dev" || p.startsWith("/dev/")) {
    if (!SANDBOX_DEVICES.test(p)) {
      out.push({ kind: "device", reason: `${verb} ${p}, a device outside the sandbox` });
    }
  } else if (p === "/" || (SYSTEM_PATH.test(p) && !CONTAINED.test(p))) {
    out.push({ kind: "system", reason: `${verb} ${p}, outside the sandbox` });
  }
}

function deviceMention(word: string, out: Finding[]): void {
  const m = RAW_DEVICE.exec(word);
  if (m) out.push({ kind: "device", reason: `accesses ${m[2]}, a device outside the sandbox` });
}
