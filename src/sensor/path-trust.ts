/**
 * Whether a file on disk can only be what a trusted user put there: the test rules apply to an
 * agent's executable and script, so that a copy of /bin/sleep named like an agent, in a
 * directory its author can write, is not taken for the agent.
 */
import { lstatSync, readlinkSync, type Stats, statSync } from "node:fs";

export interface PathTrust {
  /**
   * True when `path` (absolute) names a regular file that only trusted uids can change or
   * replace: the file and every directory on the way to it, symlinks followed (and each link's
   * own directory checked), are owned by root or a trusted uid and writable by no one else. A
   * directory others may write counts only with the sticky bit, and then only for entries a
   * trusted uid owns (others cannot rename or remove those). Unreadable or missing: false.
   */
  isTrusted(path: string): boolean;
  /**
   * True when `exe` is trusted and is the very file process `pid` runs (same device and inode
   * as /proc/<pid>/exe), so a path that names another file in the sensor's mount namespace, or
   * a file replaced since the exec, does not pass.
   */
  isTrustedExe(pid: number, exe: string): boolean;
}

const MAX_LINKS = 40; // the kernel's own limit on symlinks in one lookup

function lstat(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** `uids`: trusted besides root (0), which always is. */
export function createPathTrust(uids: readonly number[] = []): PathTrust {
  const trusted = new Set([0, ...uids]);
  // Group-writable counts as writable by others unless the group is root's.
  const othersWrite = (st: Stats) =>
    (st.mode & 0o002) !== 0 || ((st.mode & 0o020) !== 0 && st.gid !== 0);
  const sticky = (st: Stats) => (st.mode & 0o1000) !== 0;

  const isTrusted = (path: string): boolean => {
    if (!path.startsWith("/")) return false;
    const root = lstat("/");
    if (!root || !trusted.has(root.uid) || othersWrite(root)) return false;
    const pending = path.split("/").filter((c) => c !== "" && c !== ".");
    const dirs = ["/"];
    let links = 0;
    for (let name = pending.shift(); name !== undefined; name = pending.shift()) {
      const dir = dirs[dirs.length - 1] as string;
      if (name === "..") {
        if (dirs.length > 1) dirs.pop();
        continue;
      }
      const next = dir === "/" ? `/${name}` : `${dir}/${name}`;
      const st = lstat(next);
      // Every entry is a trusted uid's, so a sticky directory's other users cannot replace it.
      if (!st || !trusted.has(st.uid)) return false;
      if (st.isSymbolicLink()) {
        if (++links > MAX_LINKS) return false;
        let target: string;
        try {
          target = readlinkSync(next);
        } catch {
          return false;
        }
        if (target.startsWith("/")) dirs.splice(1);
        pending.unshift(...target.split("/").filter((c) => c !== "" && c !== "."));
        continue;
      }
      const last = pending.length === 0;
      if (last) return st.isFile() && !othersWrite(st);
      if (!st.isDirectory()) return false;
      if (othersWrite(st) && !sticky(st)) return false;
      dirs.push(next);
    }
    return false; // "/" itself is not a file
  };

  return {
    isTrusted,
    isTrustedExe(pid, exe) {
      try {
        const running = statSync(`/proc/${pid}/exe`);
        const named = statSync(exe);
        if (running.dev !== named.dev || running.ino !== named.ino) return false;
      } catch {
        return false;
      }
      return isTrusted(exe);
    },
  };
}
