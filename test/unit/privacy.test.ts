import assert from "node:assert/strict";
import { test } from "node:test";
import { isVigilError } from "../../src/errors.js";
import { createPrivacy } from "../../src/sensor/privacy.js";

// Fake secrets are assembled at run time so the repository holds no string that a secret
// scanner (or a curious reader) would take for a real credential.
const ALNUM = "aB3dE5gH7jK9mN2pQ4sT6vW8yZ0cF1hL";
const fake = (n: number, offset = 0): string =>
  Array.from({ length: n }, (_, i) => ALNUM[(i * 7 + offset) % ALNUM.length]).join("");

const privacy = createPrivacy({ homes: ["/home/alice", "/root"] });

/** Redacts `text` and checks the secret part is gone and the expected output is produced. */
function assertRedacts(input: string, expected: string, secret: string): void {
  const out = privacy.redact(input);
  assert.equal(out, expected);
  assert.ok(!out.includes(secret), `secret leaked in ${out}`);
}

test("privacy - masks a home directory and paths below it", () => {
  assert.equal(privacy.maskPath("/home/alice/proj/x"), "~/proj/x");
  assert.equal(privacy.maskPath("/home/alice"), "~");
  assert.equal(privacy.maskPath("/home/alice/"), "~/");
  assert.equal(privacy.maskPath("/root/.bashrc"), "~/.bashrc");
});

test("privacy - masks whole path components only", () => {
  assert.equal(privacy.maskPath("/home/alicex/proj"), "/home/alicex/proj");
  assert.equal(privacy.maskPath("/home/alice.bak/x"), "/home/alice.bak/x");
  assert.equal(privacy.maskPath("/data/home/alice/x"), "/data/home/alice/x");
  assert.equal(privacy.maskPath("/rootfs/x"), "/rootfs/x");
  assert.equal(privacy.maskPath("/usr/lib/x"), "/usr/lib/x");
});

test("privacy - masks homes inside free text", () => {
  assert.equal(privacy.maskPath("--config=/home/alice/.cfg"), "--config=~/.cfg");
  assert.equal(privacy.maskPath("PATH=/home/alice/bin:/usr/bin"), "PATH=~/bin:/usr/bin");
  assert.equal(privacy.maskPath("cd /home/alice && ls /root"), "cd ~ && ls ~");
  assert.equal(privacy.maskPath('open("/home/alice/a b")'), 'open("~/a b")');
  assert.equal(privacy.maskPath("file:///home/alice/x.html"), "file://~/x.html");
});

test("privacy - prefers the longest home", () => {
  const p = createPrivacy({ homes: ["/home/al", "/home/alice/", "/srv/home/alice"] });
  assert.equal(p.maskPath("/home/alice/x"), "~/x");
  assert.equal(p.maskPath("/home/al/x"), "~/x");
  assert.equal(p.maskPath("/srv/home/alice/x"), "~/x");
});

test("privacy - ignores a root home and handles no homes", () => {
  const p = createPrivacy({ homes: ["/"] });
  assert.equal(p.maskPath("/usr/bin/env"), "/usr/bin/env");
  assert.equal(createPrivacy({ homes: [] }).maskPath("/home/alice/x"), "/home/alice/x");
});

test("privacy - rejects a relative home with a config error", () => {
  assert.throws(
    () => createPrivacy({ homes: ["home/alice"] }),
    (e) => isVigilError(e, "VIGIL_ERR_CONFIG_INVALID") && /home\/alice/.test(e.hint ?? ""),
  );
});

test("privacy - redacts API keys by format and keeps a telling prefix", () => {
  const cases: [string, string][] = [
    [`sk-${fake(48)}`, "sk-"],
    [`sk-proj-${fake(64, 1)}`, "sk-proj-"],
    [`sk-ant-api03-${fake(80, 2)}`, "sk-ant-"],
    [`AKIA${fake(16, 3).toUpperCase()}`, "AKIA"],
    [`ASIA${fake(16, 4).toUpperCase()}`, "ASIA"],
    [`ghp_${fake(36, 5)}`, "ghp_"],
    [`gho_${fake(36, 6)}`, "gho_"],
    [`ghu_${fake(36, 7)}`, "ghu_"],
    [`ghs_${fake(36, 8)}`, "ghs_"],
    [`ghr_${fake(36, 9)}`, "ghr_"],
    [`github_pat_${fake(22)}_${fake(59, 1)}`, "github_pat_"],
    [`glpat-${fake(20, 2)}`, "glpat-"],
    [`xoxb-1234567890-${fake(24, 3)}`, "xoxb-"],
    [`xoxp-1234567890-${fake(24, 4)}`, "xoxp-"],
    [`AIza${fake(35, 5)}`, "AIza"],
    [`sk_live_${fake(24, 6)}`, "sk_live_"],
    [`rk_live_${fake(24, 7)}`, "rk_live_"],
    [`sk_test_${fake(24, 8)}`, "sk_test_"],
    [`npm_${fake(36, 9)}`, "npm_"],
    [`hf_${fake(34)}`, "hf_"],
    [`eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.${fake(43, 1)}`, "eyJ"],
  ];
  for (const [secret, prefix] of cases) {
    const secretBody = secret.slice(prefix.length);
    assertRedacts(secret, `${prefix}[REDACTED]`, secretBody);
    // Embedded in a command line the surrounding words survive.
    assertRedacts(`run --flag ${secret} done`, `run --flag ${prefix}[REDACTED] done`, secretBody);
  }
});

