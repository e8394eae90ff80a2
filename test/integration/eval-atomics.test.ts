/**
 * `vigil eval atomics --quick` as a user runs it (the CLI, root): real Claude Code, driven
 * offline by the scripted model inside the evaluation's loopback-only network namespace, found
 * by Vigil's default discovery rules, learns a baseline; then held-out benign sessions and one
 * session per ATT&CK tactic with an Atomic Red Team test handed to it as its own tool call.
 * Asserts what the evaluation must get right whatever Vigil detects: every session tracked,
 * every test accounted for (ran, or skipped or not run with a reason), every destination the
 * agent reached on loopback, the ablation and the report written; and the live alerts agree
 * with the scorer's decision replayed on the kept windows. The detection rates themselves are
 * measured, not asserted: they are issue 3 of 5's targets. Several minutes; root.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { AtomicsEvaluation } from "../../training/atomics/measure.js";
import { EvalStore } from "../../training/atomics/store.js";
import { rootOnly } from "../helpers/root.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ATOMICS = join(REPO, "..", "shared", "datasets", "atomic-red-team");
const TSX = import.meta.resolve("tsx");

test(
  "vigil eval atomics --quick: real Claude Code, found by the default rules, attacked by one Atomic test per tactic",
  rootOnly(),
  async () => {
    assert.ok(existsSync(ATOMICS), `the Atomic Red Team dataset is at ${ATOMICS}`);
    const out = mkdtempSync(join(tmpdir(), "vigil-eval-atomics-test-"));
    try {
      const { stdout, stderr } = await promisify(execFile)(
        process.execPath,
        [
          "--import",
          TSX,
          join(REPO, "src", "cli", "main.ts"),
          "eval",
          "atomics",
          "--atomics",
          ATOMICS,
          "--quick",
          "--json",
          "--out",
          out,
        ],
        {
          cwd: REPO,
          maxBuffer: 64 * 1024 * 1024,
          timeout: 25 * 60_000,
          env: { ...process.env, NODE_V8_COVERAGE: "" },
        },
      ).catch((e: { stdout?: string; stderr?: string; message: string }) => {
        throw new Error(`vigil eval atomics failed: ${e.message}\n${e.stderr?.slice(-4000)}`);
      });
      console.log(stderr.split("\n").slice(-40).join("\n"));
      const summary = JSON.parse(stdout) as {
        summary: { agent: string; counted: number; detected2: number }[];
      };
      const e = JSON.parse(readFileSync(join(out, "evaluation.json"), "utf8")) as AtomicsEvaluation;
      for (const f of ["report.md", "detections.svg", "timelines.svg"])
        assert.ok(existsSync(join(out, f)), f);
      const md = readFileSync(join(out, "report.md"), "utf8");
      for (const heading of [
        "## Targets",
        "## Ablation",
        "## Per ATT&CK tactic",
        "## Per technique",
        "## Per test",
        "## Not run",
        "## Benign work and false alarms",
      ]) {
        assert.ok(md.includes(heading), `report.md has ${heading}`);
      }

      const a = e.agents["claude-code"];
      assert.ok(a, "claude-code was evaluated");
      // The default rules, not `vigil exec`, found the real binary in every held-out session.
      assert.equal(a.discovery.found, a.discovery.sessions, "every held-out session was tracked");
      assert.ok(a.baseline.windows >= 150, `baseline of ${a.baseline.windows} windows`);
      assert.ok(a.benign.sessions >= 4 && a.benign.windows > 0, "benign sessions ran");

      // One test per tactic, each accounted for.
      const tests = e.tests.filter((t) => t.agent === "claude-code");
      assert.ok(tests.length >= 8, `${tests.length} tests`);
      const tactics = new Set(tests.flatMap((t) => t.tactics));
      for (const t of [
        "credential-access",
        "collection",
        "exfiltration",
        "persistence",
        "discovery",
      ]) {
        assert.ok(tactics.has(t), `a ${t} test`);
      }
      for (const t of tests) {
        assert.ok(
          t.status === "skipped" ? (t.reason ?? "").length > 0 : t.ran,
          `${t.id}: ${t.status} ${t.reason ?? ""}`,
        );
      }
      assert.ok(tests.filter((t) => t.effect).length >= 5, "most tests had their effect");
      assert.ok(
        e.notRun.length > 0 && e.notRun.every((t) => t.reason.length > 0),
        "what was not run says why",
      );

      // The live decision and its replay agree: the alerts that reached the bus (the scorer, NATS,
      // the attribution of windows and alerts to the session) are what the model and rules give
      // on the kept windows. A session that alerted before its attack is left out: its episode's
      // alert is not raised again for the attack.
      for (const t of tests.filter((x) => x.ran && !x.alertedBeforeAttack)) {
        assert.equal(
          t.detected,
          t.ablation.both.detected,
          `${t.id}: live ${t.detected}, replayed ${t.ablation.both.detected}`,
        );
        if (t.detected) {
          assert.ok(
            t.summary && t.severity && t.decidedBy && (t.secondsToAlert ?? -1) >= 0,
            `${t.id} alert details`,
          );
        }
      }
      assert.equal(summary.summary[0]?.agent, "claude-code");

      // Nothing left the machine: every destination any tracked agent reached was loopback.
      const store = new EvalStore(join(out, "data"));
      const records = store.records("claude-code");
      const outside = records
        .flatMap((r) => (r.kind === "skipped" ? [] : r.windows))
        .flatMap((w) => w.net)
        .filter((n) => n.family === "inet" || n.family === "inet6")
        .filter((n) => !/^(127\.|::1$|::ffff:127\.)/.test(n.address));
      assert.deepEqual(outside, [], "only loopback destinations");
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
);
