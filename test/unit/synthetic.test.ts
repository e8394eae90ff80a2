import assert from "node:assert/strict";
import { test } from "node:test";
import { windowSchema } from "../../src/contracts/index.js";
import { ANOMALY_KINDS, syntheticAnomalies } from "../../training/synthetic.js";
import { makeWindow } from "../helpers/messages.js";

test("synthetic anomalies: one valid perturbed copy per kind, seeded, originals untouched", () => {
  const windows = [makeWindow(0), makeWindow(1)];
  const before = JSON.stringify(windows);
  const a = syntheticAnomalies(windows, ["read", "write", "openat"], 5);
  const b = syntheticAnomalies(windows, ["read", "write", "openat"], 5);
  assert.equal(JSON.stringify(windows), before, "the held-out windows are not modified");
  assert.deepEqual(a, b, "same seed, same anomalies");
  assert.deepEqual(
    a.map((x) => x.kind),
    [...ANOMALY_KINDS, ...ANOMALY_KINDS],
  );
  for (const { kind, window } of a) {
    const parsed = windowSchema.safeParse(window);
    assert.ok(parsed.success, `${kind}: ${parsed.success ? "" : parsed.error.message}`);
  }
  const [foreign, behaviour, burst] = a;
  const w = windows[0];
  assert.ok(w && foreign && behaviour && burst);
  assert.ok(foreign.window.syscalls.ngrams.length > w.syscalls.ngrams.length);
  assert.ok(foreign.window.syscalls.total >= w.syscalls.total + 20);
  assert.ok(behaviour.window.execs.some((e) => e.path.includes("payload")));
  assert.ok(behaviour.window.files.some((f) => f.class === "secret"));
  assert.ok(behaviour.window.net.some((n) => n.port === 4444));
  assert.equal(burst.window.syscalls.total, w.syscalls.total * 8);
});
