/**
 * `vigil eval atomics --atomics DIR`: real agent CLIs attacked by the Atomic Red Team library
 * under the live sensor and the real pipeline (training/atomics/eval.ts); writes report.md,
 * detections.svg, timelines.svg and evaluation.json, and keeps its data for resuming.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ErrorCodes, VigilError } from "../errors.js";
import { exitOnSignals } from "./signals.js";

const REPO = fileURLToPath(
  new URL(import.meta.url.endsWith(".js") ? "../../.." : "../..", import.meta.url),
);

const HELP = `usage: vigil eval atomics --atomics DIR [options]

Runs real agent CLIs (agents/, installed by 'scripts/setup.sh eval') offline under Vigil (vigil
run: the eBPF sensor, NATS, the scorer, a local Alertmanager), all inside a network namespace
with only loopback. Each agent is found by Vigil's default discovery rules, learns a baseline
from benign sessions, then runs held-out benign sessions and one session per Atomic Red Team
test, the test's command handed to the agent as its own shell tool call. Reports detection per
test, technique and ATT&CK tactic, the learned score and the rules apart, and false alarms per
agent-hour. Needs root. Resumes an interrupted run with the same --out and options.

  --atomics DIR     the Atomic Red Team library (its atomics/ folder, or a checkout of it)
  --agent NAME      an agent to run (repeatable; default: all, or claude-code with --quick):
                    AGENTS
  --technique T     only these techniques (repeatable; T1552 includes T1552.xxx)
  --test ID         only these tests (repeatable): T1552.004-3 (technique-number) or a GUID
  --quick           a few minutes: one agent, one test per tactic, short sessions (CI runs this)
                    (default: the full run: at least 2 agent-hours of benign work per agent,
                    every runnable test on every agent; hours)
  --out DIR         report and kept data (DIR/data) (default ./eval-atomics)
  --seed N          seed of the sessions and models (default 0)
  --benign-hours H  benign work per agent in the full run (default 2)
  --parallel N      agents evaluated at the same time (default: all)
  --report-only     measure and write the report from DIR/data without running anything
  --json            print the summary as JSON`;

export async function evalAtomicsCommand(argv: string[]): Promise<number> {
  const { AGENT_CLIS } = await import("../../training/agents/clis/index.js");
  const names = AGENT_CLIS.map((a) => a.name);
  let values: {
    atomics?: string;
    agent?: string[];
    technique?: string[];
    test?: string[];
    quick: boolean;
    out: string;
    seed: string;
    "benign-hours": string;
    parallel?: string;
    "report-only": boolean;
    json: boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        atomics: { type: "string" },
        agent: { type: "string", multiple: true },
        technique: { type: "string", multiple: true },
        test: { type: "string", multiple: true },
        quick: { type: "boolean", default: false },
        out: { type: "string", default: "eval-atomics" },
        seed: { type: "string", default: "0" },
        "benign-hours": { type: "string", default: "2" },
        parallel: { type: "string" },
        "report-only": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    throw new VigilError(ErrorCodes.USAGE, (e as Error).message.split("\n")[0] ?? "bad options", {
      hint: "run 'vigil eval atomics --help' for the options",
    });
  }
  if (values.help) {
    process.stdout.write(`${HELP.replace("AGENTS", names.join(", "))}\n`);
    return 0;
  }
  if (!values.atomics) {
    throw new VigilError(ErrorCodes.USAGE, "--atomics DIR is required", {
      hint: "give the Atomic Red Team library: its atomics/ folder or a checkout of github.com/redcanaryco/atomic-red-team",
    });
  }
  const agents = values.agent?.length ? values.agent : values.quick ? ["claude-code"] : names;
  const unknown = agents.filter((a) => !names.includes(a));
  if (unknown.length) {
    throw new VigilError(ErrorCodes.USAGE, `unknown agent ${unknown.join(", ")}`, {
      hint: `choose among ${names.join(", ")}`,
    });
  }
  const seed = Number(values.seed);
  const hours = Number(values["benign-hours"]);
  const parallel = values.parallel === undefined ? undefined : Number(values.parallel);
  const badParallel = parallel !== undefined && !(Number.isSafeInteger(parallel) && parallel > 0);
  if (!Number.isSafeInteger(seed) || seed < 0 || !(hours > 0) || badParallel) {
    throw new VigilError(
      ErrorCodes.USAGE,
      "--seed must be an integer >= 0, --benign-hours a number > 0 and --parallel an integer > 0",
      { hint: "--seed 0 --benign-hours 2 --parallel 2" },
    );
  }
  const agentsDir = join(REPO, "agents");
  const missing = agents.filter((a) => {
    const cli = AGENT_CLIS.find((c) => c.name === a);
    return !cli || !existsSync(join(agentsDir, "node_modules", ".bin", cli.bin));
  });
  if (missing.length && !values["report-only"]) {
    throw new VigilError(
      ErrorCodes.USAGE,
      `the agent CLIs are not installed: ${missing.join(", ")} (looked in ${agentsDir}/node_modules/.bin)`,
      {
        hint: "run 'sudo scripts/setup.sh eval' (or 'sudo npm test', which runs it)",
      },
    );
  }
  const { planTests } = await import("../../training/atomics/plan.js");
  const { quickTests } = await import("../../training/atomics/presets.js");
  let plan = planTests(resolve(values.atomics), {
    ...(values.technique ? { techniques: values.technique } : {}),
    ...(values.test ? { tests: values.test } : {}),
  });
  if (values.quick && !values.test) plan = { ...plan, runnable: quickTests(plan, seed) };
  const out = resolve(values.out);

  const { inIsolatedNetwork } = await import("../../training/agents/isolation.js");
  if (!values["report-only"]) {
    const code = await inIsolatedNetwork([
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ]);
    if (code !== undefined) return code;
  }
  exitOnSignals("eval atomics");
  const { FULL, QUICK } = await import("../../training/atomics/presets.js");
  const { runAtomicsEvaluation } = await import("../../training/atomics/eval.js");
  const { EvalStore } = await import("../../training/atomics/store.js");
  const { measureAtomics } = await import("../../training/atomics/measure.js");
  const { summarize, writeAtomicsReport } = await import("../../training/atomics/report.js");
  const preset = values.quick ? QUICK : { ...FULL, benignSeconds: hours * 3600 };
  const log = (line: string) => process.stderr.write(`vigil eval: ${line}\n`);
  const started = Date.now();
  const { store, failed } = values["report-only"]
    ? { store: new EvalStore(join(out, "data")), failed: {} as Record<string, string> }
    : await runAtomicsEvaluation({
        ...preset,
        plan,
        agents,
        dir: out,
        sandboxRoot: join("/var/lib/vigil-eval", String(process.pid)),
        agentsDir,
        seed,
        ...(parallel === undefined ? {} : { parallel }),
        log,
      });
  // Agents without a model (failed before it, or not in the kept data) are reported, not measured.
  for (const a of agents) {
    if (!failed[a] && !existsSync(join(store.modelDir(a), "manifest.json"))) {
      failed[a] = "no model in the kept data: the run did not get that far";
    }
  }
  const e = await measureAtomics(store, {
    agents: agents.filter((a) => !failed[a]),
    failed,
    seed,
    windowSeconds: preset.windowSeconds,
    targetFar: preset.targetFar,
    seconds: (Date.now() - started) / 1000,
    notRun: plan.notRun,
    errors: plan.errors,
  });
  const versions = JSON.parse(readFileSync(join(agentsDir, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  const agentVersions = Object.fromEntries(
    AGENT_CLIS.map((c) => [c.name, versions.dependencies[c.package] ?? ""]),
  );
  writeAtomicsReport(out, e, {
    quick: values.quick,
    command: `vigil eval atomics ${argv.join(" ")}`,
    agentVersions,
  });
  const summary = summarize(e);
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ summary, failed, agents: e.agents, tests: e.tests.map(({ timeline: _t, ...t }) => t) })}\n`,
    );
  } else {
    const lines = [
      ...summary.map(
        (s) =>
          `${s.agent}: ${s.detected2} of ${s.counted} expected-to-alert tests detected within 2 windows (learned score alone ${s.score2}, rules alone ${s.rules2}); ${s.falseAlarms} false alarms in ${s.benignHours.toFixed(2)} agent-hours`,
      ),
      ...e.tests.map((t) =>
        `  ${t.agent.padEnd(12)} ${t.id.padEnd(14)} ${t.status.padEnd(12)} ${t.summary ?? t.reason ?? ""}`.slice(
          0,
          200,
        ),
      ),
      ...Object.entries(failed).map(([a, why]) => `${a}: NOT EVALUATED: ${why}`),
      `report: ${out}/report.md`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  }
  // An agent that could not be evaluated is a failure of the run, whatever was measured.
  return Object.keys(failed).length > 0 ? 1 : 0;
}
