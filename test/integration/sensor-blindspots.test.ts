/**
 * A tracked agent must not go dark (issue 13, section 4): each test makes a tracked trigger do
 * one thing the sensor used to miss or misname, under the real BPF sensor, and checks the window.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { rootOnly } from "../helpers/root.js";
import { ngramMap, runTracked, startTestSensor } from "../helpers/sensor-harness.js";

describe("sensor blind spots (eBPF)", rootOnly(), () => {
  test("sensor - ids that are no syscall count as one `invalid` id, never as a real call", async () => {
    const ts = await startTestSensor();
    try {
      const { window: w } = await runTracked(ts, "badsys");
      assert.ok(w);
      // 0x10000 | SYS_read used to count as read, and each id above the table as its own key
      assert.deepEqual(
        ngramMap(w),
        new Map([
          ["invalid,invalid,invalid", 199],
          ["invalid,invalid,exit_group", 1],
        ]),
        JSON.stringify(w.syscalls.ngrams.slice(0, 5)),
      );
      assert.equal(w.syscalls.total, 200);
    } finally {
      await ts.stop();
    }
  });
});
