/**
 * Fake agents and floods against a real `vigil run` with its default rules: an unprivileged
 * user's copy of /bin/sleep named like an agent is not tracked; a real agent install (root's)
 * run by that user is, but only up to the per-uid cap, and what the cap refuses is counted;
 * and that user's windows are never learned, while root's are.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  chownSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { gunzipSync } from "node:zlib";
import { controlRequest } from "../../src/sensor/control-server.js";
import type { SensorStatus } from "../../src/sensor/sensor.js";
import { rootOnly } from "../helpers/root.js";
import { NOBODY, runAsNobody, startVigilRun, type VigilRun } from "../helpers/vigil-run.js";

const CAP = 3;

async function until(pred: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function instances(run: VigilRun): Promise<SensorStatus["instances"]> {
  const r = await controlRequest(run.socket, { op: "status" });
  return (r.status as SensorStatus).instances;
}

async function metric(run: VigilRun, series: string): Promise<number> {
  const text = await (await fetch(`http://${run.listen}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

/** Starts `commands` as nobody in the background; their pids. */
function startAsNobody(home: string, commands: string[]): number[] {
  const script = commands.map((c) => `${c} </dev/null >/dev/null 2>&1 & echo $!`).join("\n");
  const r = runAsNobody(["sh", "-c", script], { env: { HOME: home } });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split("\n").map(Number);
}

function kill(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
}

describe("security: fake agents and floods", rootOnly(), () => {
  let run: VigilRun;
  let home: string;
  /** A real-looking claude-code install only root can write, with its npm bin link. */
  let trustedClaude: string;
  const started: number[] = [];

  before(async () => {
    run = await startVigilRun({ env: { VIGIL_SENSOR_MAX_INSTANCES_PER_UID: String(CAP) } });
    assert.ok(run.url, run.stderr());
    home = join(run.root, "home-mallory");
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, NOBODY, NOBODY);
    const pkg = join(run.root, "usr/lib/node_modules/@anthropic-ai/claude-code/bin");
    mkdirSync(pkg, { recursive: true });
    copyFileSync("/bin/sleep", join(pkg, "claude.exe"));
    mkdirSync(join(run.root, "usr/bin"));
    trustedClaude = join(run.root, "usr/bin/claude");
    symlinkSync("../lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe", trustedClaude);
  });
  after(async () => {
    kill(started);
    await run?.stop();
  });

  test("fake agents - a user's copies of /bin/sleep named like agents are not tracked", async () => {
    // What any local user can do: name sleep like an agent, also at the agent's npm path, and
    // a script at codex's path for the root-owned node.
    const make = runAsNobody(
      [
        "sh",
        "-c",
        `set -e; cd "$HOME"; cp /bin/sleep claude
d=.npm-global/lib/node_modules/@anthropic-ai/claude-code/bin; mkdir -p $d .npm-global/bin
cp /bin/sleep $d/claude.exe; ln -s ../lib/node_modules/@anthropic-ai/claude-code/bin/claude.exe .npm-global/bin/claude
mkdir -p node_modules/@openai/codex/bin; echo 'setTimeout(() => {}, 60000)' > node_modules/@openai/codex/bin/codex.js`,
      ],
      { env: { HOME: home } },
    );
    assert.equal(make.status, 0, make.stderr);
    const fakes = startAsNobody(home, [
      `${home}/claude 60`,
      `${home}/.npm-global/bin/claude 60`,
      `${process.execPath} ${home}/node_modules/@openai/codex/bin/codex.js`,
    ]);
    started.push(...fakes);
    // Started after the fakes, so found after them: once it is, the fakes were judged.
    const [real] = startAsNobody(home, [`${trustedClaude} 60`]);
    started.push(real as number);
    await until(
      async () => (await instances(run)).some((i) => i.rootPid === real),
      15_000,
      "the root-owned claude-code run by nobody to be tracked",
    );
    const all = await instances(run);
    const found = all.find((i) => i.rootPid === real);
    assert.equal(found?.agentType, "claude-code");
    assert.equal(found?.uid, NOBODY);
    for (const pid of fakes) {
      assert.equal(
        all.find((i) => i.rootPid === pid),
        undefined,
        `fake ${pid} is not tracked: ${JSON.stringify(all)}`,
      );
    }
    kill([real as number]);
    await until(
      async () => !(await instances(run)).some((i) => i.rootPid === real),
      15_000,
      "the instance to end",
    );
  });

  test("flood - past the per-uid cap instances are refused, counted once each, logged once", async () => {
    const series = 'vigil_sensor_instances_refused_total{agent_type="claude-code"}';
    const before = await metric(run, series);
    assert.equal(before, 0, "the counter exists from the start, at 0");
    const flood = startAsNobody(
      home,
      Array.from({ length: CAP + 5 }, () => `${trustedClaude} 60`),
    );
    started.push(...flood);
    await until(async () => (await metric(run, series)) >= 5, 15_000, "5 refusals counted");
    const mine = (await instances(run)).filter((i) => i.uid === NOBODY);
    assert.equal(mine.length, CAP, JSON.stringify(mine));
    assert.ok(mine.every((i) => flood.includes(i.rootPid) && i.agentType === "claude-code"));
    assert.equal(await metric(run, series), 5);
    const refusals = run
      .stderr()
      .split("\n")
      .filter((l) => l.includes("agent instance refused") && l.includes(`"uid":${NOBODY}`));
    assert.equal(refusals.length, 1, `one log line for the uid: ${refusals.join("\n")}`);
  });

  test("learning - a uid outside scorer.learning.uids is never learned; root is", async () => {
    // The flood's instances (nobody's) are still running; root's copy of the same agent too.
    const rootAgent = spawn(trustedClaude, ["60"], { stdio: "ignore" }).pid as number;
    started.push(rootAgent);
    const skipped =
      'vigil_scorer_windows_skipped_total{agent_type="claude-code",reason="uid_not_learned"}';
    await until(async () => (await metric(run, skipped)) >= 3, 20_000, "nobody's windows skipped");
    const dir = join(run.dataDir, "learning", "claude-code");
    const learned = () =>
      readdirSync(dir)
        .filter((f) => f.endsWith(".jsonl.gz"))
        .flatMap((f) =>
          gunzipSync(readFileSync(join(dir, f)))
            .toString("utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { uid?: number; pid: number }),
        );
    await until(
      () => {
        try {
          return learned().some((w) => w.pid === rootAgent);
        } catch {
          return false;
        }
      },
      20_000,
      "root's windows learned",
    );
    const windows = learned();
    assert.ok(windows.length > 0);
    assert.deepEqual(
      windows.filter((w) => w.uid !== 0),
      [],
      "every learned window is root's: none of nobody's",
    );
  });
});
