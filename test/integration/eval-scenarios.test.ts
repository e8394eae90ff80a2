/**
 * `vigil eval scenarios --quick` as the test suite runs it: the live eBPF sensor, NATS, the
 * scorer and a real Alertmanager (vigil run), realistic agents of three types in a sandbox,
 * baselines captured and models trained here, then held-out benign sessions and each of the
 * eight attacks injected into a session. Every attack must be detected. False alarms on benign
 * sessions are printed, not asserted: 2 of 4 quick runs of this code still raised one (on about 35
 * benign windows), so "no false alarm" is an open target of issue 6, stated in the report and
 * the README, rather than an assertion that would fail CI at random. A few minutes; root.
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
  "vigil eval scenarios --quick: every attack is detected (false alarms reported)",
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
      for (const [type, s] of Object.entries(e.types)) {
        assert.ok(s.benign.sessions >= 2 && s.benign.windows > 0, `${type}: benign sessions ran`);
        console.log(
          `${type}: ${s.benign.alerts} false alarms in ${s.benign.windows} benign windows` +
            `${s.benign.falseAlarms.length ? `: ${s.benign.falseAlarms.join("; ")}` : ""}`,
        );
      }
      // The report states the false-alarm target, met or missed, with the numbers.
      assert.match(md, /No false alarm on benign sessions/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