test("privacy - redacts authorization headers and keeps the scheme", () => {
  const token = fake(40);
  assertRedacts(`Authorization: Bearer ${token}`, "Authorization: Bearer [REDACTED]", token);
  assertRedacts(`authorization: basic ${token}==`, "authorization: basic [REDACTED]", token);
  assertRedacts(`Authorization:${token}`, "Authorization:[REDACTED]", token);
  assertRedacts(
    `Proxy-Authorization: Basic ${token}`,
    "Proxy-Authorization: Basic [REDACTED]",
    token,
  );
  assertRedacts(`bearer ${token}`, "bearer [REDACTED]", token);
  assertRedacts(`X-Api-Key: ${token}`, "X-Api-Key: [REDACTED]", token);
  assertRedacts(`x-api-key:${token}`, "x-api-key:[REDACTED]", token);
  assertRedacts(`PRIVATE-TOKEN: ${token}`, "PRIVATE-TOKEN: [REDACTED]", token);
  assertRedacts(`Cookie: session=${token}; theme=dark`, "Cookie: [REDACTED]", token);
  assertRedacts(
    `curl -H 'Authorization: Bearer ${token}' https://api.example.com/v1`,
    "curl -H 'Authorization: Bearer [REDACTED]' https://api.example.com/v1",
    token,
  );
});

test("privacy - redacts URL credentials and keeps the user", () => {
  const pw = fake(16);
  for (const scheme of [
    "postgres",
    "postgresql",
    "mysql",
    "redis",
    "amqp",
    "https",
    "mongodb+srv",
  ]) {
    assertRedacts(
      `${scheme}://admin:${pw}@db.internal:5432/app`,
      `${scheme}://admin:[REDACTED]@db.internal:5432/app`,
      pw,
    );
  }
  assertRedacts(`redis://:${pw}@cache:6379`, "redis://:[REDACTED]@cache:6379", pw);
  assertRedacts(`DSN=mysql://u:p@${pw}@h/db`, "DSN=mysql://u:[REDACTED]@h/db", pw);
});

test("privacy - redacts secret-named env-like assignments", () => {
  const v = fake(20);
  const cases: [string, string][] = [
    [`GITHUB_TOKEN=${v}`, "GITHUB_TOKEN=[REDACTED]"],
    [`DB_PASSWORD=${v}`, "DB_PASSWORD=[REDACTED]"],
    [`PGPASSWORD=${v}`, "PGPASSWORD=[REDACTED]"],
    [`MYSQL_PWD=${v}`, "MYSQL_PWD=[REDACTED]"],
    [`SMTP_PASS=${v}`, "SMTP_PASS=[REDACTED]"],
    [`OPENAI_API_KEY=${v}`, "OPENAI_API_KEY=[REDACTED]"],
    [`aws_secret_access_key = ${v}`, "aws_secret_access_key = [REDACTED]"],
    [`SECRET_KEY_BASE=${v}`, "SECRET_KEY_BASE=[REDACTED]"],
    [`GOOGLE_APPLICATION_CREDENTIALS=${v}`, "GOOGLE_APPLICATION_CREDENTIALS=[REDACTED]"],
    [`BASIC_AUTH=${v}`, "BASIC_AUTH=[REDACTED]"],
    [`apiKey=${v}`, "apiKey=[REDACTED]"],
    [`clientSecret: ${v}`, "clientSecret: [REDACTED]"],
    [`-Dspring.datasource.password=${v}`, "-Dspring.datasource.password=[REDACTED]"],
    [`export DB_PASS=${v} && ./run.sh`, "export DB_PASS=[REDACTED] && ./run.sh"],
    [`GET /v1/items?api_key=${v}&format=json`, "GET /v1/items?api_key=[REDACTED]&format=json"],
    [`Server=db;Password=${v};Database=app`, "Server=db;Password=[REDACTED];Database=app"],
    [`{"user":"bob","password":"${v}","n":1}`, '{"user":"bob","password":"[REDACTED]","n":1}'],
    [`{'api_key': '${v}'}`, "{'api_key': '[REDACTED]'}"],
    [`{"token": "a\\"${v}"}`, '{"token": "[REDACTED]"}'],
    [
      `kubectl create secret generic x --from-literal=password=${v}`,
      "kubectl create secret generic x --from-literal=password=[REDACTED]",
    ],
  ];
  for (const [input, expected] of cases) assertRedacts(input, expected, v);
});

