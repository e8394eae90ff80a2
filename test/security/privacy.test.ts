/**
 * Secrets on an agent's command lines never leave the sensor: a tracked agent under a real
 * `vigil run` execs programs named like the tools that take them (harmless scripts that contact
 * nothing), and no window or event on the bus, and no file Vigil writes, holds any of them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Registry } from "prom-client";
import { NatsBus, STREAMS } from "../../src/bus/nats-bus.js";
import { natsOptionsFromFlags } from "../../src/cli/nats-flags.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { createBusMetrics } from "../../src/telemetry/metrics.js";
import { rootOnly } from "../helpers/root.js";
import { startVigilRun, type VigilRun, vigilExecArgv } from "../helpers/vigil-run.js";

const AGENT_TYPE = "sec-privacy";
/** A secret no pattern knows by its format: only its place on the command line gives it away. */
const secret = (): string => `Qx${randomBytes(9).toString("hex")}`;

/** Every message in a stream, as text. */
async function streamTexts(bus: NatsBus, stream: string): Promise<string[]> {
  const info = await bus.manager.streams.info(stream);
  const out: string[] = [];
  if (info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await bus.manager.streams.getMessage(stream, { seq }).catch(() => null);
    if (m) out.push(new TextDecoder().decode(m.data));
  }
  return out;
}

/** The text of every regular file under `dir`. */
function filesUnder(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (st?.isDirectory()) out.push(...filesUnder(path));
    else if (st?.isFile()) out.push({ path, text: readFileSync(path, "latin1") });
  }
  return out;
}

describe("security: secrets on agents' command lines", rootOnly(), () => {
  let run: VigilRun;
  before(async () => {
    run = await startVigilRun();
    assert.ok(run.url, run.stderr());
  });
  after(async () => {
    await run?.stop();
  });

  test("privacy - short options, positional secrets, URL tokens and a cut argument never reach the bus", async () => {
    const bin = join(run.root, "bin");
    mkdirSync(bin);
    const tools = ["mysql", "sshpass", "curl", "aws", "htpasswd", "tool"];
    for (const t of tools) writeFileSync(join(bin, t), "#!/bin/sh\nexit 0\n", { mode: 0o755 });

    const s = {
      mysql: secret(),
      sshpass: secret(),
      curlUser: secret(),
      signature: secret(),
      aws: secret(),
      htpasswd: secret(),
      script: secret(),
    };
    // The kernel copies 256 bytes of argv: make the cut fall six characters into a GitHub token,
    // a piece shorter than the format's 30-character minimum. A script's argv, as the kernel
    // has it, starts with its interpreter: "/bin/sh", the script's path, then the arguments.
    const argv0 = join(bin, "tool");
    const token = `ghp_Zq${randomBytes(19).toString("hex")}`;
    const pad = "p".repeat(256 - "/bin/sh".length - 1 - (argv0.length + 1) - 1 - 10);
    const tokenPiece = token.slice(4, 10);

    const script = [
      `${bin}/mysql -uroot -p${s.mysql} app`,
      `${bin}/sshpass -p ${s.sshpass} ${bin}/tool host`,
      `${bin}/curl -u alice:${s.curlUser} "http://127.0.0.1:9/x?X-Amz-Signature=${s.signature}&n=1"`,
      `${bin}/aws configure set aws_secret_access_key ${s.aws}`,
      `${bin}/htpasswd -nb bob ${s.htpasswd}`,
      `${argv0} ${pad} ${token}`,
      // A whole command line in one argument, as agents run their tools.
      `sh -c "${bin}/mysql -p${s.script} db; true"`,
    ].join("\n");
    const r = spawnSync(
      process.execPath,
      vigilExecArgv(run.socket, AGENT_TYPE, undefined, ["sh", "-c", script]),
      { encoding: "utf8", env: run.env, cwd: "/", timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);

    const admin = await NatsBus.open(
      natsOptionsFromFlags({}, { dataDir: run.dataDir, role: "admin" }),
      createBusMetrics(new Registry()),
      createSilentLogger(),
    );
    try {
      // Wait until every exec is in a window.
      let windows: string[] = [];
      const seen = () => {
        const all = windows.join("\n");
        return tools.every((t) => all.includes(`${bin}/${t}`)) && all.includes(pad);
      };
      for (const until = Date.now() + 30_000; !seen() && Date.now() < until; await sleep(500)) {
        windows = (await streamTexts(admin, STREAMS.windows)).filter((w) =>
          w.includes(`"agentType":"${AGENT_TYPE}"`),
        );
      }
      assert.ok(
        seen(),
        `the agent's execs are in its windows: ${windows.join("\n").slice(0, 4000)}`,
      );
      const events = await streamTexts(admin, STREAMS.events);
      const published = [...windows, ...events].join("\n");
      for (const [what, value] of Object.entries({ ...s, tokenPiece })) {
        assert.ok(!published.includes(value), `${what} (${value}) is on the bus`);
      }
      // The masking kept its shape: what was there stays explainable.
      for (const shown of [
        '"-p[REDACTED]"',
        '"alice:[REDACTED]"',
        "X-Amz-Signature=[REDACTED]&n=1",
        '"aws_secret_access_key","[REDACTED]"',
        '"bob","[REDACTED]"',
        '"ghp_[REDACTED]"',
        `mysql -p[REDACTED] db; true`,
      ]) {
        assert.ok(published.includes(shown), `${shown} in ${windows.join("\n").slice(0, 4000)}`);
      }
      assert.ok(events.some((e) => e.includes('"kind":"exec"') && e.includes(`${bin}/mysql`)));
    } finally {
      await admin.close();
    }
    // Nor anything Vigil keeps: learning captures, the bus's own store, logs.
    for (const f of filesUnder(run.dataDir)) {
      for (const value of [...Object.values(s), tokenPiece]) {
        assert.ok(!f.text.includes(value), `${value} in ${f.path}`);
      }
    }
    for (const value of Object.values(s)) assert.ok(!run.stderr().includes(value), "in the log");
  });
});
