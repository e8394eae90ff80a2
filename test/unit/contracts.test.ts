import assert from "node:assert/strict";
import { test } from "node:test";
import { connectionOptions, isLoopbackServer } from "../../src/bus/nats-bus.js";
import {
  agentTypeDir,
  alertsSubject,
  DLQ_SUBJECT,
  decodeMessage,
  encodeMessage,
  eventsSubject,
  subjectToken,
  versionDir,
  WINDOW_DROPS,
  windowsFilter,
  windowsSubject,
} from "../../src/contracts/index.js";
import { isVigilError } from "../../src/errors.js";
import { DROP_REASON_NAMES } from "../../src/sensor/wire-layout.js";
import { makeAlert, makeEvent, makeWindow } from "../helpers/messages.js";

test("subjects - outside tokens are reduced to one safe token", () => {
  assert.equal(subjectToken("coding-agent"), "coding-agent");
  assert.equal(subjectToken("a.b"), "a_b");
  assert.equal(subjectToken("*"), "_");
  assert.equal(subjectToken(">"), "_");
  assert.equal(subjectToken("web 1\t"), "web_1_");
  assert.equal(subjectToken(""), "_");
  assert.equal(subjectToken("é"), "_");
  assert.equal(subjectToken("x".repeat(100)).length, 64);
});

test("subjects - versioned layout of every subject", () => {
  assert.equal(windowsSubject("coding-agent", "web-1"), "vigil.v1.windows.coding-agent.web-1");
  assert.equal(
    eventsSubject("exec", "coding-agent", "web-1.example"),
    "vigil.v1.events.exec.coding-agent.web-1_example",
  );
  assert.equal(alertsSubject("coding-agent"), "vigil.v1.alerts.coding-agent");
  assert.equal(windowsFilter(), "vigil.v1.windows.*.*");
  assert.equal(windowsFilter("a.b"), "vigil.v1.windows.a_b.*");
  assert.equal(DLQ_SUBJECT, "vigil.v1.dlq");
  for (const s of [
    windowsSubject("*", ">"),
    eventsSubject(">", "a.b", "*"),
    alertsSubject("x y"),
  ]) {
    assert.doesNotMatch(s, /[*> ]/);
  }
});

test("decode - valid messages of every kind pass", () => {
  for (const [kind, value] of [
    ["window", makeWindow(1)],
    ["event", makeEvent(1)],
    ["alert", makeAlert(1)],
  ] as const) {
    const d = decodeMessage(kind, encodeMessage(value));
    assert.ok(d.ok, kind);
    assert.deepEqual(d.value, value);
  }
});

test("decode - bad messages come back with a closed-set reason, never a throw", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  const r1 = decodeMessage("window", bytes("{nope"));
  assert.deepEqual([r1.ok, !r1.ok && r1.reason], [false, "not_json"]);
  const r2 = decodeMessage("window", new Uint8Array([0xff, 0xfe, 0x7b]));
  assert.deepEqual([r2.ok, !r2.ok && r2.reason], [false, "not_json"]);
  const r3 = decodeMessage(
    "window",
    encodeMessage({ ...makeWindow(1), schema: "vigil.window.v0" }),
  );
  assert.ok(!r3.ok && r3.reason === "schema" && /schema/.test(r3.detail));
  const r4 = decodeMessage("event", encodeMessage({ ...makeEvent(1), kind: "teleport" }));
  assert.ok(!r4.ok && r4.reason === "schema");
  const r5 = decodeMessage("window", encodeMessage(makeWindow(1)), 100);
  assert.ok(!r5.ok && r5.reason === "oversized");
  const r6 = decodeMessage("alert", bytes("null"));
  assert.ok(!r6.ok && r6.reason === "schema");
});

test("nats - loopback servers are recognised", () => {
  for (const s of [
    "nats://127.0.0.1:4222",
    "127.0.0.1:4222",
    "localhost",
    "nats://localhost:1",
    "nats://[::1]:4222",
    "tls://127.0.0.2:4222",
  ]) {
    assert.ok(isLoopbackServer(s), s);
  }
  for (const s of [
    "nats://10.0.0.1:4222",
    "nats://127.0.0.1.evil.com:4222",
    "nats://localhost.evil:4222",
    "nats://example.com",
  ]) {
    assert.ok(!isLoopbackServer(s), s);
  }
});