test("privacy - a whole KEY=VALUE element hides the whole value", () => {
  // An env entry's value may contain spaces; only the words after the first would leak.
  assertRedacts("PASSPHRASE=correct horse battery", "PASSPHRASE=[REDACTED]", "horse");
  assert.equal(privacy.redact("PASSPHRASE=a b\nNEXT=1"), "PASSPHRASE=[REDACTED]\nNEXT=1");
});

test("privacy - leaves non-secret assignments and shell references alone", () => {
  const ordinary = [
    "TOKENIZERS_PARALLELISM=false",
    "MAX_TOKENS=4096",
    "GIT_AUTHOR_NAME=Alice Example",
    "PASSWORD_FILE=/run/pw",
    "AUTH_TYPE=basic",
    "TOKEN_URL=https://auth.example.com/token",
    "BYPASS=1",
    "COMPASS_HOME=/opt/compass",
    "AUTHOR=alice",
    "PASSWORD=$DB_PASSWORD",
    `GITHUB_TOKEN=\${GH_TOKEN}`,
    "PASSWORD=",
  ];
  for (const text of ordinary) assert.equal(privacy.redact(text), text);
});

test("privacy - redacts private key blocks, whole or truncated", () => {
  const body = `${fake(64)}\n${fake(64, 1)}\n${fake(20, 2)}`;
  const block = `-----BEGIN OPENSSH PRIVATE KEY-----\n${body}\n-----END OPENSSH PRIVATE KEY-----`;
  assertRedacts(
    `key: ${block} trailer`,
    "key: -----BEGIN PRIVATE KEY-----[REDACTED] trailer",
    body,
  );
  assertRedacts(
    `-----BEGIN RSA PRIVATE KEY-----\n${body}`,
    "-----BEGIN PRIVATE KEY-----[REDACTED]",
    fake(20, 2),
  );
  const publicCert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
  assert.equal(privacy.redact(publicCert), publicCert);
});

test("privacy - leaves ordinary text alone", () => {
  const ordinary = [
    "git checkout 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
    "ls -la /usr/lib/x86_64-linux-gnu",
    "python train.py --tokenizer=bert --pass-through --passes 3 --max-tokens 4096",
    "https://github.com/org/repo.git",
    "http://localhost:8080/api/v1?limit=10&offset=20",
    "http://registry.local:4873/@scope/pkg",
    "npm install @types/node@20.11.0",
    "the bearer of bad news",
    "std::string token_count = 12;",
    "docker run -p 8080:80 -v /srv/data:/data nginx:1.25",
    "upstream=auth:8080",
    "task-scheduler-worker-process-pool",
    "kubectl get secrets -n default",
    "echo 'password reset done'",
    "SELECT id, name FROM users WHERE age > 30",
    "ssh git@github.com",
    "1234567890 3.14159 -42",
    "",
  ];
  for (const text of ordinary) assert.equal(privacy.redact(text), text);
});

test("privacy - redact also masks homes", () => {
  const token = fake(36);
  assert.equal(
    privacy.redact(`cp /home/alice/.env ghp_${token} /root/x`),
    "cp ~/.env ghp_[REDACTED] ~/x",
  );
});

test("privacy - redactArgv hides the value after a secret long flag", () => {
  const pw = fake(12);
  assert.deepEqual(privacy.redactArgv(["mysql", "--password", pw, "-h", "db"]), [
    "mysql",
    "--password",
    "[REDACTED]",
    "-h",
    "db",
  ]);
  const secretFlags = [
    "--password",
    "--passwd",
    "--pass",
    "--token",
    "--secret",
    "--api-key",
    "--apikey",
    "--access-key",
    "--key",
    "--API_KEY",
    "--db-password",
    "--github-token",
    "--client-secret",
    "-password",
    "-token",
  ];
  for (const flag of secretFlags) {
    assert.deepEqual(privacy.redactArgv(["tool", flag, pw]), ["tool", flag, "[REDACTED]"], flag);
    assert.deepEqual(privacy.redactArgv(["tool", `${flag}=${pw}`]), ["tool", `${flag}=[REDACTED]`]);
  }
});

