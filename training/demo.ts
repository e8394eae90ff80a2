/**
 * `vigil demo`: one agent type end to end, as a newcomer would want to see it. Vigil runs for
 * real (sensor, NATS, scorer, a local Alertmanager); a coding agent works in a sandbox while
 * Vigil learns it; then the same agent, prompt-injected, steals credentials; and the alert is
 * printed as Alertmanager holds it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GettableAlert } from "./local-alertmanager.js";
import { captureBaseline, trainForScorer } from "./scenario-eval.js";
import { VigilPipeline } from "./scenario-pipeline.js";
import {
  type AttackName,
  createSandbox,
  planSession,
  runSession,
  type ScenarioAgentType,
} from "./scenarios/index.js";

export interface DemoOptions {
  agentType: ScenarioAgentType;
  attack: AttackName;
  seed: number;
  baselineSessions: number;
  windowSeconds: number;
  say: (line: string) => void;
}

export async function runDemo(o: DemoOptions): Promise<GettableAlert | undefined> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-demo-"));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once("exit", removeDir);
  const say = o.say;
  say("1/4 starting Vigil: the eBPF sensor, NATS, the scorer and a local Alertmanager ...");
  const sandbox = await createSandbox({ seed: o.seed });
  let pipeline: VigilPipeline;
  try {
    pipeline = await VigilPipeline.start({
      dir,
      windowSeconds: o.windowSeconds,
      homes: [sandbox.home],
      workspaces: [sandbox.workspace(o.agentType)],
    });
  } catch (e) {
    await sandbox.close();
    throw e;
  }
  try {
    const session = (id: string, seed: number, attack?: AttackName) =>
      runSession(
        planSession(o.agentType, { seed, sessionId: id, tasks: 8, ...(attack ? { attack } : {}) }),
        sandbox,
        { wrap: pipeline.wrap(o.agentType, id), thinkMs: [100, 400] },
      );
    say(
      `2/4 learning: ${o.baselineSessions} sessions of a ${o.agentType} (real tools: git, node, python, sqlite3, curl...) in ${sandbox.root} ...`,
    );
    const windows = await captureBaseline(
      pipeline,
      o.agentType,
      join(dir, "baseline"),
      o.baselineSessions,
      (i) => session(`demo-learn-${i}`, o.seed * 100 + i),
      o.windowSeconds,
      () => {},
    );
    say(
      `    ${windows} windows captured; training (autoencoder vs next-syscall, chosen by measurement) ...`,
    );
    await trainForScorer(pipeline, o.agentType, join(dir, "baseline"), o.seed, () => {});
    await pipeline.waitForModels([o.agentType]);
    const id = `demo-${o.attack}`;
    say(`3/4 detecting: the same agent, now prompt-injected (${o.attack}), as agent id ${id} ...`);
    const r = await session(id, o.seed * 100 + 99, o.attack);
    const deadline = Date.now() + 30_000;
    let alert: GettableAlert | undefined;
    while (Date.now() < deadline && alert === undefined) {
      alert = (await pipeline.am.alerts()).find((a) => a.labels.agent_id === id);
      if (!alert) await new Promise((res) => setTimeout(res, 100));
    }
    if (!alert) {
      say(
        "4/4 no alert reached Alertmanager within 30 s: the attack was missed (see vigil eval scenarios)",
      );
      return undefined;
    }
    const after = r.attack ? ((Date.now() - r.attack.startedAt) / 1000).toFixed(1) : "?";
    say(
      `4/4 Alertmanager (${pipeline.am.url}), looked at ${after} s after the attack began, shows:\n`,
    );
    say(formatAlert(alert));
    return alert;
  } finally {
    await sandbox.close();
    await pipeline.stop();
    process.off("exit", removeDir);
    removeDir();
  }
}

/** An Alertmanager alert as a person reads it. */
export function formatAlert(a: GettableAlert): string {
  const l = a.labels;
  const n = a.annotations;
  return [
    `  ${l.alertname}  [${l.severity}]  ${l.agent_type} ${l.agent_id} on ${l.host}  (${a.status.state} since ${a.startsAt})`,
    `  summary:     ${n.summary}`,
    "  explanation:",
    ...(n.explanation ?? "").split("\n").map((line) => `    ${line}`),
    `  score ${n.score} (threshold ${n.threshold}), model ${n.model_version}, window ${n.window_start} .. ${n.window_end}`,
    "",
  ].join("\n");
}
