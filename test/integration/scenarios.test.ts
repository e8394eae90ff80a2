/**
 * The scenario library for real: agent processes driven by the scripted model, doing their work
 * with real tools; each attack has its effect; and, under the real sensor (root), everything a
 * session did stayed inside its sandbox: writes under the sandbox root, network to loopback only.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { WindowRecord } from "../../src/contracts/window.js";
import type { ControlServer } from "../../src/sensor/control-server.js";
import {
  AGENT_TYPES,
  ATTACK_VARIANTS,
  ATTACKS,
  type AttackName,
  createSandbox,
  planSession,
  runSession,
  type Sandbox,
  type ScenarioAgentType,
  type SessionPlan,
  type SessionResult,
} from "../../training/scenarios/index.js";
import { REPO } from "../helpers/build-fixture.js";
import { IS_ROOT } from "../helpers/root.js";
import {
  openTestControl,
  sleep,
  startTestSensor,
  type TestSensor,
} from "../helpers/sensor-harness.js";
import { vigilExecArgv } from "../helpers/vigil-run.js";

/** The agent program and its loader are read from the repository. */
const REPO_DIR = REPO.replace(/\/$/, "");

/** Where each attack runs: spread over the agent types. */
const ATTACK_HOST: Record<AttackName, ScenarioAgentType> = {
  "exfil-credentials": "coding-agent",
  "reverse-shell": "research-agent",
  "download-execute": "data-agent",
  "read-shadow": "coding-agent",
  persistence: "research-agent",
  "mass-delete": "data-agent",
  "privesc-probe": "research-agent",
  "dns-tunnel": "coding-agent",
};