test("privacy - redactArgv leaves non-secret flags and short flags alone", () => {
  const argv = [
    "python",
    "run.py",
    "--tokenizer",
    "bert",
    "--pass-through",
    "x",
    "--passes",
    "3",
    "--max-tokens",
    "4096",
    "--author",
    "alice",
    "-p",
    "secretish",
    "--keyboard",
    "us",
    "--token-file",
    "/run/tok",
    "--password-stdin",
    "registry.example.com",
    "--auth-type",
    "oauth",
  ];
  assert.deepEqual(privacy.redactArgv(argv), argv);
});

test("privacy - redactArgv treats a following flag as an omitted value", () => {
  assert.deepEqual(privacy.redactArgv(["mysql", "--password", "-h", "db"]), [
    "mysql",
    "--password",
    "-h",
    "db",
  ]);
  assert.deepEqual(privacy.redactArgv(["psql", "--no-password", "mydb"]), [
    "psql",
    "--no-password",
    "mydb",
  ]);
  assert.deepEqual(privacy.redactArgv(["tool", "--token"]), ["tool", "--token"]);
  assert.deepEqual(privacy.redactArgv(["tool", "--token=$TOKEN"]), ["tool", "--token=$TOKEN"]);
});

test("privacy - redactArgv redacts and masks every element", () => {
  const token = fake(40);
  const input = [
    "curl",
    "-H",
    `Authorization: Bearer ${token}`,
    "--config=/home/alice/.curlrc",
    "https://api.example.com",
  ];
  const copy = [...input];
  assert.deepEqual(privacy.redactArgv(input), [
    "curl",
    "-H",
    "Authorization: Bearer [REDACTED]",
    "--config=~/.curlrc",
    "https://api.example.com",
  ]);
  assert.deepEqual(input, copy, "input argv must not be mutated");
  assert.deepEqual(privacy.redactArgv(["env", `HF_TOKEN=${token}`, "python"]), [
    "env",
    "HF_TOKEN=[REDACTED]",
    "python",
  ]);
});

test("privacy - extra patterns redact, optionally keeping a named prefix", () => {
  const p = createPrivacy({
    homes: [],
    extraPatterns: ["internal-[a-z0-9]{8}", "(?<keep>corp-)[a-z0-9]{8}", "x*"],
  });
  assert.equal(p.redact("id internal-ab12cd34 end"), "id [REDACTED] end");
  assert.equal(p.redact("id corp-ab12cd34 end"), "id corp-[REDACTED] end");
  assert.equal(p.redact("plain"), "plain");
});

test("privacy - an invalid extra pattern is a config error naming it", () => {
  assert.throws(
    () => createPrivacy({ homes: [], extraPatterns: ["ok", "(unclosed["] }),
    (e) => isVigilError(e, "VIGIL_ERR_CONFIG_INVALID") && (e.hint ?? "").includes('"(unclosed["'),
  );
});

test("privacy - disableBuiltins keeps home masking and extra patterns only", () => {
  const token = fake(36);
  const p = createPrivacy({
    homes: ["/home/alice"],
    extraPatterns: ["hunter2"],
    disableBuiltins: true,
  });
  assert.equal(
    p.redact(`ghp_${token} PASSWORD=hunter2 /home/alice/x`),
    `ghp_${token} PASSWORD=[REDACTED] ~/x`,
  );
  assert.deepEqual(p.redactArgv(["--token", "abc"]), ["--token", "abc"]);
});

test("privacy - redact stays linear on hostile input", () => {
  const n = 100_000;
  const hostile = [
    "a".repeat(n),
    "a=".repeat(n / 2),
    "a.".repeat(n / 2),
    "-".repeat(n),
    "sk-".repeat(n / 3),
    `Bearer ${"a".repeat(n)}`,
    "bearer ".repeat(n / 7),
    `https://${"a:".repeat(n / 2)}`,
    "a://b:".repeat(n / 6),
    "-----BEGIN PRIVATE KEY-----".repeat(n / 27),
    "/home/alice".repeat(n / 11),
    `"password":"${"\\".repeat(n)}`,
    "x password=".repeat(n / 11),
    "authorization: ".repeat(n / 15),
    "mysql -px ".repeat(n / 10),
    `aws configure set ${"token ".repeat(n / 6)}`,
    `htpasswd -b ${"x ".repeat(n / 2)}`,
    `'"`.repeat(n / 2),
    `https://h/?${"token=x&".repeat(n / 8)}`,
    `https://h/?${"a".repeat(n)}`,
  ];
  for (const text of hostile) {
    const start = performance.now();
    privacy.redact(text);
    const ms = performance.now() - start;
    // Linear work is a few ms; quadratic work on 100 kB is seconds.
    assert.ok(ms < 250, `${ms.toFixed(0)} ms on ${JSON.stringify(text.slice(0, 20))}...`);
  }
  // The per-tool pass over argv: one span per program, copied once.
  const argv = "mysql -px ".repeat(2000).split(" ");
  const start = performance.now();
  privacy.redactArgv(argv, { cut: true });
  const ms = performance.now() - start;
  assert.ok(ms < 250, `${ms.toFixed(0)} ms on argv`);
});

