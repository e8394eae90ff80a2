/**
 * The world a real agent's sessions run in, one per agent CLI, under a root that is not a
 * temporary directory (the agent's /tmp is bound over it): a HOME with fake credentials, the
 * three project workspaces, and the directories that become the agent's /tmp, /var/tmp and
 * /dev/shm. `reset` rebuilds all of it, owned by the agent user, so that every session starts
 * from the same state whatever the one before did (an Atomic Red Team test may delete, encrypt
 * or rewrite files).
 */
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { prng } from "../random.js";
import { buildHome, buildWorkspace, setupEnv } from "../scenarios/workspaces.js";
import type { AgentUser, Confinement } from "./isolation.js";
import { PROJECT_KINDS, type ProjectKind, WORKSPACE_OF } from "./workload.js";

export interface AgentSandbox {
  root: string;
  home: string;
  workspace(kind: ProjectKind): string;
  confinement: Confinement;
  /** Rebuilds HOME, the workspaces and the temporary directories from `seed`. */
  reset(seed: number): void;
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

export function createAgentSandbox(o: {
  root: string;
  user: AgentUser;
  npmRegistry: string;
}): AgentSandbox {
  const home = join(o.root, "home");
  const dirs = {
    tmp: join(o.root, "tmp"),
    varTmp: join(o.root, "var-tmp"),
    shm: join(o.root, "shm"),
  };
  const work = (k: ProjectKind) => join(o.root, "work", k);
  const reset = (seed: number) => {
    for (const d of [home, join(o.root, "work"), ...Object.values(dirs)])
      rmSync(d, { recursive: true, force: true });
    mkdirSync(o.root, { recursive: true, mode: 0o755 });
    for (const d of Object.values(dirs)) {
      mkdirSync(d, { recursive: true });
      chmodSync(d, 0o1777);
    }
    const random = prng(seed);
    buildHome(home, random);
    const env = setupEnv(home, dirs.tmp);
    for (const k of PROJECT_KINDS) buildWorkspace(WORKSPACE_OF[k], work(k), random, env);
    // npm reaches only the loopback registry, and says nothing else.
    writeFileSync(
      join(home, ".npmrc"),
      `registry=${o.npmRegistry}\nfund=false\naudit=false\nupdate-notifier=false\n`,
    );
    chownTree(home, o.user.uid, o.user.gid);
    chownTree(join(o.root, "work"), o.user.uid, o.user.gid);
  };
  return {
    root: o.root,
    home,
    workspace: work,
    confinement: { user: o.user, ...dirs },
    reset,
  };
}
