/**
 * Where real agents run in an evaluation, so that nothing leaves the machine and nothing they do
 * outlives the run:
 * - the whole evaluation (Vigil, NATS, Alertmanager, the scripted model, the sinks and the agents)
 *   runs in a network namespace made for it, whose only interface is loopback: agents that try to
 *   reach their vendors, and tests that name remote hosts, reach nothing. `inIsolatedNetwork`
 *   re-executes the evaluation there and checks it;
 * - each agent session runs as an unprivileged user the harness creates, with no_new_privs (no
 *   setuid programs: no sudo, crontab or at), resource limits, and a mount namespace in which
 *   /tmp, /var/tmp and /dev/shm are the sandbox's own directories.
 */
import { execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ErrorCodes, VigilError } from "../../src/errors.js";

/** Set in the environment of the evaluation re-executed inside its namespace. */
export const NETNS_ENV = "VIGIL_EVAL_NETNS";

export interface AgentUser {
  name: string;
  uid: number;
  gid: number;
}

function run(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new VigilError(
      ErrorCodes.USAGE,
      `${cmd} ${args.join(" ")} failed: ${(err.stderr ?? err.message).trim()}`,
      {
        hint: "the evaluation needs root and iproute2 (ip netns), util-linux (unshare, setpriv) and useradd",
        cause: e,
      },
    );
  }
}

/** The unprivileged user agents run as, created (a system user with no home) if missing. */
export function ensureAgentUser(name: string): AgentUser {
  const id = (flag: string) => Number(run("id", [flag, name]).trim());
  try {
    execFileSync("id", ["-u", name], { stdio: "ignore" });
  } catch {
    run("useradd", [
      "--system",
      "--user-group",
      "--no-create-home",
      "--home-dir",
      "/nonexistent",
      "--shell",
      "/bin/bash",
      name,
    ]);
  }
  const user = { name, uid: id("-u"), gid: id("-g") };
  if (user.uid === 0) {
    throw new VigilError(ErrorCodes.USAGE, `agent user ${name} is root`, {
      hint: "use an unprivileged user",
    });
  }
  return user;
}

/** Non-loopback interfaces of the current network namespace. */
export function outsideInterfaces(): string[] {
  return Object.entries(networkInterfaces())
    .filter(([, addrs]) => (addrs ?? []).some((a) => !a.internal))
    .map(([name]) => name);
}

/**
 * Runs `argv` (this evaluation) again inside a new network namespace that has only loopback,
 * and returns its exit code; the namespace is deleted afterwards. Inside (NETNS_ENV set), it
 * checks that no interface but loopback exists and returns undefined: go on.
 */