describe("scenarios - agents and attacks (real processes; under the eBPF sensor as root)", () => {
  let sb: Sandbox;
  let ts: TestSensor | undefined;
  let control: ControlServer | undefined;
  let socketDir = "";
  /** sessionId -> its windows and plan, for the confinement check. */
  const seen = new Map<string, { plan: SessionPlan; windows: WindowRecord[] }>();

  before(async () => {
    sb = await createSandbox({ seed: 42 });
    if (!IS_ROOT) return;
    ts = await startTestSensor();
    socketDir = mkdtempSync(join(tmpdir(), "vigil-scn-sock-"));
    const sensor = ts.sensor;
    control = await openTestControl(sensor, join(socketDir, "sensor.sock"));
  });

  after(async () => {
    await control?.close();
    await ts?.stop();
    await sb?.close();
    if (socketDir) rmSync(socketDir, { recursive: true, force: true });
  });

  async function run(plan: SessionPlan): Promise<SessionResult> {
    const wrap = ts && [
      process.execPath,
      ...vigilExecArgv(join(socketDir, "sensor.sock"), plan.agentType, plan.sessionId, []),
    ];
    // Short windows: a window's file list is capped (1024 paths), and privesc-probe's filesystem
    // search alone overflows it; closing often confines the overflow to the search's windows.
    let running = true;
    const ticker = (async () => {
      while (running && ts) {
        await sleep(250);
        await ts.closeWindow();
      }
    })();
    const r = await runSession(plan, sb, {
      thinkMs: [50, 200],
      timeoutMs: 60_000,
      ...(wrap ? { wrap } : {}),
    }).finally(() => {
      running = false;
    });
    await ticker;
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.steps.length, plan.steps.length, "every step was executed");
    if (ts) {
      await ts.closeWindow();
      seen.set(plan.sessionId, { plan, windows: ts.windowsOf(plan.sessionId) });
    }
    return r;
  }

  const git = (ws: string, ...args: string[]) =>
    execFileSync("git", args, { cwd: ws, env: { HOME: sb.home, PATH: "/usr/bin:/bin" } })
      .toString()
      .trim();

  test("scenarios - a coding agent reads, edits, runs node and python tests, and commits", async () => {
    const ws = sb.workspace("coding-agent");
    const before = Number(git(ws, "rev-list", "--count", "HEAD"));
    const plan = planSession("coding-agent", { seed: 11, sessionId: "benign-coding", tasks: 4 });
    const r = await run(plan);
    assert.ok(Number(git(ws, "rev-list", "--count", "HEAD")) > before, "a commit was made");
    assert.ok(r.steps.some((s) => s.name === "bash"));
    assert.ok(r.steps.filter((s) => !s.ok).length <= 1, JSON.stringify(r.steps));
    assert.equal(r.attack, undefined);
  });

  test("scenarios - a research agent fetches pages, keeps notes and writes a summary", async () => {
    const plan = planSession("research-agent", {
      seed: 12,
      sessionId: "benign-research",
      tasks: 4,
    });
    const r = await run(plan);
    const summary = readFileSync(join(sb.workspace("research-agent"), "summary.md"), "utf8");
    assert.match(summary, /^# Summary/);
    assert.ok(r.steps.filter((s) => s.name === "http_get").every((s) => s.ok));
  });

  test("scenarios - a data agent queries sqlite, reads logs, runs pipelines and writes a report", async () => {
    const plan = planSession("data-agent", { seed: 13, sessionId: "benign-data", tasks: 4 });
    const r = await run(plan);
    const ws = sb.workspace("data-agent");
    assert.match(readFileSync(join(ws, "reports", "report.md"), "utf8"), /^# Daily report/);
    assert.ok(existsSync(join(ws, "reports", "benign-data.csv")));
    assert.ok(
      r.steps.every((s) => s.ok),
      JSON.stringify(r.steps),
    );
  });

  const bashrcHooks = () =>
    readFileSync(join(sb.home, ".bashrc"), "utf8")
      .split("\n")
      .filter((l) => l.includes("sys-update")).length;

  for (const [i, name] of ATTACKS.entries()) {
    for (let variant = 0; variant < ATTACK_VARIANTS[name]; variant++) {
      test(`scenarios - attack ${name} (variant ${variant}) has its effect`, async () => {
        const agentType = ATTACK_HOST[name];
        const ws = sb.resetWorkspace(agentType);
        const sessionId = `attack-${name}-${variant}`;
        const planted = [
          ".local/share/sys-update/installed",
          ".config/systemd/user/sys-update.service",
          ".local/etc/crontab",
        ].map((f) => join(sb.home, f));
        for (const f of planted) rmSync(f, { force: true });
        const hooks = bashrcHooks();
        const got = sb.received();
        const plan = planSession(agentType, {
          seed: 200 + i * 10 + variant,
          sessionId,
          tasks: 2,
          attack: name,
          attackVariant: variant,
        });
        assert.ok(plan.attack && plan.attack.atStep > 0, "benign work comes first");
        const r = await run(plan);
        assert.ok(r.attack, "the attack was handed out");
        assert.ok(r.attack.startedAt >= r.startedAt && r.attack.startedAt <= r.endedAt);
        const at = plan.attack.atStep;
        const attackSteps = r.steps.slice(at, at + plan.attack.steps);
        const now = sb.received();
        const exfil = now.exfil.slice(got.exfil.length);
        switch (name) {
          case "exfil-credentials": {
            const keyLine = sb.secrets.sshKey.split("\n")[1] ?? "?";
            assert.ok(exfil.includes(keyLine), "the SSH key reached the listener");
            assert.ok(exfil.includes("aws_secret_access_key"), "the AWS credentials did");
            break;
          }
          case "reverse-shell":
            assert.ok(now.connections > got.connections);
            assert.match(exfil, /uid=\d+\(/, "the listener's `id` ran in the shell");
            break;
          case "download-execute":
            assert.ok(now.downloads > got.downloads, "the script was downloaded");
            assert.match(readFileSync(planted[0] as string, "utf8"), /uid=\d+/, "and ran");
            break;
          case "read-shadow":
            if (IS_ROOT)
              assert.ok(
                attackSteps.every((s) => s.ok),
                JSON.stringify(attackSteps),
              );
            break;
          case "persistence":
            assert.equal(bashrcHooks(), hooks + 1, "a hook was appended to ~/.bashrc");
            assert.match(readFileSync(planted[1] as string, "utf8"), /ExecStart=/);
            assert.match(readFileSync(planted[2] as string, "utf8"), /^\*\/\d+ \* \* \* \* /);
            break;
          case "mass-delete":
            // Later benign steps may create a file or two again (sqlite3 opens app.db).
            for (const f of ["logs", "data", ".sqliterc"]) {
              assert.ok(!existsSync(join(ws, f)), `${f} was deleted`);
            }
            break;
          case "privesc-probe": {
            const execs = seen.get(sessionId)?.windows.flatMap((w) => w.execs) ?? [];
            if (ts)
              assert.ok(
                execs.some((e) => e.path.endsWith("/find")),
                "the setuid search ran",
              );
            break;
          }
          case "dns-tunnel": {
            const queries = now.dnsQueries - got.dnsQueries;
            assert.ok(queries >= 100 && queries <= 300, `${queries} queries`);
            const first = now.dnsNames.at(-1)?.split(".")[0] ?? "";
            assert.match(first, /^[a-z2-7]{40,63}$/, "long base32 labels");
            break;
          }
        }
      });
    }
  }

  test("scenarios - sessions never touch anything outside their sandbox (sensor windows)", {
    skip: !IS_ROOT && "needs root (eBPF)",
  }, () => {
    const sessions = ATTACKS.reduce<number>((n, a) => n + ATTACK_VARIANTS[a], AGENT_TYPES.length);
    assert.equal(seen.size, sessions, "every session was observed");
    const inSandbox = (p: string) => p.startsWith(`${sb.root}/`);
    const DEVICES = ["/dev/null", "/dev/tty", "/dev/ptmx"];
    const writeOk = (p: string) =>
      inSandbox(p) ||
      DEVICES.includes(p) ||
      p.startsWith("/dev/pts/") ||
      p.startsWith("/proc/self/");
    // Reading the system (libraries, /etc, /proc) and the agent's own code is expected.
    const SYSTEM = [
      "/usr/",
      "/lib/",
      "/lib64/",
      "/bin/",
      "/sbin/",
      "/etc/",
      "/proc/",
      "/sys/",
      "/dev/",
    ];
    const readOk = (p: string) =>
      inSandbox(p) ||
      SYSTEM.some((s) => p.startsWith(s)) ||
      p.startsWith(`${REPO_DIR}/`) ||
      // Opened relative to a directory fd (find, rm -r, grep -r walk the tree that way): the
      // sensor resolves paths against the cwd only, and every cwd is in the sandbox.
      (!p.startsWith("/") && !p.startsWith("~"));
    const loopback = (a: string) => /^127\./.test(a) || a === "::1" || a === "::ffff:127.0.0.1";
    // glibc asks nscd for user names (id, a shell prompt); nothing else outside may be reached.
    const NSCD = ["/var/run/nscd/socket", "/run/nscd/socket"];
    const netOk = (n: WindowRecord["net"][number]) =>
      n.family === "unix"
        ? n.address === "" || inSandbox(n.address) || NSCD.includes(n.address)
        : loopback(n.address);
    const problems: string[] = [];
    const capped: string[] = [];
    for (const [id, { plan, windows }] of seen) {
      assert.ok(windows.length > 0, `${id}: no window`);
      // privesc-probe walks the whole filesystem (read-only) for setuid binaries, by design; its
      // search overflows the window's file list, so its reads are not checked, and its capped
      // windows are the only ones allowed.
      const probing = plan.attack?.name === "privesc-probe";
      for (const w of windows) {
        if (w.truncated.files !== undefined && !probing) capped.push(`${id} #${w.seq}`);
        for (const f of w.files) {
          if (f.op === "write" && !writeOk(f.path)) problems.push(`${id}: wrote ${f.path}`);
          if (f.op === "read" && !readOk(f.path) && !probing)
            problems.push(`${id}: read ${f.path}`);
        }
        for (const n of w.net) {
          if (!netOk(n))
            problems.push(`${id}: ${n.direction} ${n.protocol} ${n.address}:${n.port}`);
        }
      }
    }
    assert.deepEqual(capped, [], "no window's file list was cut (outside the setuid search)");
    assert.deepEqual(problems, []);
    const all = [...seen.values()].flatMap((s) => s.windows);
    assert.ok(
      all.some((w) => w.files.some((f) => f.op === "write" && inSandbox(f.path))),
      "writes were seen",
    );
    assert.ok(
      all.some((w) => w.net.some((n) => n.protocol === "udp")),
      "the DNS burst was seen",
    );
  });
});
