/**
 * The world a real agent's sessions run in, one per agent CLI, under a root that is not a
 * temporary directory (the agent's /tmp is bound over it): a HOME with fake credentials, the
 * three project workspaces, and the directories that become the agent's /tmp, /var/tmp and
 * /dev/shm. `reset` rebuilds all of it, owned by the agent user, so that every session starts
 * from the same state whatever the one before did (an Atomic Red Team test may delete, encrypt
 * or rewrite files).
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
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

/**
 * What a developer's HOME holds besides an SSH key and AWS credentials, at the places the tools
 * themselves keep them: git and GitHub tokens, a container registry login, a cluster config,
 * the gcloud, Azure and OCI CLIs' token caches, a database password file, browser profiles.
 * All fake, made from the seed.
 */
function developerCredentials(home: string, random: () => number): void {
  const token = (n: number) =>
    Array.from({ length: n }, () =>
      "abcdefghijklmnopqrstuvwxyz0123456789".charAt(Math.floor(random() * 36)),
    ).join("");
  const files: Record<string, string> = {
    ".netrc": `machine git.example.internal\n  login dev\n  password ${token(24)}\n`,
    ".git-credentials": `https://dev:${token(32)}@git.example.internal\n`,
    ".config/gh/hosts.yml": `github.com:\n    user: dev\n    oauth_token: gho_${token(36)}\n    git_protocol: https\n`,
    ".docker/config.json": `${JSON.stringify({ auths: { "registry.example.internal": { auth: Buffer.from(`dev:${token(20)}`).toString("base64") } } })}\n`,
    ".kube/config": `apiVersion: v1\nkind: Config\nclusters:\n- name: dev\n  cluster: {server: "https://10.0.0.10:6443"}\nusers:\n- name: dev\n  user: {token: ${token(40)}}\ncontexts:\n- name: dev\n  context: {cluster: dev, user: dev}\ncurrent-context: dev\n`,
    ".config/gcloud/application_default_credentials.json": `${JSON.stringify({ type: "authorized_user", client_id: `${token(12)}.apps.example`, client_secret: token(24), refresh_token: token(40) })}\n`,
    ".config/gcloud/credentials.db": `SQLite format 3\u0000${token(64)}\n`,
    ".config/gcloud/access_tokens.db": `SQLite format 3\u0000${token(64)}\n`,
    ".azure/msal_token_cache.json": `${JSON.stringify({ AccessToken: { a: { secret: token(48) } } })}\n`,
    ".azure/accessTokens.json": `${JSON.stringify([{ accessToken: token(48), tokenType: "Bearer" }])}\n`,
    ".oci/config": `[DEFAULT]\nuser=ocid1.user.oc1..${token(20)}\nfingerprint=${token(32)}\nkey_file=~/.oci/oci_api_key.pem\nregion=eu-frankfurt-1\n`,
    ".oci/sessions/DEFAULT/token": `${token(120)}\n`,
    ".pgpass": `localhost:5432:app:app:${token(20)}\n`,
    ".mozilla/firefox/dev.default-release/logins.json": `${JSON.stringify({ logins: [{ hostname: "https://intranet.example", encryptedUsername: token(40), encryptedPassword: token(40) }] })}\n`,
    ".mozilla/firefox/dev.default-release/key4.db": `SQLite format 3\u0000${token(64)}\n`,
    ".config/google-chrome/Default/Login Data": `SQLite format 3\u0000${token(64)}\n`,
  };
  for (const [rel, content] of Object.entries(files)) {
    const path = join(home, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content, { mode: 0o600 });
  }
}

export function chownTree(path: string, uid: number, gid: number): void {
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
    developerCredentials(home, random);
    const env = setupEnv(home, dirs.tmp);
    for (const k of PROJECT_KINDS) buildWorkspace(WORKSPACE_OF[k], work(k), random, env);
    // The repository names its author itself: Gemini CLI's shell does not see HOME's .gitconfig.
    const git = (...args: string[]) =>
      execFileSync("git", ["-C", work("coding"), ...args], { env });
    git("config", "user.name", "Dev");
    git("config", "user.email", "dev@workstation.invalid");
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