test("privacy - redacts a secret flag's value inside one string", () => {
  const pw = fake(14);
  assertRedacts(
    `bash -c "mytool --password ${pw} --verbose"`,
    'bash -c "mytool --password [REDACTED] --verbose"',
    pw,
  );
  assertRedacts(`deploy -token '${pw}' now`, "deploy -token '[REDACTED]' now", pw);
  assertRedacts(`tool --key=${pw}`, "tool --key=[REDACTED]", pw);
  for (const text of [
    "tool --tokenizer bert",
    "tool --token-file /run/t",
    "mysql --password -h db",
  ]) {
    assert.equal(privacy.redact(text), text);
  }
});

test("privacy - redacts the whole of a Digest authorization", () => {
  const response = fake(32);
  assertRedacts(
    `Authorization: Digest username="bob", realm="x", response="${response}"`,
    "Authorization: Digest [REDACTED]",
    response,
  );
});

test("privacy - a token redacted by format is not redacted again as a flag value", () => {
  const p = createPrivacy({ homes: [] });
  const token = `ghp_${"Ab1".repeat(12)}`;
  assert.equal(
    p.redact(`sh -c "/bin/true --token=${token}"`),
    'sh -c "/bin/true --token=ghp_[REDACTED]"',
  );
  assert.equal(p.redact(`x --api-key=sk-ant-${"a".repeat(30)}]`), "x --api-key=sk-ant-[REDACTED]]");
});

/** Redacts `argv` and checks the output exactly and that no secret survives in any element. */
function assertArgv(
  argv: string[],
  expected: string[],
  secrets: string[],
  options: { cut?: boolean } = {},
): void {
  const out = privacy.redactArgv(argv, options);
  assert.deepEqual(out, expected);
  for (const s of secrets) assert.ok(!out.join("\0").includes(s), `${s} leaked in ${out}`);
}

test("privacy - short options that carry a password, per program", () => {
  const pw = fake(14);
  const cases: [string[], string[]][] = [
    [
      ["mysql", "-uroot", `-p${pw}`, "app"],
      ["mysql", "-uroot", "-p[REDACTED]", "app"],
    ],
    [
      ["/usr/bin/mysqldump", `-p${pw}`, "--all-databases"],
      ["/usr/bin/mysqldump", "-p[REDACTED]", "--all-databases"],
    ],
    [
      ["mariadb", "-h", "db", `-p${pw}`],
      ["mariadb", "-h", "db", "-p[REDACTED]"],
    ],
    [
      ["sshpass", "-p", pw, "ssh", "host"],
      ["sshpass", "-p", "[REDACTED]", "ssh", "host"],
    ],
    [
      ["sshpass", `-p${pw}`, "scp", "a", "host:b"],
      ["sshpass", "-p[REDACTED]", "scp", "a", "host:b"],
    ],
    // getopt takes a required argument whatever it starts with.
    [
      ["sshpass", "-p", `-${pw}`, "ssh", "host"],
      ["sshpass", "-p", "[REDACTED]", "ssh", "host"],
    ],
    [
      ["redis-cli", "-h", "cache", "-a", pw, "ping"],
      ["redis-cli", "-h", "cache", "-a", "[REDACTED]", "ping"],
    ],
    [
      ["mongosh", "-u", "admin", "-p", pw],
      ["mongosh", "-u", "admin", "-p", "[REDACTED]"],
    ],
    [
      ["ldapsearch", "-x", "-D", "cn=admin", "-w", pw, "-b", "dc=x"],
      ["ldapsearch", "-x", "-D", "cn=admin", "-w", "[REDACTED]", "-b", "dc=x"],
    ],
    [
      ["zip", "-P", pw, "out.zip", "a.txt"],
      ["zip", "-P", "[REDACTED]", "out.zip", "a.txt"],
    ],
    [
      ["7z", "a", `-p${pw}`, "out.7z", "dir"],
      ["7z", "a", "-p[REDACTED]", "out.7z", "dir"],
    ],
    [
      ["ssh-keygen", "-t", "ed25519", "-N", pw, "-f", "k"],
      ["ssh-keygen", "-t", "ed25519", "-N", "[REDACTED]", "-f", "k"],
    ],
    [
      ["sqlcmd", "-S", "db", "-U", "sa", "-P", pw],
      ["sqlcmd", "-S", "db", "-U", "sa", "-P", "[REDACTED]"],
    ],
    [
      ["docker", "login", "-u", "bob", "-p", pw, "registry.local"],
      ["docker", "login", "-u", "bob", "-p", "[REDACTED]", "registry.local"],
    ],
    [
      ["helm", "registry", "login", "r.local", "-u", "bob", `-p${pw}`],
      ["helm", "registry", "login", "r.local", "-u", "bob", "-p[REDACTED]"],
    ],
    [
      ["gh", "secret", "set", "API", "--body", pw],
      ["gh", "secret", "set", "API", "--body", "[REDACTED]"],
    ],
    [
      ["openssl", "enc", "-aes-256-cbc", "-pass", `pass:${pw}`, "-in", "x"],
      ["openssl", "enc", "-aes-256-cbc", "-pass", "pass:[REDACTED]", "-in", "x"],
    ],
    [
      ["openssl", "enc", "-aes-256-cbc", "-k", pw],
      ["openssl", "enc", "-aes-256-cbc", "-k", "[REDACTED]"],
    ],
    // Behind a wrapper, and a program after another on the same command line.
    [
      ["sudo", "-u", "backup", "mysqldump", `-p${pw}`, "db"],
      ["sudo", "-u", "backup", "mysqldump", "-p[REDACTED]", "db"],
    ],
    [
      ["sshpass", "-p", "git", "ssh", "host"],
      ["sshpass", "-p", "[REDACTED]", "ssh", "host"],
    ],
    [
      ["sshpass", "-p", pw, "ssh", "host", "mysql", `-p${pw}x`],
      ["sshpass", "-p", "[REDACTED]", "ssh", "host", "mysql", "-p[REDACTED]"],
    ],
  ];
  for (const [argv, expected] of cases) assertArgv(argv, expected, [pw]);
});

