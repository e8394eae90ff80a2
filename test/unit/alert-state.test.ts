/**
 * AlertState with an injected clock: fire, suppress, resend, resolve after normal windows,
 * resolve on a normal final window, sweep (resend due, stale instances), bounded state, and
 * every alert valid against the vigil.alert.v1 schema.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { alertSchema, type VigilAlert, type WindowRecord } from "../../src/contracts/index.js";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import { AlertState, type AlertStateOptions } from "../../src/scorer/alert-state.js";
import type { AlertAction, Explained } from "../../src/scorer/types.js";
import { makeWindow } from "../helpers/messages.js";

const T0 = Date.UTC(2026, 10, 25, 12, 0, 0);

function setup(over: Partial<AlertStateOptions> = {}) {
  const clock = { t: T0 };
  const state = new AlertState({
    resolveAfterWindows: 3,
    resendIntervalMs: 60_000,
    now: () => clock.t,
    ...over,
  });
  return { clock, state };
}

const explained = (
  severity: VigilAlert["severity"],
  summary = `a ${severity} thing`,
): Explained => ({
  severity,
  summary,
  explanation: {
    features: [{ name: "exec:shell", observed: 0.69, baseline: 0, contribution: 1 }],
    novel: [{ kind: "exec", value: "/bin/sh" }],
  },
});

function seen(
  state: AlertState,
  w: WindowRecord,
  anomalous: boolean,
  over: { score?: number; explained?: Explained } = {},
): AlertAction {
  return state.observe({
    window: w,
    anomalous,
    score: over.score ?? (anomalous ? 3 : 0.1),
    threshold: 1,
    modelVersion: "v1",
    ...(anomalous ? { explained: over.explained ?? explained("warning") } : {}),
  });
}

function alertOf(action: AlertAction, kind: "fire" | "resend" | "resolve"): VigilAlert {
  assert.equal(action.kind, kind);
  assert.ok("alert" in action);
  alertSchema.parse(action.alert);
  return action.alert;
}

describe("alert state - one instance", () => {
  test("alert state - first anomalous window fires a full alert", () => {
    const { state } = setup();
    assert.deepEqual(seen(state, makeWindow(0), false), { kind: "none" }, "normal, no alert");
    assert.equal(state.size, 0, "normal instances have no state");
    const w = makeWindow(1);
    const a = alertOf(
      seen(state, w, true, { explained: explained("critical", "it ran sh") }),
      "fire",
    );
    assert.deepEqual(
      { ...a, fingerprint: "" },
      {
        schema: "vigil.alert.v1",
        fingerprint: "",
        alertname: "AgentBehaviorAnomaly",
        host: "web-1",
        agentType: "coding-agent",
        agentId: "7f3a",
        severity: "critical",
        score: 3,
        threshold: 1,
        modelVersion: "v1",
        summary: "it ran sh",
        explanation: explained("critical").explanation,
        windowStart: w.start,
        windowEnd: w.end,
        startsAt: w.end,
      },
    );
    assert.match(a.fingerprint, /^[0-9a-f]{32}$/);
    assert.equal(state.size, 1);
    assert.deepEqual(state.active(), [a]);
  });

  test("alert state - anomalous again: suppressed until the resend interval, then resent", () => {
    const { clock, state } = setup();
    const fired = alertOf(seen(state, makeWindow(1), true), "fire");
    clock.t += 5_000;
    assert.deepEqual(seen(state, makeWindow(2), true), {
      kind: "suppress",
      fingerprint: fired.fingerprint,
    });
    clock.t += 55_000;
    const w = makeWindow(13);
    const resent = alertOf(
      seen(state, w, true, { score: 7, explained: explained("warning", "later") }),
      "resend",
    );
    assert.equal(resent.fingerprint, fired.fingerprint);
    assert.equal(resent.startsAt, fired.startsAt);
    assert.equal(resent.score, 7);
    assert.equal(resent.summary, "later");
    assert.equal(resent.windowStart, w.start);
    assert.equal(resent.windowEnd, w.end);
    assert.equal(resent.endsAt, undefined);
    clock.t += 1_000;
    assert.equal(seen(state, makeWindow(14), true).kind, "suppress", "interval restarts");
  });

  test("alert state - severity stays as fired for the episode (it is an Alertmanager label)", () => {
    const { clock, state } = setup({ resendIntervalMs: 1 });
    assert.equal(alertOf(seen(state, makeWindow(1), true), "fire").severity, "warning");
    clock.t += 1;
    const later = seen(state, makeWindow(2), true, { explained: explained("critical", "worse") });
    const a = alertOf(later, "resend");
    assert.equal(a.severity, "warning");
    assert.equal(a.summary, "worse", "but the latest facts");
  });

  test("alert state - resolves after resolveAfterWindows normal windows in a row", () => {
    const { clock, state } = setup();
    const fired = alertOf(seen(state, makeWindow(1), true), "fire");
    assert.equal(seen(state, makeWindow(2), false).kind, "none");
    assert.equal(seen(state, makeWindow(3), false).kind, "none");
    assert.equal(seen(state, makeWindow(4), true).kind, "suppress", "the streak is broken");
    assert.equal(seen(state, makeWindow(5), false).kind, "none");
    assert.equal(seen(state, makeWindow(6), false).kind, "none");
    clock.t += 42_000;
    const resolved = alertOf(seen(state, makeWindow(7), false), "resolve");
    assert.equal(resolved.fingerprint, fired.fingerprint);
    assert.equal(resolved.endsAt, new Date(clock.t).toISOString());
    assert.equal(state.size, 0);
    assert.deepEqual(state.active(), []);

    const again = alertOf(seen(state, makeWindow(8), true), "fire");
    assert.notEqual(again.fingerprint, fired.fingerprint, "a new episode, a new fingerprint");
    assert.equal(again.startsAt, makeWindow(8).end);
  });

  test("alert state - a normal final window resolves at once; an anomalous one waits", () => {
    const { clock, state } = setup();
    alertOf(seen(state, makeWindow(1), true), "fire");
    const last = makeWindow(2, { final: true });
    alertOf(seen(state, last, false), "resolve");
    assert.equal(state.size, 0);
    assert.deepEqual(seen(state, makeWindow(3, { final: true }), false), { kind: "none" });

    alertOf(seen(state, makeWindow(4), true), "fire");
    clock.t += 1_000;
    assert.equal(seen(state, makeWindow(5, { final: true }), true).kind, "suppress");
    assert.equal(state.size, 1, "stays visible until the sweep finds it stale");
  });

  test("alert state - an anomalous window without an explanation still alerts, by its margin", () => {
    const { state } = setup();
    const a = alertOf(
      state.observe({
        window: makeWindow(1),
        anomalous: true,
        score: 6,
        threshold: 1,
        modelVersion: "v1",
      }),
      "fire",
    );
    assert.equal(a.severity, "critical");
    assert.match(a.summary, /6\.0× its threshold/);
    assert.deepEqual(a.explanation, { features: [], novel: [] });
  });
});

describe("alert state - many instances and the sweep", () => {
  test("alert state - instances are keyed by host, agent type and agent id", () => {
    const { state } = setup({ alertname: "Custom" });
    const a = alertOf(seen(state, makeWindow(1), true), "fire");
    const b = alertOf(seen(state, makeWindow(1, { host: "web-2" }), true), "fire");
    const c = alertOf(seen(state, makeWindow(1, { agentType: "browser-agent" }), true), "fire");
    const d = alertOf(seen(state, makeWindow(1, { agentId: "9e1c" }), true), "fire");
    assert.equal(new Set([a, b, c, d].map((x) => x.fingerprint)).size, 4);
    assert.equal(a.alertname, "Custom");
    assert.equal(state.size, 4);
    assert.equal(seen(state, makeWindow(2, { host: "web-2" }), true).kind, "suppress");
  });

  test("alert state - fingerprints are stable across scorers (same episode, same id)", () => {
    const one = alertOf(seen(setup().state, makeWindow(1), true), "fire");
    const { clock, state } = setup();
    clock.t += 3_600_000;
    const two = alertOf(seen(state, makeWindow(1), true, { score: 9 }), "fire");
    assert.equal(two.fingerprint, one.fingerprint);
    assert.notEqual(
      alertOf(seen(setup().state, makeWindow(2), true), "fire").fingerprint,
      one.fingerprint,
    );
  });

  test("alert state - sweep resends what is due and resolves stale instances", () => {
    const { clock, state } = setup({ resendIntervalMs: 60_000, staleAfterMs: 300_000 });
    const quiet = alertOf(seen(state, makeWindow(1), true), "fire");
    clock.t += 30_000;
    const busy = alertOf(seen(state, makeWindow(1, { agentId: "busy" }), true), "fire");
    assert.deepEqual(state.sweep(), [], "nothing due yet");

    clock.t += 30_000;
    const due = state.sweep();
    assert.equal(due.length, 1);
    assert.equal(alertOf(due[0] as AlertAction, "resend").fingerprint, quiet.fingerprint);
    assert.deepEqual(state.sweep(), [], "resent: the interval restarts");

    // busy keeps sending windows; quiet sends nothing more
    let resolved = 0;
    for (let i = 0; i < 10; i++) {
      clock.t += 30_000;
      seen(state, makeWindow(2 + i, { agentId: "busy" }), true);
      for (const action of state.sweep()) {
        if (action.kind === "resolve") {
          assert.equal(action.alert.fingerprint, quiet.fingerprint);
          resolved++;
          assert.equal(clock.t - T0, 300_000, "300 s after quiet's only window");
          assert.equal(action.alert.endsAt, new Date(clock.t).toISOString());
        } else {
          assert.equal(alertOf(action, "resend").fingerprint, quiet.fingerprint);
        }
      }
    }
    assert.equal(resolved, 1);
    assert.deepEqual(
      state.active().map((a) => a.fingerprint),
      [busy.fingerprint],
      "stale state is forgotten",
    );
    assert.equal(state.size, 1);
  });

  test("alert state - memory is bounded by the alerting instances", () => {
    const { clock, state } = setup({ staleAfterMs: 60_000 });
    for (let i = 0; i < 1000; i++) {
      seen(state, makeWindow(i, { agentId: `a${i}` }), i % 10 === 0);
    }
    assert.equal(state.size, 100);
    clock.t += 60_000;
    const actions = state.sweep();
    assert.equal(actions.length, 100);
    assert.ok(actions.every((a) => a.kind === "resolve"));
    assert.equal(state.size, 0);
  });

  test("alert state - returned alerts are copies", () => {
    const { state } = setup();
    const a = alertOf(seen(state, makeWindow(1), true), "fire");
    a.summary = "changed";
    a.explanation.novel.length = 0;
    assert.equal(state.active()[0]?.summary, "a warning thing");
    assert.equal(state.active()[0]?.explanation.novel.length, 1);
  });

  test("alert state - defaults: the wall clock, 10 minutes to go stale", () => {
    const state = new AlertState({ resolveAfterWindows: 1, resendIntervalMs: 3_600_000 });
    const before = Date.now();
    alertOf(seen(state, makeWindow(1), true), "fire");
    assert.deepEqual(state.sweep(), [], "not stale yet");
    const resolved = alertOf(seen(state, makeWindow(2), false), "resolve");
    const endsAt = Date.parse(resolved.endsAt ?? "");
    assert.ok(endsAt >= before && endsAt <= Date.now());
  });

  test("alert state - bad options fail at construction with CONFIG_INVALID", () => {
    const bad: Partial<AlertStateOptions>[] = [
      { resolveAfterWindows: 0 },
      { resolveAfterWindows: 1.5 },
      { resendIntervalMs: 0 },
      { staleAfterMs: -1 },
      { alertname: "" },
    ];
    for (const over of bad) {
      assert.throws(
        () => setup(over),
        (e) => isVigilError(e, ErrorCodes.CONFIG_INVALID),
        JSON.stringify(over),
      );
    }
  });
});
