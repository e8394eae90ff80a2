/** vigil.alert.v1 -> Alertmanager API v2 postable alert; the outbox's retry schedule. */
import assert from "node:assert/strict";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { describe, test } from "node:test";
import { alertSchema } from "../../src/contracts/index.js";
import { isVigilError } from "../../src/errors.js";
import {
  AlertmanagerClient,
  ANNOTATION_MAX_CHARS,
  EXPLANATION_MAX_CHARS,
  explanationText,
  toAlertmanagerAlert,
} from "../../src/scorer/alertmanager.js";
import { backoffMs } from "../../src/scorer/outbox.js";
import { makeAlert } from "../helpers/messages.js";

/** A loopback port nothing listens on: connections to it are refused at once. */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describe("alertmanager payload", () => {
  test("alertmanager - labels identify the instance, annotations carry every detail", () => {
    const a = makeAlert(1);
    assert.ok(alertSchema.safeParse(a).success);
    const am = toAlertmanagerAlert(a);
    assert.deepEqual(am.labels, {
      alertname: "AgentBehaviorAnomaly",
      agent_type: "coding-agent",
      host: "web-1",
      agent_id: "7f3a",
      severity: "critical",
    });
    assert.deepEqual(am.annotations, {
      summary: a.summary,
      explanation: [
        "Top features:",
        "- net.new_destinations: observed 1 vs baseline 0",
        "Never seen in the baseline:",
        "- destination: 127.0.0.1:4444",
      ].join("\n"),
      score: "9.5",
      threshold: "2.1",
      agent_id: "7f3a",
      window_start: a.windowStart,
      window_end: a.windowEnd,
      model_version: "2026-11-25.1",
      fingerprint: a.fingerprint,
    });
    assert.equal(am.startsAt, a.startsAt);
    assert.equal("endsAt" in am, false, "a firing alert has no endsAt");
    for (const name of Object.keys({ ...am.labels, ...am.annotations })) {
      assert.match(name, /^[a-zA-Z_][a-zA-Z0-9_]*$/, "valid Alertmanager label name");
    }
  });

  test("alertmanager - a resolved alert carries endsAt, never before startsAt", () => {
    const a = { ...makeAlert(2), endsAt: "2026-11-25T12:10:00.000Z" };
    assert.equal(toAlertmanagerAlert(a).endsAt, "2026-11-25T12:10:00.000Z");
    const skewed = { ...makeAlert(2), endsAt: "2026-11-25T11:00:00.000Z" };
    assert.equal(toAlertmanagerAlert(skewed).endsAt, skewed.startsAt);
  });

  test("alertmanager - two instances of one type on one host are two alerts", () => {
    const a = toAlertmanagerAlert(makeAlert(1));
    const b = toAlertmanagerAlert({ ...makeAlert(1), agentId: "9b1c" });
    assert.notDeepEqual(a.labels, b.labels);
  });

  test("alertmanager - the explanation lists the top features by contribution, numbers rounded", () => {
    const text = explanationText({
      features: [
        { name: "small", observed: 1, baseline: 1, contribution: 0.01 },
        { name: "files.secret", observed: 3, baseline: 0.123456, contribution: 0.9 },
        { name: "negative", observed: 0, baseline: 40, contribution: -0.5 },
      ],
      novel: [],
    });
    assert.deepEqual(text.split("\n"), [
      "Top features:",
      "- files.secret: observed 3 vs baseline 0.1235",
      "- negative: observed 0 vs baseline 40",
      "- small: observed 1 vs baseline 1",
    ]);
    assert.equal(explanationText({ features: [], novel: [] }), "");
  });

  test("alertmanager - annotations stay bounded whatever the alert holds", () => {
    const huge = "x".repeat(100_000);
    const a = {
      ...makeAlert(3),
      summary: huge,
      modelVersion: huge,
      fingerprint: huge,
      agentId: huge,
      explanation: {
        features: Array.from({ length: 500 }, (_, i) => ({
          name: `${huge}${i}`,
          observed: i,
          baseline: 0,
          contribution: i,
        })),
        novel: Array.from({ length: 500 }, (_, i) => ({ kind: "file", value: `${huge}${i}` })),
      },
    };
    const am = toAlertmanagerAlert(a);
    for (const [k, v] of Object.entries(am.annotations)) {
      const max = k === "explanation" ? EXPLANATION_MAX_CHARS : ANNOTATION_MAX_CHARS;
      assert.ok(v.length <= max, `${k}: ${v.length} chars`);
    }
    assert.ok(am.annotations.summary?.endsWith("…"), "the cut is marked");
    const lines = am.annotations.explanation?.split("\n") ?? [];
    assert.ok(lines.includes("(+495 more)"), "features beyond the top are counted");
    assert.ok(lines.includes("(+490 more)"), "novel items beyond the first are counted");
    assert.ok(lines.every((l) => l.length <= 256));
  });
});

describe("alertmanager client and outbox schedule", () => {
  test("alertmanager - no URL: posting is a no-op", async () => {
    await new AlertmanagerClient({ urls: [], timeoutMs: 100 }).post([
      toAlertmanagerAlert(makeAlert(1)),
    ]);
    assert.deepEqual(new AlertmanagerClient({ urls: [" ", ""], timeoutMs: 100 }).urls, []);
  });

  test("alertmanager - an unreachable URL is named in a VIGIL_ERR_ALERTMANAGER with a hint", async () => {
    const port = await closedPort();
    const client = new AlertmanagerClient({
      urls: [`http://127.0.0.1:${port}/`],
      timeoutMs: 2000,
    });
    await assert.rejects(
      client.post([toAlertmanagerAlert(makeAlert(1))]),
      (e: unknown) =>
        isVigilError(e, "VIGIL_ERR_ALERTMANAGER") &&
        e.message.includes(`http://127.0.0.1:${port}:`) &&
        /ECONNREFUSED/.test(e.message) &&
        /alertmanager\.urls/.test(e.hint ?? ""),
    );
  });

  test("alertmanager - an Alertmanager that does not answer times out", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const { port } = silent.address() as AddressInfo;
    try {
      const client = new AlertmanagerClient({ urls: [`http://127.0.0.1:${port}`], timeoutMs: 150 });
      await assert.rejects(
        client.post([toAlertmanagerAlert(makeAlert(1))]),
        (e: unknown) =>
          isVigilError(e, "VIGIL_ERR_ALERTMANAGER") && /within 150 ms/.test(e.message),
      );
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test("outbox - retries wait 1 s, doubling, up to the cap", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 100].map((n) => backoffMs(n, 30_000)),
      [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
    );
    assert.equal(backoffMs(1, 200), 200);
  });
});