export async function inIsolatedNetwork(argv: readonly string[]): Promise<number | undefined> {
  if (process.env[NETNS_ENV]) {
    const outside = outsideInterfaces();
    if (outside.length > 0) {
      throw new VigilError(
        ErrorCodes.USAGE,
        `the evaluation's network namespace has interfaces other than loopback: ${outside.join(", ")}`,
        {
          hint: "run it without setting VIGIL_EVAL_NETNS: it makes its own namespace",
        },
      );
    }
    return undefined;
  }
  if (process.getuid?.() !== 0) {
    throw new VigilError(ErrorCodes.USAGE, "evaluating real agents needs root", {
      hint: "run it as root (sudo): it makes a network namespace, a user and the eBPF sensor",
    });
  }
  const ns = `vigil-eval-${process.pid}`;
  const etc = join("/etc/netns", ns);
  run("ip", ["netns", "add", ns]);
  const cleanup = () => {
    try {
      execFileSync("ip", ["netns", "delete", ns], { stdio: "ignore" });
    } catch {
      // already gone
    }
    rmSync(etc, { recursive: true, force: true });
  };
  process.once("exit", cleanup);
  try {
    run("ip", ["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
    // `ip netns exec` binds /etc/netns/<ns>/* over /etc: names resolve through the evaluation's
    // own DNS responder on loopback, and nothing else.
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, "resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    // Host names by files and that responder only: not by systemd-resolved, mDNS or nscd, whose
    // sockets live in the filesystem and answer from the host's network.
    writeFileSync(
      join(etc, "nsswitch.conf"),
      "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n" +
        "protocols: files\nservices: files\nethers: files\nrpc: files\nnetgroup: files\n",
    );
    const child = spawn("ip", ["netns", "exec", ns, ...argv], {
      stdio: "inherit",
      env: { ...process.env, [NETNS_ENV]: ns },
    });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
    for (const sig of signals) process.on(sig, forward);
    const code = await new Promise<number>((resolve) => {
      child.on("exit", (c, sig) => resolve(c ?? (sig === "SIGINT" ? 130 : 143)));
    });
    for (const sig of signals) process.off(sig, forward);
    return code;
  } finally {
    cleanup();
    process.off("exit", cleanup);
  }
}

export interface Confinement {
  user: AgentUser;
  /** The sandbox's directories that become /tmp, /var/tmp and /dev/shm for the agent. */
  tmp: string;
  varTmp: string;
  shm: string;
  /** RLIMIT_NPROC and RLIMIT_FSIZE (bytes). */
  maxProcesses?: number;
  maxFileBytes?: number;
}

/**
 * argv that runs `command` confined: a private mount namespace with the sandbox's temporary
 * directories, then the agent user with no_new_privs, resource limits and only `env`.
 */
export function confinedArgv(
  c: Confinement,
  env: Readonly<Record<string, string>>,
  command: readonly string[],
): string[] {
  // The host's local service sockets (the D-Bus system bus, systemd-resolved, nscd, avahi) are
  // hidden under empty directories: through them a process reaches the host's network and
  // services whatever its network namespace.
  const script =
    'mount --bind "$1" /tmp && mount --bind "$2" /var/tmp && mount --bind "$3" /dev/shm && ' +
    "for d in /run/dbus /run/systemd/resolve /run/nscd /var/run/nscd /run/avahi-daemon; do " +
    '[ -d "$d" ] && ! [ -L "$d" ] && mount -t tmpfs -o size=4k,mode=755 none "$d"; done; ' +
    'shift 3 && exec "$@"';
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "/bin/sh",
    "-c",
    script,
    "vigil-confine",
    c.tmp,
    c.varTmp,
    c.shm,
    "prlimit",
    `--nproc=${c.maxProcesses ?? 2048}`,
    `--fsize=${c.maxFileBytes ?? 2 ** 30}`,
    "--",
    "setpriv",
    `--reuid=${c.user.uid}`,
    `--regid=${c.user.gid}`,
    "--init-groups",
    "--no-new-privs",
    "--inh-caps=-all",
    "--",
    "env",
    "-i",
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ...command,
  ];
}

const mountNs = (pid: number | "self"): string | undefined => {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
};

/** A confined command's mount namespace, held open so its number cannot go to another. */
export interface HeldNamespace {
  id: string;
  fd: number;
}

/**
 * The mount namespace a confined command runs in, once its `unshare` has made it (undefined if
 * the process ended first). Everything the command starts stays in it, daemons included, so it
 * names the session's processes even when other evaluations run as the same user. It is held
 * open until killNamespace: a freed namespace's number is given to the next one made, which
 * could be anyone's.
 */
export async function confinedNamespace(
  pid: number,
  timeoutMs = 5000,
): Promise<HeldNamespace | undefined> {
  const own = mountNs("self");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const id = mountNs(pid);
    if (id === undefined) return undefined;
    if (id !== own) {
      let fd: number;
      try {
        fd = openSync(`/proc/${pid}/ns/mnt`, "r");
      } catch {
        return undefined;
      }
      // The process may have gone between the two reads: the namespace held must be the one seen.
      const held = readlinkSync(`/proc/self/fd/${fd}`);
      if (held !== id) {
        closeSync(fd);
        return undefined;
      }
      return { id, fd };
    }
    if (Date.now() > deadline) return undefined;
    await sleep(2);
  }
}

/**
 * SIGKILL to every process in the held namespace until none is left; then lets it go. A process
 * that made a mount namespace of its own (through a user namespace) is not found: the
 * evaluation's limit, said in docs/real-agents.md.
 */
export function killNamespace(ns: HeldNamespace | undefined, release = true): void {
  if (ns === undefined) return;
  for (let round = 0; round < 10; round++) {
    let found = 0;
    for (const name of readdirSync("/proc")) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid <= 1 || mountNs(pid) !== ns.id) continue;
      found++;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    if (found === 0) break;
  }
  if (release) {
    try {
      closeSync(ns.fd);
    } catch {
      // closed already
    }
  }
}

/** Sessions running now: killed if the evaluation exits (an error, a signal) mid-session. */
export const liveNamespaces = new Set<HeldNamespace>();
process.on("exit", () => {
  for (const ns of liveNamespaces) killNamespace(ns);
});
