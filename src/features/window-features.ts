/**
 * The fixed part of every feature vector: what a window says besides its syscall n-grams.
 * Every value is log1p of a count, so a window with ten times the activity moves a feature by
 * ~2.3 rather than by 10x, and the model's standardisation is not dominated by a few bursts.
 *
 * | name                          | log1p of                                                  |
 * |-------------------------------|-----------------------------------------------------------|
 * | exec:count_log                | execs (sum of counts)                                     |
 * | exec:distinct_paths           | distinct exec paths                                       |
 * | exec:shell                    | execs of a shell (sh bash dash zsh ksh mksh ash fish csh) |
 * | exec:network_tools            | execs of curl wget nc ncat socat ssh scp telnet ... (1)   |
 * | exec:inline_code              | interpreters given code on the command line (2)           |
 * | exec:from_tmp                 | execs of a program under /tmp, /dev/shm or /var/tmp       |
 * | file:<class>:<op>             | opens of that class (workspace home system secret temp    |
 * |                               | other) for that op (read write): 12 features              |
 * | file:distinct_log             | distinct file paths                                       |
 * | net:out:connections_log       | outbound connections                                      |
 * | net:in:connections_log        | accepted connections                                      |
 * | net:listen:count              | bind/listen endpoints                                     |
 * | net:destinations              | distinct outbound address:port (any family)               |
 * | net:nonloopback_destinations  | distinct outbound inet/inet6 address:port, not loopback   |
 * |                               | and not unspecified                                       |
 * | net:bytes_out_log             | bytes sent                                                |
 * | net:bytes_in_log              | bytes received                                            |
 * | net:sends_log                 | send calls                                                |
 * | net:recvs_log                 | receive calls                                             |
 * | net:udp53_sends_log           | sends to UDP port 53 (DNS, and DNS tunnelling)            |
 * | net:unix_connections_log      | unix-socket connections, either direction                 |
 * | priv:setuid                   | setuid setgid setre[ug]id setres[ug]id setfs[ug]id        |
 * |                               | setgroups (and their 32-bit forms)                        |
 * | priv:to_root                  | the calls of priv:setuid with an argument of 0            |
 * | priv:capset                   | capset                                                    |
 * | priv:ptrace                   | ptrace process_vm_readv process_vm_writev pidfd_getfd     |
 * | priv:bpf                      | bpf                                                       |
 * | priv:module                   | init_module finit_module delete_module                    |
 * | priv:mount                    | mount umount umount2 pivot_root chroot fsmount move_mount |
 * | priv:namespace                | unshare setns; clone clone3 with CLONE_NEW* flags (the    |
 * |                               | sensor reports no other clone)                            |
 * | priv:kexec                    | kexec_load kexec_file_load                                |
 * | priv:other                    | any other privilege event the sensor reports (execveat    |
 * |                               | memfd_create perf_event_open keyctl io_uring_setup ...)   |
 * |                               | A compat (32-bit) call, compat_<name>, counts in the      |
 * |                               | family of <name>.                                         |
 * | proc:started_log              | processes started                                         |
 * | proc:exited_log               | processes exited                                          |
 *
 * (1) Matched on the program's base name with a trailing version stripped ("python3.11" ->
 *     "python"); `busybox <applet>` is matched on the applet.
 * (2) python -c, perl -e/-E, ruby -e, node -e/-p/--eval/--print, php -r, lua -e. Not folded
 *     into network_tools: agents run inline code for many reasons, and the baseline decides how
 *     unusual it is.
 */
import { FILE_CLASSES, type WindowRecord } from "../contracts/window.js";

const FILE_OPS = ["read", "write"] as const;

const EXEC_NAMES = [
  "exec:count_log",
  "exec:distinct_paths",
  "exec:shell",
  "exec:network_tools",
  "exec:inline_code",
  "exec:from_tmp",
] as const;

const FILE_NAMES = [
  ...FILE_CLASSES.flatMap((c) => FILE_OPS.map((op) => `file:${c}:${op}` as const)),
  "file:distinct_log",
] as const;

const NET_NAMES = [
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
] as const;

const PRIV_FAMILIES = [
  "setuid",
  "to_root",
  "capset",
  "ptrace",
  "bpf",
  "module",
  "mount",
  "namespace",
  "kexec",
  "other",
] as const;
type PrivFamily = (typeof PRIV_FAMILIES)[number];

