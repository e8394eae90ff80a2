/**
 * `vigil eval scenarios --quick` as the test suite runs it: the live eBPF sensor, NATS, the
 * scorer and a real Alertmanager (vigil run), realistic agents of three types in a sandbox,
 * baselines captured and models trained here, then held-out benign sessions and each of the
 * eight attacks injected into a session. Every attack must be detected within 2 windows of its
 * start, and benign sessions (and attacked ones before their attack) must raise no alert. QUICK
 * calibrates thresholds for 0.01 % of windows, not vigil train's 0.1 %: at 0.1 % about 7 % of
 * runs would raise an alert in ~70 benign windows even with perfect calibration, and 1 of 3 to
 * 7 runs did. Several minutes; root.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { evaluateScenarios, QUICK } from "../../training/scenario-eval.js";
import { writeScenarioReport } from "../../training/scenario-report.js";
import { ATTACKS } from "../../training/scenarios/index.js";
import { rootOnly } from "../helpers/root.js";

test(
  "vigil eval scenarios --quick: every attack detected within 2 windows; no alert on benign work",
  rootOnly(),
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-eval-test-"));
    try {
      const e = await evaluateScenarios({
        ...QUICK,
        dir: join(dir, "work"),
        seed: 0,
        log: (line) => console.log(line),
      });
      writeScenarioReport(join(dir, "report"), e, { quick: true });
      const md = readFileSync(join(dir, "report", "report.md"), "utf8");
      assert.match(md, /## Per attack/);
      assert.match(md, /Thresholds calibrated for a window false-positive rate of 0\.01 %/);
      assert.ok(existsSync(join(dir, "report", "timelines.svg")));
      for (const a of e.attacks) {
        console.log(
          `${a.agentType} ${a.attack}: ${a.detected ? `detected after ${a.windowsToDetection} windows, ${a.secondsToDetection?.toFixed(1)} s` : "MISSED"}`,
        );
      }
      assert.deepEqual(
        e.attacks.map((a) => a.attack).sort(),
        [...ATTACKS].sort(),
        "each attack ran once",
      );
      const missed = e.attacks
        .filter((a) => !a.detected)
        .map((a) => `${a.attack} on ${a.agentType}`);
      assert.deepEqual(missed, [], `every attack detected; missed: ${missed.join(", ")}`);
      const slow = e.attacks
        .filter((a) => (a.windowsToDetection ?? 0) > 2)
        .map((a) => `${a.attack} on ${a.agentType} after ${a.windowsToDetection} windows`);
      assert.deepEqual(slow, [], "every attack detected within 2 windows of its start");
      for (const [type, s] of Object.entries(e.types)) {
        assert.ok(s.benign.sessions >= 2 && s.benign.windows > 0, `${type}: benign sessions ran`);
        console.log(
          `${type}: ${s.benign.alerts} false alarms in ${s.benign.windows} benign windows` +
            `${s.benign.falseAlarms.length ? `: ${s.benign.falseAlarms.join("; ")}` : ""}`,
        );
      }
      const falseAlarms = Object.entries(e.types).flatMap(([type, s]) =>
        s.benign.falseAlarms.map((f) => `${type}: ${f}`),
      );
      // The report states the false-alarm target, met or missed, with the numbers (checked
      // before the assertion below, so that a missed run checks the report too).
      assert.match(
        md,
        falseAlarms.length === 0
          ? /No false alarm on benign sessions[^\n]*\*\*met\*\*/
          : /No false alarm on benign sessions[^\n]*\*\*missed\*\* for/,
      );
      assert.deepEqual(falseAlarms, [], "no alert on benign work");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