test("nats - anonymous access to a remote server is refused unless allowed", () => {
  assert.throws(
    () => connectionOptions({ servers: ["nats://nats.internal:4222"] }),
    (e: unknown) => isVigilError(e, "VIGIL_ERR_NATS_INSECURE"),
  );
  assert.doesNotThrow(() =>
    connectionOptions({ servers: ["nats://nats.internal:4222"], allowAnonymous: true }),
  );
  assert.doesNotThrow(() =>
    connectionOptions({ servers: ["nats://nats.internal:4222"], token: "t" }),
  );
  const o = connectionOptions({ servers: ["nats://nats.internal:4222"], user: "u", password: "p" });
  assert.deepEqual([o.user, o.pass], ["u", "p"]);
  assert.throws(
    () =>
      connectionOptions({
        servers: ["nats://nats.internal:4222"],
        credsFile: "/nonexistent.creds",
      }),
    (e: unknown) => isVigilError(e, "VIGIL_ERR_NATS_CONNECT") && /creds/.test(e.hint ?? ""),
  );
});

test("decode - n-grams must be n syscall names and a count", () => {
  const w = makeWindow(1);
  const withNgrams = (ngrams: unknown) =>
    decodeMessage("window", encodeMessage({ ...w, syscalls: { ...w.syscalls, ngrams } }));
  assert.ok(withNgrams([["read", "read", "write", 3]]).ok);
  for (const bad of [
    [["read", "read", 3]],
    [["read", "read", "write", "3"]],
    [["read", "read", "write", -1]],
    [["read", "read", "write", 1.5]],
    [["read", "", "write", 1]],
    [[1, 2, 3, 4]],
    ["read"],
    "x",
  ]) {
    const d = withNgrams(bad);
    assert.ok(!d.ok && d.reason === "schema", JSON.stringify(bad));
  }
});

test("decode - identifiers that could become paths or labels are refused", () => {
  const w = makeWindow(1);
  const window = (o: Record<string, unknown>) =>
    decodeMessage("window", encodeMessage({ ...w, ...o }));
  for (const agentType of [
    "x/../claude-code",
    "../claude-code",
    "Claude",
    "",
    "a".repeat(64),
    "a b",
  ]) {
    const d = window({ agentType });
    assert.ok(!d.ok && d.reason === "schema" && /agentType/.test(d.detail), agentType);
  }
  for (const agentId of ["../x", "", "a\nb", "x".repeat(129)]) {
    assert.ok(!window({ agentId }).ok, agentId);
  }
  assert.ok(!window({ host: "h/../../etc" }).ok);
  const e = makeEvent(1);
  assert.ok(!decodeMessage("event", encodeMessage({ ...e, agentType: "x/../y" })).ok);
  const a = makeAlert(1);
  assert.ok(!decodeMessage("alert", encodeMessage({ ...a, agentType: "x/../y" })).ok);
  assert.ok(!decodeMessage("alert", encodeMessage({ ...a, modelVersion: "../v1" })).ok);
});

test("decode - drops and truncated are closed sets; strings and lists are bounded", () => {
  const w = makeWindow(1);
  const window = (o: Record<string, unknown>) =>
    decodeMessage("window", encodeMessage({ ...w, ...o }));
  assert.ok(window({ drops: { ringbuf_full: 3, helper_restart: 1 } }).ok);
  const d = window({ drops: { [`label_${"x".repeat(20)}`]: 1 } });
  assert.ok(!d.ok && /drops/.test(d.detail));
  assert.ok(!window({ truncated: { anything: 1 } }).ok);
  assert.ok(window({ truncated: { files: 2, ngrams: 1 } }).ok);
  const exec = { path: "/bin/x", argv: [], pid: 1, ppid: 0, uid: 0, count: 1 };
  assert.ok(!window({ execs: [{ ...exec, path: "p".repeat(4097) }] }).ok);
  assert.ok(!window({ execs: [{ ...exec, argv: Array(257).fill("a") }] }).ok);
  assert.ok(window({ execs: [{ ...exec, argv: Array(256).fill("a") }] }).ok);
  // Every loss the kernel reports has a key in the contract.
  for (const r of DROP_REASON_NAMES) assert.ok((WINDOW_DROPS as readonly string[]).includes(r), r);
});

test("paths - only agent types and version names become directory names", () => {
  assert.equal(
    agentTypeDir("/var/lib/vigil/learning", "claude-code"),
    "/var/lib/vigil/learning/claude-code",
  );
  assert.throws(() => agentTypeDir("/m", "x/../claude-code"), /refusing to build a path/);
  assert.throws(() => agentTypeDir("/m", ".."), /refusing/);
  assert.equal(versionDir("/m/t", "2026-12-07T1200Z-2"), "/m/t/2026-12-07T1200Z-2");
  assert.throws(() => versionDir("/m/t", "../../etc"), /refusing/);
});