test("privacy - user:password values keep the user", () => {
  const pw = fake(14, 1);
  const cases: [string[], string[]][] = [
    [
      ["curl", "-u", `alice:${pw}`, "https://api.local/x"],
      ["curl", "-u", "alice:[REDACTED]", "https://api.local/x"],
    ],
    [
      ["curl", `-ualice:${pw}`, "https://api.local/x"],
      ["curl", "-ualice:[REDACTED]", "https://api.local/x"],
    ],
    [
      ["curl", "--user", `alice:${pw}`, "https://api.local/x"],
      ["curl", "--user", "alice:[REDACTED]", "https://api.local/x"],
    ],
    [
      ["curl", `--user=alice:${pw}`, "https://api.local/x"],
      ["curl", "--user=alice:[REDACTED]", "https://api.local/x"],
    ],
    [
      ["curl", "-U", `proxy:${pw}`, "-x", "http://127.0.0.1:3128", "https://a.local"],
      ["curl", "-U", "proxy:[REDACTED]", "-x", "http://127.0.0.1:3128", "https://a.local"],
    ],
    [
      ["curl", "--cert", `client.pem:${pw}`, "https://a.local"],
      ["curl", "--cert", "client.pem:[REDACTED]", "https://a.local"],
    ],
    [
      ["curl", "--oauth2-bearer", pw, "https://a.local"],
      ["curl", "--oauth2-bearer", "[REDACTED]", "https://a.local"],
    ],
    [
      ["smbclient", "//fs/share", "-U", `CORP\\bob%${pw}`],
      ["smbclient", "//fs/share", "-U", "CORP\\bob%[REDACTED]"],
    ],
    [
      ["lftp", "-u", `bob,${pw}`, "sftp://127.0.0.1"],
      ["lftp", "-u", "bob,[REDACTED]", "sftp://127.0.0.1"],
    ],
    [
      ["git", "clone", `https://x-access-token:${pw}@git.local/o/r.git`],
      ["git", "clone", "https://x-access-token:[REDACTED]@git.local/o/r.git"],
    ],
  ];
  for (const [argv, expected] of cases) assertArgv(argv, expected, [pw]);
});

