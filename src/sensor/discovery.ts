/**
 * Finding agents through /proc: the ones already running when the sensor starts, and the
 * descendants of a process that is adopted while running. New agents after start-up are found
 * at exec instead (sensor.ts).
 */
import type { Attribution, Instance } from "./attribution.js";
import type { PathTrust } from "./path-trust.js";
import {
  childrenMap,
  listPids,
  type ProcInfo,
  procDescendants,
  processFacts,
  procInfo,
} from "./proc.js";
import type { RuleMatcher } from "./rules.js";

export interface DiscoveryDeps {
  attribution: Attribution;
  rules: RuleMatcher;
  trust: PathTrust;
  /** Whether a rule-matched process of `uid` may become a new instance (the per-uid cap). */
  admit(agentType: string, uid: number): boolean;
  /** Tags every thread of `pid` with the instance in the kernel. */
  track(pid: number, instance: number): Promise<number>;
  onTagged(instance: Instance): void;
}

export interface Discovery {
  /**
   * Tags `root` and every descendant /proc shows now as `instance`. `fresh`: the caller knows
   * the process has no children yet (vigil exec stops it before exec), so /proc is not read.
   */
  adoptTree(instance: Instance, root: number, fresh?: boolean): Promise<void>;
  /** Adopts running processes that match a rule (the topmost of a matching chain is the agent). */
  scanRunning(exclude: ReadonlySet<number>): Promise<Instance[]>;
}

function snapshot(): ProcInfo[] {
  return listPids()
    .map(procInfo)
    .filter((p) => p !== undefined);
}

export function createDiscovery(deps: DiscoveryDeps): Discovery {
  const adopt = async (instance: Instance, root: number, infos: ProcInfo[]): Promise<void> => {
    const kids = childrenMap(infos);
    const queue = [root];
    for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
      if (pid !== root) deps.attribution.addPid(instance, pid);
      await deps.track(pid, instance.id);
      queue.push(...(kids.get(pid) ?? []));
    }
    deps.onTagged(instance);
  };

  return {
    async adoptTree(instance, root, fresh = false) {
      const below = fresh ? [] : procDescendants(root);
      if (below === undefined) return adopt(instance, root, snapshot());
      // The common case (`vigil exec` stops its child before exec: no descendants) reads a
      // few files instead of every process on the host.
      await deps.track(root, instance.id);
      for (const pid of below) {
        deps.attribution.addPid(instance, pid);
        await deps.track(pid, instance.id);
      }
      deps.onTagged(instance);
    },
    async scanRunning(exclude) {
      const infos = snapshot();
      const byPid = new Map(infos.map((p) => [p.pid, p]));
      const matched = new Map<number, string>();
      for (const p of infos) {
        if (exclude.has(p.pid) || p.pid === 2 || p.ppid === 2) continue; // kernel threads
        const m = deps.rules.match(processFacts(p.pid, p, deps.trust));
        if (m) matched.set(p.pid, m.agentType);
      }
      const found: Instance[] = [];
      for (const [pid, agentType] of matched) {
        let covered = false;
        let up = byPid.get(pid)?.ppid;
        for (let depth = 0; up !== undefined && up > 1 && depth < 64; depth++) {
          if (matched.has(up)) covered = true;
          up = byPid.get(up)?.ppid;
        }
        if (covered) continue; // a descendant of another matching process: part of that agent
        const uid = byPid.get(pid)?.uid ?? -1;
        if (!deps.admit(agentType, uid)) continue;
        const instance = deps.attribution.create({
          agentType,
          rootPid: pid,
          uid,
          source: "rule",
          startedMs: Date.now(),
        });
        try {
          await adopt(instance, pid, infos);
          found.push(instance);
        } catch {
          deps.attribution.remove(instance.id); // it exited while we looked
        }
      }
      return found;
    },
  };
}