const PROC_NAMES = ["proc:started_log", "proc:exited_log"] as const;

/** Names of the window features, in vector order (they follow the syscall block). */
export const WINDOW_FEATURE_NAMES: readonly string[] = [
  ...EXEC_NAMES,
  ...FILE_NAMES,
  ...NET_NAMES,
  ...PRIV_FAMILIES.map((f) => `priv:${f}`),
  ...PROC_NAMES,
];

type Named = (typeof EXEC_NAMES)[number] | (typeof NET_NAMES)[number] | (typeof PROC_NAMES)[number];
const AT = Object.fromEntries(WINDOW_FEATURE_NAMES.map((name, i) => [name, i])) as Record<
  Named,
  number
>;
const FILE_AT = WINDOW_FEATURE_NAMES.indexOf("file:workspace:read");
const FILE_DISTINCT_AT = WINDOW_FEATURE_NAMES.indexOf("file:distinct_log");
const CLASS_INDEX = new Map<string, number>(FILE_CLASSES.map((c, i) => [c, i]));
const PRIV_AT = WINDOW_FEATURE_NAMES.indexOf("priv:setuid");
const PRIV_INDEX = new Map<PrivFamily, number>(PRIV_FAMILIES.map((f, i) => [f, i]));

const SHELLS = new Set(["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh"]);
const NETWORK_TOOLS = new Set([
  "curl",
  "wget",
  "nc",
  "ncat",
  "netcat",
  "nc.openbsd",
  "nc.traditional",
  "socat",
  "ssh",
  "scp",
  "sftp",
  "telnet",
  "ftp",
  "tftp",
  "rsync",
  "nmap",
  "dig",
  "nslookup",
  "host",
  "aria2c",
]);
const INLINE_CODE_FLAGS = new Map<string, readonly string[]>([
  ["python", ["-c"]],
  ["perl", ["-e", "-E"]],
  ["ruby", ["-e"]],
  ["node", ["-e", "-p", "--eval", "--print"]],
  ["php", ["-r"]],
  ["lua", ["-e"]],
]);
const TMP_DIRS = ["/tmp/", "/dev/shm/", "/var/tmp/"];

const PRIV_SYSCALLS = new Map<string, PrivFamily>([
  ...[
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setgroups",
  ].flatMap((s) => [[s, "setuid"] as const, [`${s}32`, "setuid"] as const]),
  ["capset", "capset"],
  ["ptrace", "ptrace"],
  ["process_vm_readv", "ptrace"],
  ["process_vm_writev", "ptrace"],
  ["pidfd_getfd", "ptrace"],
  ["bpf", "bpf"],
  ["init_module", "module"],
  ["finit_module", "module"],
  ["delete_module", "module"],
  ["mount", "mount"],
  ["umount", "mount"],
  ["umount2", "mount"],
  ["pivot_root", "mount"],
  ["chroot", "mount"],
  ["fsmount", "mount"],
  ["move_mount", "mount"],
  ["unshare", "namespace"],
  ["setns", "namespace"],
  ["clone", "namespace"],
  ["clone3", "namespace"],
  ["kexec_load", "kexec"],
  ["kexec_file_load", "kexec"],
]);

const add = (out: Float32Array, i: number, v: number): void => {
  out[i] = (out[i] ?? 0) + v;
};
const baseName = (path: string): string => path.slice(path.lastIndexOf("/") + 1);
/** "python3.11" -> "python", "ksh93" -> "ksh": versions are not behaviour. */
const program = (path: string): string => baseName(path).replace(/[\d.]+$/, "");

function isLoopbackOrUnspecified(address: string): boolean {
  return (
    address === "" ||
    address === "0.0.0.0" ||
    address === "::" ||
    address === "::1" ||
    address.startsWith("127.") ||
    address.startsWith("::ffff:127.")
  );
}