test("privacy - positional secrets", () => {
  const pw = fake(20, 2);
  const cases: [string[], string[]][] = [
    [
      ["aws", "configure", "set", "aws_secret_access_key", pw],
      ["aws", "configure", "set", "aws_secret_access_key", "[REDACTED]"],
    ],
    [
      ["aws", "configure", "set", "aws_session_token", pw, "--profile", "ci"],
      ["aws", "configure", "set", "aws_session_token", "[REDACTED]", "--profile", "ci"],
    ],
    [
      ["aws", "--profile", "ci", "configure", "set", "default.aws_secret_access_key", pw],
      ["aws", "--profile", "ci", "configure", "set", "default.aws_secret_access_key", "[REDACTED]"],
    ],
    [
      ["git", "config", "--global", "github.token", pw],
      ["git", "config", "--global", "github.token", "[REDACTED]"],
    ],
    [
      ["npm", "config", "set", "//registry.local/:_authToken", pw],
      ["npm", "config", "set", "//registry.local/:_authToken", "[REDACTED]"],
    ],
    [
      ["yarn", "config", "set", "npmAuthToken", pw],
      ["yarn", "config", "set", "npmAuthToken", "[REDACTED]"],
    ],
    [
      ["htpasswd", "-b", "/etc/nginx/.htpasswd", "bob", pw],
      ["htpasswd", "-b", "/etc/nginx/.htpasswd", "bob", "[REDACTED]"],
    ],
    [
      ["htpasswd", "-Bbc", "-C", "12", "/etc/nginx/.htpasswd", "bob", pw],
      ["htpasswd", "-Bbc", "-C", "12", "/etc/nginx/.htpasswd", "bob", "[REDACTED]"],
    ],
    [
      ["htpasswd", "-nb", "bob", pw],
      ["htpasswd", "-nb", "bob", "[REDACTED]"],
    ],
    [
      ["rabbitmqctl", "add_user", "bob", pw],
      ["rabbitmqctl", "add_user", "bob", "[REDACTED]"],
    ],
    [
      ["git", "-c", `credential.helper=!f() { echo password=${pw}; }; f`, "push"],
      ["git", "-c", "credential.helper=!f() { echo password=[REDACTED]; }; f", "push"],
    ],
  ];
  for (const [argv, expected] of cases) assertArgv(argv, expected, [pw]);
});

test("privacy - options and positions that carry no secret are left alone", () => {
  const ordinary = [
    // mysql's -p alone prompts; the next word is the database.
    ["mysql", "-u", "root", "-p", "appdb"],
    ["docker", "run", "-p", "8080:80", "nginx"],
    ["curl", "-u", "alice", "https://api.local"],
    ["curl", "--username-file", "x", "https://api.local"],
    ["aws", "configure", "set", "region", "eu-west-1"],
    ["aws", "configure", "set", "aws_access_key_id", "AKIDEXAMPLE"],
    ["git", "config", "--global", "credential.helper", "store"],
    ["git", "config", "user.name", "Alice"],
    ["htpasswd", "-c", "/etc/nginx/.htpasswd", "bob"],
    ["ssh-keygen", "-t", "ed25519", "-N", "", "-f", "k"],
    ["zip", "-r", "out.zip", "dir"],
    ["rsync", "-p", "src", "dst"],
    ["tar", "-czpf", "x.tgz", "dir"],
  ];
  for (const argv of ordinary) assert.deepEqual(privacy.redactArgv(argv), argv, argv.join(" "));
});

test("privacy - short options and positions inside one command line string", () => {
  const pw = fake(12, 3);
  assertRedacts(
    `mysql -uroot -p${pw} app && curl -u 'bob:${pw}' https://a.local`,
    "mysql -uroot -p[REDACTED] app && curl -u 'bob:[REDACTED]' https://a.local",
    pw,
  );
  assertRedacts(
    `sshpass -p "${pw} x" ssh host; mysql -p db`,
    'sshpass -p "[REDACTED]" ssh host; mysql -p db',
    pw,
  );
  assertRedacts(
    `aws configure set aws_secret_access_key ${pw} | tee log`,
    "aws configure set aws_secret_access_key [REDACTED] | tee log",
    pw,
  );
  assertRedacts(`cd /x; htpasswd -nb bob '${pw}'`, "cd /x; htpasswd -nb bob '[REDACTED]'", pw);
  assert.deepEqual(privacy.redactArgv(["sh", "-c", `mysql -p'${pw}' db`]), [
    "sh",
    "-c",
    "mysql -p'[REDACTED]' db",
  ]);
});

