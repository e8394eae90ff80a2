import assert from "node:assert/strict";
import { test } from "node:test";
import { isVigilError } from "../../src/errors.js";
import { createFileClassifier, type FileClass } from "../../src/sensor/file-class.js";

const classify = createFileClassifier({
  homes: ["/home/alice", "/root/"],
  workspaces: ["/srv/agents/ws"],
});

function assertClasses(cases: readonly (readonly [string, FileClass])[], cwd?: string): void {
  for (const [path, expected] of cases) {
    assert.equal(classify(path, cwd), expected, `${path} (cwd ${cwd ?? "-"})`);
  }
}

test("file-class - secrets under a home", () => {
  assertClasses([
    ["/home/alice/.ssh/id_rsa", "secret"],
    ["/home/alice/.ssh/known_hosts", "secret"],
    ["/home/alice/.ssh", "secret"],
    ["/home/alice/.aws/credentials", "secret"],
    ["/home/alice/.gnupg/private-keys-v1.d/x.key", "secret"],
    ["/home/alice/.config/gcloud/application_default_credentials.json", "secret"],
    ["/home/alice/.azure/msal_token_cache.json", "secret"],
    ["/home/alice/.kube/config", "secret"],
    ["/home/alice/.docker/config.json", "secret"],
    ["/home/alice/.netrc", "secret"],
    ["/home/alice/.npmrc", "secret"],
    ["/home/alice/.pypirc", "secret"],
    ["/home/alice/.git-credentials", "secret"],
    ["/home/alice/.password-store/bank.gpg", "secret"],
    ["/home/alice/.vault-token", "secret"],
    ["/home/alice/.config/gh/hosts.yml", "secret"],
    ["/home/alice/.local/share/keyrings/login.keyring", "secret"],
    ["/root/.ssh/authorized_keys", "secret"],
  ]);
});

test("file-class - near misses of home secrets are plain home files", () => {
  assertClasses([
    ["/home/alice/.sshrc", "home"],
    ["/home/alice/.kube/cache/discovery", "home"],
    ["/home/alice/.docker/buildx/instances", "home"],
    ["/home/alice/.config/gh/config.yml", "home"],
    ["/home/alice/.config/gcloudx/x", "home"],
    ["/home/alice/notes/.ssh-tips.md", "home"],
    ["/home/alice/.bashrc", "home"],
  ]);
});

test("file-class - system-wide secrets", () => {
  assertClasses([
    ["/etc/shadow", "secret"],
    ["/etc/gshadow", "secret"],
    ["/etc/shadow-", "secret"],
    ["/etc/sudoers", "secret"],
    ["/etc/sudoers.d/90-cloud-init-users", "secret"],
    ["/etc/ssh/ssh_host_ed25519_key", "secret"],
    ["/etc/ssh/ssh_host_rsa_key", "secret"],
    ["/proc/1234/environ", "secret"],
    ["/proc/self/environ", "secret"],
    ["/proc/1234/task/1235/environ", "secret"],
    ["/run/secrets/db_password", "secret"],
    ["/var/run/secrets/kubernetes.io/serviceaccount/token", "secret"],
  ]);
  assertClasses([
    ["/etc/ssh/ssh_host_ed25519_key.pub", "system"],
    ["/etc/ssh/sshd_config", "system"],
    ["/etc/passwd", "system"],
    ["/proc/1234/status", "system"],
    ["/etc/shadow.d/x", "system"],
  ]);
});

test("file-class - secret file names anywhere", () => {
  assertClasses([
    ["/srv/agents/ws/.env", "secret"],
    ["/srv/agents/ws/app/.env.local", "secret"],
    ["/srv/agents/ws/.env.production", "secret"],
    ["/opt/app/tls/server.pem", "secret"],
    ["/opt/app/tls/server.key", "secret"],
    ["/tmp/id_rsa", "secret"],
    ["/tmp/id_ed25519_deploy", "secret"],
    ["/srv/agents/ws/credentials.json", "secret"],
    ["/srv/agents/ws/k8s/secrets.yaml", "secret"],
    ["/srv/agents/ws/k8s/secrets.yml", "secret"],
  ]);
  assertClasses([
    ["/srv/agents/ws/.envrc", "workspace"],
    ["/srv/agents/ws/.env.example", "workspace"],
    ["/srv/agents/ws/environment.ts", "workspace"],
    ["/tmp/id_rsa.pub", "temp"],
    ["/tmp/id_ed25519.pub", "temp"],
    ["/srv/agents/ws/keys.ts", "workspace"],
    ["/srv/agents/ws/secrets.json", "workspace"],
  ]);
});

test("file-class - public CA bundles are not secrets", () => {
  assertClasses([
    ["/etc/ssl/certs/ISRG_Root_X1.pem", "system"],
    ["/usr/share/ca-certificates/mozilla/x.pem", "system"],
    ["/srv/agents/ws/.venv/lib/python3.12/site-packages/certifi/cacert.pem", "workspace"],
  ]);
});

test("file-class - workspaces from options and from the agent's cwd", () => {
  assertClasses([
    ["/srv/agents/ws", "workspace"],
    ["/srv/agents/ws/src/main.ts", "workspace"],
    ["/srv/agents/wsx/src/main.ts", "other"],
  ]);
  assertClasses(
    [
      ["/home/alice/proj/src/a.ts", "workspace"],
      ["/home/alice/proj", "workspace"],
      ["/home/alice/project2/a.ts", "home"],
      ["/home/alice/proj/.env", "secret"],
      ["/tmp/build.log", "temp"],
    ],
    "/home/alice/proj",
  );
  // A workspace inside /tmp wins over temp: the agent is working there on purpose.
  assertClasses([["/tmp/job-42/out.txt", "workspace"]], "/tmp/job-42/");
});

