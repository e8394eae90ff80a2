/**
 * Which agent instance each process belongs to, and where each process is (its cwd), so that
 * relative paths can be resolved. Fed by fork/exec/exit/chdir events; /proc is consulted only
 * to fill gaps (a process adopted while running, an fd-relative path).
 */
import { posix } from "node:path";
import { procCwd, procFdPath } from "./proc.js";

export const AT_FDCWD = -100;

export type InstanceSource = "exec" | "rule" | "watch";

export interface Instance {
  readonly id: number;
  readonly agentType: string;
  readonly agentId: string;
  readonly rootPid: number;
  readonly source: InstanceSource;
  readonly startedMs: number;
  /** The root process's working directory at start: the agent's workspace. */
  readonly workspace: string | undefined;
  /**
   * The real uid the root process runs as: set when found, and again at each of its execs
   * (`vigil exec` tags a root shell that then becomes the agent's user). -1 while unknown.
   */
  uid: number;
  readonly pids: Set<number>;
}

export interface NewInstance {
  agentType: string;
  agentId?: string | undefined;
  rootPid: number;
  /** The root process's real uid, -1 if unknown. */
  uid: number;
  source: InstanceSource;
  startedMs: number;
  /** Use this id (kernel-allocated instances); otherwise one is allocated. */
  id?: number;
}

export interface Attribution {
  create(spec: NewInstance): Instance;
  get(id: number): Instance | undefined;
  ofPid(pid: number): Instance | undefined;
  /** A process joined an instance (fork, or adoption). Inherits the parent's cwd if known. */
  addPid(instance: Instance, pid: number, parentPid?: number): void;
  /** A process exited; returns its instance if that was the instance's last process. */
  removePid(pid: number): Instance | undefined;
  remove(id: number): void;
  /** chdir(path) was called; the result is confirmed from /proc when next needed. */
  chdir(pid: number, path: string | undefined): void;
  /** Absolute, normalised path for an open, or the path as given when it cannot be resolved. */
  resolve(pid: number, dfd: number, path: string): string;
  instances(): Instance[];
}

export function createAttribution(newAgentId: () => string): Attribution {
  const byId = new Map<number, Instance>();
  const byPid = new Map<number, Instance>();
  const cwds = new Map<number, { path: string; confirmed: boolean }>();
  const parents = new Map<number, number>();
  let nextId = 1;

  const cwdOf = (pid: number, depth = 0): string | undefined => {
    const known = cwds.get(pid);
    if (known?.confirmed) return known.path;
    const live = procCwd(pid);
    if (live !== undefined && !live.endsWith(" (deleted)")) {
      cwds.set(pid, { path: live, confirmed: true });
      return live;
    }
    if (known) return known.path;
    const parent = parents.get(pid);
    return parent !== undefined && depth < 8 ? cwdOf(parent, depth + 1) : undefined;
  };

  return {
    create(spec) {
      let id = spec.id;
      if (id === undefined) {
        while (byId.has(nextId)) nextId++;
        id = nextId++;
        if (nextId > 0x7fffffff) nextId = 1;
      }
      const instance: Instance = {
        id,
        agentType: spec.agentType,
        agentId: spec.agentId ?? newAgentId(),
        rootPid: spec.rootPid,
        source: spec.source,
        startedMs: spec.startedMs,
        workspace: cwdOf(spec.rootPid),
        uid: spec.uid,
        pids: new Set([spec.rootPid]),
      };
      byId.set(id, instance);
      byPid.set(spec.rootPid, instance);
      return instance;
    },
    get: (id) => byId.get(id),
    ofPid: (pid) => byPid.get(pid),
    addPid(instance, pid, parentPid) {
      instance.pids.add(pid);
      byPid.set(pid, instance);
      if (parentPid !== undefined) {
        parents.set(pid, parentPid);
        const pc = cwds.get(parentPid);
        if (pc) cwds.set(pid, { path: pc.path, confirmed: false });
      }
    },
    removePid(pid) {
      const instance = byPid.get(pid);
      byPid.delete(pid);
      cwds.delete(pid);
      parents.delete(pid);
      if (!instance) return undefined;
      instance.pids.delete(pid);
      return instance.pids.size === 0 ? instance : undefined;
    },
    remove(id) {
      const instance = byId.get(id);
      if (!instance) return;
      for (const pid of instance.pids) {
        byPid.delete(pid);
        cwds.delete(pid);
        parents.delete(pid);
      }
      byId.delete(id);
    },
    chdir(pid, path) {
      // The event is seen at syscall entry: the call may still fail, so this is a guess that
      // /proc confirms when the process is still there.
      const base = path === undefined ? undefined : path.startsWith("/") ? "/" : cwdOf(pid);
      if (path !== undefined && base !== undefined) {
        cwds.set(pid, { path: posix.resolve(base, path), confirmed: false });
      } else {
        cwds.delete(pid);
      }
    },
    resolve(pid, dfd, path) {
      if (path.startsWith("/")) return posix.normalize(path);
      const base = dfd === AT_FDCWD ? cwdOf(pid) : procFdPath(pid, dfd);
      return base === undefined ? path : posix.resolve(base, path);
    },
    instances: () => [...byId.values()],
  };
}