/** Writes the WINDOW_FEATURE_NAMES values of `w` into `out` from `at` on (all zero before). */
export function writeWindowFeatures(w: WindowRecord, out: Float32Array, at: number): void {
  let execs = 0;
  let shell = 0;
  let netTools = 0;
  let inline = 0;
  let fromTmp = 0;
  const execPaths = new Set<string>();
  for (const e of w.execs) {
    execs += e.count;
    execPaths.add(e.path);
    let name = program(e.path);
    if (name === "busybox" && e.argv[1] !== undefined) name = program(e.argv[1]);
    if (SHELLS.has(name)) shell += e.count;
    if (NETWORK_TOOLS.has(name)) netTools += e.count;
    const flags = INLINE_CODE_FLAGS.get(name);
    if (flags && e.argv.some((a, i) => i > 0 && flags.includes(a))) inline += e.count;
    if (TMP_DIRS.some((d) => e.path.startsWith(d))) fromTmp += e.count;
  }
  out[at + AT["exec:count_log"]] = Math.log1p(execs);
  out[at + AT["exec:distinct_paths"]] = Math.log1p(execPaths.size);
  out[at + AT["exec:shell"]] = Math.log1p(shell);
  out[at + AT["exec:network_tools"]] = Math.log1p(netTools);
  out[at + AT["exec:inline_code"]] = Math.log1p(inline);
  out[at + AT["exec:from_tmp"]] = Math.log1p(fromTmp);

  // Counts are summed in place first, then compressed.
  const files = at + FILE_AT;
  const filePaths = new Set<string>();
  for (const f of w.files) {
    filePaths.add(f.path);
    const c = CLASS_INDEX.get(f.class);
    if (c !== undefined) add(out, files + c * 2 + (f.op === "write" ? 1 : 0), f.count);
  }
  for (let i = 0; i < FILE_CLASSES.length * 2; i++)
    out[files + i] = Math.log1p(out[files + i] ?? 0);
  out[at + FILE_DISTINCT_AT] = Math.log1p(filePaths.size);

  let outConns = 0;
  let inConns = 0;
  let listens = 0;
  let bytesOut = 0;
  let bytesIn = 0;
  let sends = 0;
  let recvs = 0;
  let dns = 0;
  let unixConns = 0;
  const destinations = new Set<string>();
  let remote = 0;
  for (const n of w.net) {
    bytesOut += n.bytesOut;
    bytesIn += n.bytesIn;
    sends += n.sends;
    recvs += n.recvs;
    if (n.family === "unix") unixConns += n.connections;
    if (n.direction === "listen") {
      listens++;
      continue;
    }
    if (n.direction === "in") {
      inConns += n.connections;
      continue;
    }
    outConns += n.connections;
    if (n.protocol === "udp" && n.port === 53) dns += n.sends;
    const dest = `${n.address}|${n.port}`;
    if (destinations.has(dest)) continue;
    destinations.add(dest);
    const ip = n.family === "inet" || n.family === "inet6";
    if (ip && !isLoopbackOrUnspecified(n.address)) remote++;
  }
  out[at + AT["net:out:connections_log"]] = Math.log1p(outConns);
  out[at + AT["net:in:connections_log"]] = Math.log1p(inConns);
  out[at + AT["net:listen:count"]] = Math.log1p(listens);
  out[at + AT["net:destinations"]] = Math.log1p(destinations.size);
  out[at + AT["net:nonloopback_destinations"]] = Math.log1p(remote);
  out[at + AT["net:bytes_out_log"]] = Math.log1p(bytesOut);
  out[at + AT["net:bytes_in_log"]] = Math.log1p(bytesIn);
  out[at + AT["net:sends_log"]] = Math.log1p(sends);
  out[at + AT["net:recvs_log"]] = Math.log1p(recvs);
  out[at + AT["net:udp53_sends_log"]] = Math.log1p(dns);
  out[at + AT["net:unix_connections_log"]] = Math.log1p(unixConns);

  const priv = at + PRIV_AT;
  const toRoot = priv + (PRIV_INDEX.get("to_root") ?? 0);
  for (const p of w.privilege) {
    // a compat (32-bit) call is in the family of its 64-bit form
    const name = p.syscall.startsWith("compat_") ? p.syscall.slice(7) : p.syscall;
    const family = PRIV_SYSCALLS.get(name) ?? "other";
    add(out, priv + (PRIV_INDEX.get(family) ?? 0), p.count);
    // setgroups(0, ...) drops groups; every other call here takes ids, and 0 is root.
    const ids = family === "setuid" && !p.syscall.startsWith("setgroups");
    if (ids && p.args.includes("0")) add(out, toRoot, p.count);
  }
  for (let i = 0; i < PRIV_FAMILIES.length; i++) out[priv + i] = Math.log1p(out[priv + i] ?? 0);

  out[at + AT["proc:started_log"]] = Math.log1p(w.processes.started);
  out[at + AT["proc:exited_log"]] = Math.log1p(w.processes.exited);
}