test("file-class - a root or relative cwd is no workspace", () => {
  assertClasses(
    [
      ["/usr/bin/env", "system"],
      ["/", "other"],
    ],
    "/",
  );
  assertClasses([["/home/alice/proj/a.ts", "home"]], "proj");
});

test("file-class - temp directories", () => {
  assertClasses([
    ["/tmp", "temp"],
    ["/tmp/x/y", "temp"],
    ["/var/tmp/cache", "temp"],
    ["/dev/shm/sem.x", "temp"],
    ["/run/user/1000/bus", "temp"],
    ["/run/user/1000", "temp"],
  ]);
  assertClasses([
    ["/tmpfoo", "other"],
    ["/run/user/alice/x", "other"],
    ["/run/user/1000x/y", "other"],
    ["/run/systemd/x", "other"],
  ]);
});

test("file-class - home, system and other", () => {
  assertClasses([
    ["/home/alice/Downloads/a.pdf", "home"],
    ["/root/.bashrc", "home"],
    ["/home/alicex/a", "other"],
    ["/home/bob/a", "other"],
  ]);
  const system = ["/usr", "/etc", "/lib", "/lib64", "/bin", "/sbin", "/opt", "/proc", "/sys"];
  for (const dir of [...system, "/dev", "/var/lib", "/boot", "/snap", "/nix"]) {
    assert.equal(classify(`${dir}/x/y`, undefined), "system", dir);
  }
  assertClasses([
    ["/dev/null", "system"],
    ["/var/log/syslog", "other"],
    ["/srv/data/x", "other"],
    ["/usrx/bin", "other"],
    ["/", "other"],
  ]);
});

test("file-class - normalises paths lexically before matching", () => {
  assertClasses([
    ["/home/alice/proj/../.ssh/id_rsa", "secret"],
    ["/home//alice/./.aws//credentials", "secret"],
    ["/tmp/../etc/shadow", "secret"],
    ["/tmp/../../../etc/passwd", "system"],
    ["/home/alice/../bob/x", "other"],
    ["/etc/ssl/certs/../../../srv/agents/ws/tls.pem", "secret"],
    ["/srv/agents/ws/", "workspace"],
  ]);
});

test("file-class - relative paths are other", () => {
  assertClasses([
    [".ssh/id_rsa", "other"],
    ["src/main.ts", "other"],
    ["", "other"],
  ]);
});

test("file-class - extra secret globs", () => {
  const c = createFileClassifier({
    homes: ["/home/alice"],
    extraSecretGlobs: [
      "*.kdbx",
      "~/.config/op/**",
      "/srv/vault/*/token",
      "private/",
      "**/deploy/*.json",
      "backup-????.tar",
    ],
  });
  const cases: [string, FileClass][] = [
    ["/home/alice/db.kdbx", "secret"],
    ["/data/x/db.kdbx", "secret"],
    ["/home/alice/.config/op", "secret"],
    ["/home/alice/.config/op/config", "secret"],
    ["/home/alice/.config/op/a/b/c", "secret"],
    ["/home/alice/.config/opx", "home"],
    ["/srv/vault/app/token", "secret"],
    ["/srv/vault/app/sub/token", "other"],
    ["/srv/x/private", "secret"],
    ["/srv/x/private/a/b", "secret"],
    ["/srv/x/privatex/a", "other"],
    ["/srv/deploy/prod.json", "secret"],
    ["/srv/deploy/prod.yaml", "other"],
    ["/a/b/deploy/c.json", "secret"],
    ["/srv/backup-2024.tar", "secret"],
    ["/srv/backup-24.tar", "other"],
    ["/data/db.kdbx.txt", "other"],
  ];
  for (const [path, expected] of cases) assert.equal(c(path), expected, path);
});

test("file-class - a home glob without homes never matches", () => {
  const c = createFileClassifier({ homes: [], extraSecretGlobs: ["~/.op/**"] });
  assert.equal(c("/home/alice/.op/x"), "other");
});

test("file-class - invalid configuration fails fast", () => {
  const isConfigError = (e: unknown) => isVigilError(e, "VIGIL_ERR_CONFIG_INVALID");
  assert.throws(() => createFileClassifier({ homes: ["home/alice"] }), isConfigError);
  assert.throws(() => createFileClassifier({ homes: [], workspaces: ["ws"] }), isConfigError);
  assert.throws(() => createFileClassifier({ homes: [], extraSecretGlobs: [" "] }), isConfigError);
});

test("file-class - a root home is ignored", () => {
  const c = createFileClassifier({ homes: ["/"] });
  assert.equal(c("/usr/bin/env"), "system");
  assert.equal(c("/srv/x"), "other");
});

test("file-class - a home configured inside /tmp is a home, not temp (sandboxed agents)", () => {
  const c = createFileClassifier({ homes: ["/tmp/sandbox-1/home"] });
  assert.equal(c("/tmp/sandbox-1/home/.bashrc"), "home");
  assert.equal(c("/tmp/sandbox-1/home/.ssh/id_rsa"), "secret");
  assert.equal(c("/tmp/sandbox-1/other.txt"), "temp");
  assert.equal(c("/tmp/x"), "temp");
});