test("privacy - credential query parameters in URLs keep their names", () => {
  const v = fake(24, 4);
  const cases: [string, string][] = [
    [
      `https://b.s3.local/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${v}&X-Amz-Signature=${v}&X-Amz-Security-Token=${v}`,
      "https://b.s3.local/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[REDACTED]&X-Amz-Signature=[REDACTED]&X-Amz-Security-Token=[REDACTED]",
    ],
    [`https://a.local/v1?key=${v}&q=cats`, "https://a.local/v1?key=[REDACTED]&q=cats"],
    [
      `https://acct.blob.local/c/b?sv=2022-11-02&se=2030-01-01&sig=${v}`,
      "https://acct.blob.local/c/b?sv=2022-11-02&se=2030-01-01&sig=[REDACTED]",
    ],
    [
      `http://127.0.0.1:8080/cb?code=${v}&state=abc`,
      "http://127.0.0.1:8080/cb?code=[REDACTED]&state=abc",
    ],
    [
      `https://app.local/#access_token=${v}&token_type=Bearer`,
      "https://app.local/#access_token=[REDACTED]&token_type=Bearer",
    ],
    [
      `wss://h.local/ws?client_id=app&client_secret=${v}`,
      "wss://h.local/ws?client_id=app&client_secret=[REDACTED]",
    ],
    [
      `curl "https://a.local/x?auth=${v}&password=${v}&apikey=${v}" -o out`,
      'curl "https://a.local/x?auth=[REDACTED]&password=[REDACTED]&apikey=[REDACTED]" -o out',
    ],
    [
      `https://cdn.local/f.mp4?Expires=1700000000&Signature=${v}&Key-Pair-Id=K2`,
      "https://cdn.local/f.mp4?Expires=1700000000&Signature=[REDACTED]&Key-Pair-Id=K2",
    ],
  ];
  for (const [input, expected] of cases) assertRedacts(input, expected, v);
  for (const text of [
    "https://a.local/search?q=token&country_code=de&keyboard=us",
    "https://a.local/x?key=&token=$TOKEN",
    "https://a.local/docs/api_key.html",
  ]) {
    assert.equal(privacy.redact(text), text);
  }
});

test("privacy - a cut last argument does not leak a key's beginning", () => {
  // Each fragment is shorter than its format's minimum, so without `cut` it stays.
  const cases: [string, string, string][] = [
    ["sk-ant-api03-aB3dE5", "sk-ant-[REDACTED]", "api03-aB3dE5"],
    ["sk-proj-aB3d", "sk-proj-[REDACTED]", "aB3d"],
    ["ghp_aB3dE5gH7", "ghp_[REDACTED]", "aB3dE5gH7"],
    ["AKIAQ4S", "AKIA[REDACTED]", "Q4S"],
    ["xoxb-12345", "xoxb-[REDACTED]", "12345"],
    ["github_pat_11AB", "github_pat_[REDACTED]", "11AB"],
    ["eyJhbGciOi", "eyJ[REDACTED]", "hbGciOi"],
    ["hvs.CAESI", "hvs.[REDACTED]", "CAESI"],
    [`--api=${fake(18, 5)}`, "--api=[REDACTED]", fake(18, 5)],
    [`wJalrXUtnFEMI/K7MDENG/bPx`, "[REDACTED]", "K7MDENG"],
  ];
  for (const [fragment, masked, secret] of cases) {
    assert.deepEqual(privacy.redactArgv(["echo", fragment]), ["echo", fragment], fragment);
    assertArgv(["echo", "x", fragment], ["echo", "x", masked], [secret], { cut: true });
  }
  // A secret flag's value, and a bearer token, are masked however short the piece.
  assertArgv(["tool", "--token", "ab"], ["tool", "--token", "[REDACTED]"], ["ab"], { cut: true });
  assertArgv(["curl", "-H", "bearer Ab1"], ["curl", "-H", "bearer [REDACTED]"], ["Ab1"], {
    cut: true,
  });
  assertArgv(["mysql", "-pq7"], ["mysql", "-p[REDACTED]"], ["q7"], { cut: true });
  // Only the cut element, and only a tail that could be a key.
  const tails = [
    "/usr/lib/x86_64-linux-gnu/libc.so",
    "--max-tokens=4096",
    "checkpoint-final.tar",
    "ordinary words here",
  ];
  for (const tail of tails) {
    assert.deepEqual(privacy.redactArgv(["x", tail], { cut: true }), ["x", tail], tail);
  }
  assert.deepEqual(privacy.redactArgv(["echo", "ghp_aB3", "x"], { cut: true }), [
    "echo",
    "ghp_aB3",
    "x",
  ]);
});

test("privacy - extra patterns run in linear time; a pattern RE2 refuses says how to fix it", () => {
  const p = createPrivacy({
    homes: [],
    extraPatterns: ["(a+)+$", "(?i)(?<keep>corp-)[a-z0-9]{8}"],
  });
  const start = performance.now();
  assert.equal(p.redact(`${"a".repeat(20_000)}!`), `${"a".repeat(20_000)}!`);
  const ms = performance.now() - start;
  assert.ok(ms < 500, `${ms.toFixed(0)} ms`);
  assert.equal(p.redact("id CORP-ab12cd34 end"), "id CORP-[REDACTED] end");
  assert.throws(
    () => createPrivacy({ homes: [], extraPatterns: ["ok", "(?<=token=)\\w+"] }),
    (e) =>
      isVigilError(e, "VIGIL_ERR_CONFIG_INVALID") &&
      e.message.includes("sensor.privacy.extraPatterns[1]") &&
      /lookbehind .*group named keep/.test(e.hint ?? ""),
  );
});
