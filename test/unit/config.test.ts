import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  CONFIG_ENV_VARS,
  type ConfigInput,
  DEFAULT_CONFIG_FILE,
  type LoadConfigOptions,
  loadConfig,
} from "../../src/config/index.js";
import { ErrorCodes, isVigilError, type VigilError } from "../../src/errors.js";
import { DEFAULT_AGENT_RULES } from "../../src/sensor/rules.js";

const dir = mkdtempSync(join(tmpdir(), "vigil-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function writeConfig(content: unknown): string {
  const file = join(dir, `config-${files++}.json`);
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

/** Never falls back to a real /etc/vigil/config.json on the machine running the tests. */
const noDefault = join(dir, "absent.json");
const load = (opts: LoadConfigOptions = {}) => loadConfig({ defaultFile: noDefault, ...opts });

function invalid(opts: LoadConfigOptions): VigilError {
  try {
    load(opts);
  } catch (e) {
    assert.ok(isVigilError(e, ErrorCodes.CONFIG_INVALID), `expected CONFIG_INVALID, got ${e}`);
    return e;
  }
  assert.fail("expected loadConfig to throw");
}

function fileError(opts: LoadConfigOptions): VigilError {
  try {
    load(opts);
  } catch (e) {
    assert.ok(isVigilError(e, ErrorCodes.CONFIG_FILE), `expected CONFIG_FILE, got ${e}`);
    return e;
  }
  assert.fail("expected loadConfig to throw");
}

const withSensor = (sensor: NonNullable<ConfigInput["sensor"]>): LoadConfigOptions => ({
  flags: { sensor },
});

test("config - defaults with no file, env or flags", () => {
  const c = load();
  assert.equal(c.host, hostname());
  assert.equal(c.dataDir, "/var/lib/vigil");
  assert.equal(c.output, "nats");
  assert.deepEqual(c.log, { level: "info" });
  assert.deepEqual(
    { ...c.sensor, rules: undefined },
    {
      windowSeconds: 5,
      ngram: 3,
      helperPath: "",
      controlSocket: "/run/vigil/sensor.sock",
      controlGroup: "",
      ngramMapEntries: 65536,
      flowMapEntries: 16384,
      ringbufBytes: 4194304,
      reportUntrackedExecs: true,
      workspaces: [],
      privacy: { homes: "auto", extraPatterns: [], disableBuiltins: false },
      secretGlobs: [],
      helperRestart: { initialDelayMs: 200, maxDelayMs: 10000, maxRestartsPerMinute: 10 },
      rules: undefined,
      trustedUids: [],
      maxInstancesPerUid: 64,
    },
  );
  assert.deepEqual(c.sensor.rules, DEFAULT_AGENT_RULES);
  assert.equal(DEFAULT_CONFIG_FILE, "/etc/vigil/config.json");
});

test("config - process.env is never read implicitly", () => {
  process.env.VIGIL_SENSOR_WINDOW_SECONDS = "42";
  try {
    assert.equal(load().sensor.windowSeconds, 5);
  } finally {
    delete process.env.VIGIL_SENSOR_WINDOW_SECONDS;
  }
});

test("config - the default file is read when it exists", () => {
  const file = writeConfig({ dataDir: "/srv/vigil" });
  assert.equal(loadConfig({ defaultFile: file }).dataDir, "/srv/vigil");
});

test("config - file overrides defaults and merges into nested sections", () => {
  const file = writeConfig({
    host: "box-1",
    sensor: { ngram: 2, privacy: { disableBuiltins: true }, workspaces: ["/work"] },
    log: { level: "debug" },
  });
  const c = load({ file });
  assert.equal(c.host, "box-1");
  assert.equal(c.sensor.ngram, 2);
  assert.equal(c.sensor.windowSeconds, 5);
  assert.deepEqual(c.sensor.privacy, { homes: "auto", extraPatterns: [], disableBuiltins: true });
  assert.deepEqual(c.sensor.workspaces, ["/work"]);
  assert.equal(c.log.level, "debug");
});

test("config - env overrides file", () => {
  const file = writeConfig({ sensor: { windowSeconds: 10, ngram: 2 }, log: { level: "debug" } });
  const c = load({
    file,
    env: { VIGIL_SENSOR_WINDOW_SECONDS: "30", VIGIL_LOG_LEVEL: "warn", VIGIL_DATA_DIR: "/d" },
  });
  assert.equal(c.sensor.windowSeconds, 30);
  assert.equal(c.sensor.ngram, 2, "keys env does not name keep the file's value");
  assert.equal(c.log.level, "warn");
  assert.equal(c.dataDir, "/d");
});

test("config - flags override env and file", () => {
  const file = writeConfig({ sensor: { windowSeconds: 10, workspaces: ["/a", "/b"] } });
  const c = load({
    file,
    env: { VIGIL_SENSOR_WINDOW_SECONDS: "30", VIGIL_OUTPUT: "jsonl:/tmp/env.jsonl" },
    flags: { sensor: { windowSeconds: 60, workspaces: ["/c"] } },
  });
  assert.equal(c.sensor.windowSeconds, 60);
  assert.deepEqual(c.sensor.workspaces, ["/c"], "arrays replace, they do not merge");
  assert.equal(c.output, "jsonl:/tmp/env.jsonl");
});

test("config - an undefined flag leaves the lower layers alone", () => {
  const c = load({
    env: { VIGIL_SENSOR_NGRAM: "4" },
    flags: { sensor: { ngram: undefined }, output: undefined },
  });
  assert.equal(c.sensor.ngram, 4);
  assert.equal(c.output, "nats");
});

test("config - env variables map to key paths in upper snake case", () => {
  const byName = new Map(CONFIG_ENV_VARS.map((v) => [v.name, v.path.join(".")]));
  const expected: Record<string, string> = {
    VIGIL_HOST: "host",
    VIGIL_DATA_DIR: "dataDir",
    VIGIL_OUTPUT: "output",
    VIGIL_LOG_LEVEL: "log.level",
    VIGIL_SENSOR_WINDOW_SECONDS: "sensor.windowSeconds",
    VIGIL_SENSOR_NGRAM: "sensor.ngram",
    VIGIL_SENSOR_HELPER_PATH: "sensor.helperPath",
    VIGIL_SENSOR_CONTROL_SOCKET: "sensor.controlSocket",
    VIGIL_SENSOR_CONTROL_GROUP: "sensor.controlGroup",
    VIGIL_SENSOR_NGRAM_MAP_ENTRIES: "sensor.ngramMapEntries",
    VIGIL_SENSOR_FLOW_MAP_ENTRIES: "sensor.flowMapEntries",
    VIGIL_SENSOR_RINGBUF_BYTES: "sensor.ringbufBytes",
    VIGIL_SENSOR_REPORT_UNTRACKED_EXECS: "sensor.reportUntrackedExecs",
    VIGIL_SENSOR_PRIVACY_DISABLE_BUILTINS: "sensor.privacy.disableBuiltins",
    VIGIL_SENSOR_HELPER_RESTART_INITIAL_DELAY_MS: "sensor.helperRestart.initialDelayMs",
    VIGIL_SENSOR_HELPER_RESTART_MAX_DELAY_MS: "sensor.helperRestart.maxDelayMs",
    VIGIL_SENSOR_HELPER_RESTART_MAX_RESTARTS_PER_MINUTE:
      "sensor.helperRestart.maxRestartsPerMinute",
    VIGIL_SENSOR_MAX_INSTANCES_PER_UID: "sensor.maxInstancesPerUid",
    VIGIL_NATS_URL: "nats.url",
    VIGIL_NATS_USER: "nats.user",
    VIGIL_NATS_PASSWORD: "nats.password",
    VIGIL_NATS_TOKEN: "nats.token",
    VIGIL_NATS_CREDS_FILE: "nats.credsFile",
    VIGIL_NATS_TLS_CA_FILE: "nats.tls.caFile",
    VIGIL_NATS_TLS_CERT_FILE: "nats.tls.certFile",
    VIGIL_NATS_TLS_KEY_FILE: "nats.tls.keyFile",
    VIGIL_NATS_ALLOW_ANONYMOUS: "nats.allowAnonymous",
    VIGIL_NATS_EMBEDDED_BINARY: "nats.embedded.binary",
    VIGIL_NATS_EMBEDDED_MAX_PAYLOAD: "nats.embedded.maxPayload",
    VIGIL_NATS_MAX_MESSAGE_BYTES: "nats.maxMessageBytes",
    VIGIL_NATS_BUFFER_MAX_WINDOWS: "nats.buffer.maxWindows",
    VIGIL_NATS_BUFFER_MAX_BYTES: "nats.buffer.maxBytes",
    VIGIL_NATS_STREAMS_WINDOWS_MAX_AGE_SECONDS: "nats.streams.windowsMaxAgeSeconds",
    VIGIL_NATS_STREAMS_WINDOWS_MAX_BYTES: "nats.streams.windowsMaxBytes",
    VIGIL_NATS_STREAMS_EVENTS_MAX_AGE_SECONDS: "nats.streams.eventsMaxAgeSeconds",
    VIGIL_NATS_STREAMS_EVENTS_MAX_BYTES: "nats.streams.eventsMaxBytes",
    VIGIL_NATS_STREAMS_ALERTS_MAX_AGE_SECONDS: "nats.streams.alertsMaxAgeSeconds",
    VIGIL_NATS_STREAMS_ALERTS_MAX_BYTES: "nats.streams.alertsMaxBytes",
    VIGIL_NATS_STREAMS_DLQ_MAX_AGE_SECONDS: "nats.streams.dlqMaxAgeSeconds",
    VIGIL_NATS_STREAMS_DLQ_MAX_BYTES: "nats.streams.dlqMaxBytes",
    VIGIL_SCORER_MODELS_DIR: "scorer.modelsDir",
    VIGIL_SCORER_DURABLE: "scorer.durable",
    VIGIL_SCORER_SAMPLING_DEFAULT_RATE: "scorer.sampling.defaultRate",
    VIGIL_SCORER_BATCH_MAX_WINDOWS: "scorer.batch.maxWindows",
    VIGIL_SCORER_BATCH_MAX_DELAY_MS: "scorer.batch.maxDelayMs",
    VIGIL_SCORER_ALERTMANAGER_URLS: "scorer.alertmanager.urls",
    VIGIL_SCORER_ALERTMANAGER_TIMEOUT_MS: "scorer.alertmanager.timeoutMs",
    VIGIL_SCORER_ALERTMANAGER_MAX_BACKOFF_MS: "scorer.alertmanager.maxBackoffMs",
    VIGIL_SCORER_ALERTS_RESOLVE_AFTER_WINDOWS: "scorer.alerts.resolveAfterWindows",
    VIGIL_SCORER_ALERTS_RESEND_INTERVAL_SECONDS: "scorer.alerts.resendIntervalSeconds",
    VIGIL_SCORER_ALERTS_RISKY_NOVELTY: "scorer.alerts.riskyNovelty",
    VIGIL_SCORER_HTTP_LISTEN: "scorer.http.listen",
    VIGIL_SCORER_LEARNING_ENABLED: "scorer.learning.enabled",
    VIGIL_SCORER_LEARNING_MIN_WINDOWS: "scorer.learning.minWindows",
    VIGIL_SCORER_LEARNING_MIN_DURATION_SECONDS: "scorer.learning.minDurationSeconds",
    VIGIL_SCORER_RELOAD_INTERVAL_MS: "scorer.reloadIntervalMs",
  };
  assert.deepEqual(Object.fromEntries(byName), expected);
  assert.equal(byName.size, CONFIG_ENV_VARS.length, "names are unique");
});

test("config - every env variable reaches its key", () => {
  const special: Record<string, string> = {
    VIGIL_LOG_LEVEL: "error",
    VIGIL_OUTPUT: "jsonl:/o",
    VIGIL_SENSOR_RINGBUF_BYTES: "8192",
    VIGIL_SCORER_DURABLE: "scorer-2",
    VIGIL_SCORER_SAMPLING_DEFAULT_RATE: "0.5",
    VIGIL_SCORER_ALERTMANAGER_URLS: "http://127.0.0.1:9093,http://127.0.0.1:9094",
    VIGIL_SCORER_ALERTMANAGER_TIMEOUT_MS: "2000",
    VIGIL_SCORER_ALERTMANAGER_MAX_BACKOFF_MS: "30000",
    VIGIL_SCORER_HTTP_LISTEN: "127.0.0.1:9999",
    VIGIL_SCORER_LEARNING_MIN_WINDOWS: "100",
    VIGIL_SCORER_RELOAD_INTERVAL_MS: "1000",
    VIGIL_SENSOR_CONTROL_GROUP: "vigil",
  };
  const sample = { string: "/x/y", number: "4", boolean: "false" } as const;
  // NATS sizes and ages have higher minimums than the sample number.
  const natsNumber = (name: string, kind: string) =>
    name.startsWith("VIGIL_NATS_") && kind === "number" ? "1048576" : undefined;
  const env = Object.fromEntries(
    CONFIG_ENV_VARS.map((v) => [
      v.name,
      special[v.name] ?? natsNumber(v.name, v.kind) ?? sample[v.kind],
    ]),
  );
  const c = load({ env });
  for (const v of CONFIG_ENV_VARS) {
    const got = v.path.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], c);
    const raw = env[v.name];
    const want = v.kind === "number" ? Number(raw) : v.kind === "boolean" ? false : raw;
    assert.equal(got, want, v.name);
  }
});

test("config - env booleans and numbers are parsed per schema type", () => {
  for (const [raw, want] of [
    ["true", true],
    ["TRUE", true],
    ["1", true],
    ["false", false],
    ["False", false],
    ["0", false],
  ] as const) {
    const c = load({ env: { VIGIL_SENSOR_REPORT_UNTRACKED_EXECS: raw } });
    assert.equal(c.sensor.reportUntrackedExecs, want, raw);
  }
  const c = load({ env: { VIGIL_SENSOR_RINGBUF_BYTES: "8192", VIGIL_HOST: "123" } });
  assert.equal(c.sensor.ringbufBytes, 8192);
  assert.equal(c.host, "123", "strings stay strings even when numeric");
});

test("config - an env value that does not parse is reported with the variable name", () => {
  const e = invalid({
    env: { VIGIL_SENSOR_WINDOW_SECONDS: "5s", VIGIL_SENSOR_REPORT_UNTRACKED_EXECS: "yes please" },
  });
  assert.match(e.message, /sensor\.windowSeconds: .*VIGIL_SENSOR_WINDOW_SECONDS/);
  assert.match(e.message, /sensor\.reportUntrackedExecs: .*VIGIL_SENSOR_REPORT_UNTRACKED_EXECS/);
  assert.match(e.message, /2 problems/);
});

test("config - VIGIL_CONFIG names the file, and file option wins over it", () => {
  const envFile = writeConfig({ host: "from-env-file" });
  const optFile = writeConfig({ host: "from-option" });
  assert.equal(load({ env: { VIGIL_CONFIG: envFile } }).host, "from-env-file");
  assert.equal(load({ env: { VIGIL_CONFIG: envFile }, file: optFile }).host, "from-option");
  const e = fileError({ env: { VIGIL_CONFIG: join(dir, "gone.json") } });
  assert.match(e.message, /gone\.json/);
});

test("config - a missing explicit file is CONFIG_FILE naming the file", () => {
  const missing = join(dir, "missing.json");
  const e = fileError({ file: missing });
  assert.ok(e.message.includes(missing));
  assert.ok(e.hint);
});

test("config - an unreadable file is CONFIG_FILE", () => {
  const e = fileError({ file: dir });
  assert.ok(e.message.includes(dir));
});

test("config - malformed JSON is CONFIG_FILE with the position", () => {
  const cases: [string, string][] = [
    ['{"a": tru}', "line 1, column 7 (position 6)"],
    ['{"a": 1,}', "line 1, column 9 (position 8)"],
    ['{"a": }', "line 1, column 7 (position 6)"],
    ['{\n  "sensor": {\n    "ngram": 3\n    "x": 1\n  }\n}', "line 4, column 5 (position 35)"],
    ['{"a": 1', "line 1, column 8 (position 7)"],
    ["", "line 1, column 1 (position 0)"],
    ['{"a": 1} x', "line 1, column 10 (position 9)"],
    ['{"a": "x\ny"}', "line 1, column 9 (position 8)"],
    ['{"a": "\\q"}', "line 1, column 8 (position 7)"],
    ['{"a": [1 2]}', "line 1, column 10 (position 9)"],
    ['{"a": 01}', "line 1, column 8 (position 7)"],
    ["// comment\n{}", "line 1, column 1 (position 0)"],
  ];
  for (const [text, where] of cases) {
    const file = writeConfig(text);
    const e = fileError({ file });
    assert.ok(e.message.includes(file), e.message);
    assert.ok(e.message.includes(where), `${JSON.stringify(text)}: ${e.message}`);
  }
});

test("config - a UTF-8 byte order mark is tolerated", () => {
  const file = writeConfig(`\uFEFF${JSON.stringify({ host: "bom" })}`);
  assert.equal(load({ file }).host, "bom");
});

test("config - a JSON file that is not an object is CONFIG_INVALID", () => {
  for (const content of ["[]", "42", '"x"', "null"]) {
    const file = writeConfig(content);
    const e = invalid({ file, env: { VIGIL_HOST: "h" } });
    assert.ok(e.message.includes(file), e.message);
    assert.match(e.message, /expected a JSON object/);
  }
});

test("config - every invalid value is listed with its path and expectation", () => {
  const file = writeConfig({
    dataDir: "relative/dir",
    output: "file:/x",
    log: { level: "loud" },
    sensor: {
      windowSeconds: 0,
      ngram: 5,
      ringbufBytes: 5000,
      controlSocket: "sock",
      privacy: { homes: "none" },
      helperRestart: { maxRestartsPerMinute: 0 },
    },
  });
  const e = invalid({ file });
  const expectations: [string, RegExp][] = [
    ["dataDir", /absolute path/],
    ["output", /jsonl:-/],
    ["log.level", /"debug", "info", "warn", "error"/],
    ["sensor.windowSeconds", /integer from 1 to 3600, got 0/],
    ["sensor.ngram", /integer from 1 to 4, got 5/],
    ["sensor.ringbufBytes", /power of two/],
    ["sensor.controlSocket", /absolute path/],
    ["sensor.privacy.homes", /"auto" or an array/],
    ["sensor.helperRestart.maxRestartsPerMinute", /integer from 1 to 1000/],
  ];
  for (const [path, expectation] of expectations) {
    const line = e.message.split("\n").find((l) => l.startsWith(`  - ${path}: `));
    assert.ok(line, `${path} is listed in:\n${e.message}`);
    assert.match(line, expectation);
    assert.ok(line.includes(`(from file ${file})`), line);
  }
  assert.match(e.message, /9 problems/);
});

test("config - numeric bounds", () => {
  for (const windowSeconds of [1, 3600]) {
    assert.equal(load(withSensor({ windowSeconds })).sensor.windowSeconds, windowSeconds);
  }
  for (const windowSeconds of [0, 3601, 2.5, -1]) invalid(withSensor({ windowSeconds }));
  for (const ngram of [1, 4]) assert.equal(load(withSensor({ ngram })).sensor.ngram, ngram);
  for (const ngram of [0, 5]) invalid(withSensor({ ngram }));
  invalid(withSensor({ ngramMapEntries: 0 }));
  invalid(withSensor({ flowMapEntries: 1.5 }));
});

test("config - ringbufBytes must be a power of two of at least 4096", () => {
  for (const ringbufBytes of [4096, 8192, 2 ** 20, 2 ** 30]) {
    assert.equal(load(withSensor({ ringbufBytes })).sensor.ringbufBytes, ringbufBytes);
  }
  for (const ringbufBytes of [0, 2048, 5000, 4096 * 3, 2 ** 31, 4096.5]) {
    const e = invalid(withSensor({ ringbufBytes }));
    assert.match(e.message, /sensor\.ringbufBytes: expected a power of two/);
  }
});

test("config - helper restart delays must be ordered", () => {
  const e = invalid(withSensor({ helperRestart: { initialDelayMs: 5000, maxDelayMs: 1000 } }));
  assert.match(
    e.message,
    /sensor\.helperRestart\.maxDelayMs: expected maxDelayMs >= initialDelayMs/,
  );
});

test("config - privacy homes is auto or a list of paths", () => {
  const c = load(withSensor({ privacy: { homes: ["/home/a", "/srv/b"] } }));
  assert.deepEqual(c.sensor.privacy.homes, ["/home/a", "/srv/b"]);
  invalid(withSensor({ privacy: { homes: [""] } }));
});

test("config - output is jsonl:- or jsonl:<path>", () => {
  assert.equal(
    load({ flags: { output: "jsonl:/var/log/w.jsonl" } }).output,
    "jsonl:/var/log/w.jsonl",
  );
  for (const output of ["jsonl:", "stdout", "", "nats:x"]) invalid({ flags: { output } });
});

test("config - unknown keys are rejected with the allowed keys", () => {
  const file = writeConfig({ sensor: { windowSecond: 5 }, extra: true });
  const e = invalid({ file });
  assert.match(e.message, /sensor\.windowSecond: unknown key \(expected one of: windowSeconds, /);
  assert.match(
    e.message,
    / {2}- extra: unknown key \(expected one of: host, dataDir, sensor, output, nats, scorer, log\)/,
  );
});

test("config - a __proto__ key is rejected and pollutes nothing", () => {
  const file = writeConfig(
    '{"__proto__": {"polluted": true}, "sensor": {"__proto__": {"ngram": 4}}}',
  );
  const e = invalid({ file });
  assert.match(e.message, /__proto__: unknown key/);
  assert.match(e.message, /sensor\.__proto__: unknown key/);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("config - extraRules are appended after the rules", () => {
  const extra = { agentType: "in-house", comm: "helper" };
  const c = load(withSensor({ extraRules: [extra] }));
  assert.deepEqual(c.sensor.rules, [...DEFAULT_AGENT_RULES, extra]);
  assert.ok(!("extraRules" in c.sensor), "only the effective list is exposed");

  const replaced = load(
    withSensor({ rules: [{ agentType: "only", exe: "/opt/only" }], extraRules: [extra] }),
  );
  assert.deepEqual(replaced.sensor.rules, [{ agentType: "only", exe: "/opt/only" }, extra]);
});

test("config - rules leave absent matchers absent", () => {
  const c = load(withSensor({ rules: [{ agentType: "a", comm: "a", exe: undefined }] }));
  assert.deepEqual(Object.keys(c.sensor.rules[0] ?? {}), ["agentType", "comm"]);
});

test("config - rules are validated", () => {
  const cases: [unknown, RegExp][] = [
    [{ agentType: "a" }, /\[0\]: expected at least one matcher: comm, exe, script, argv, cgroup/],
    [
      { agentType: "a", exe: "/x", owner: "root" },
      /\[0\]\.owner: expected one of "trusted", "any"/,
    ],
    [{ agentType: "a", comm: "c", owner: "any" }, /\[0\]\.owner: owner applies to exe and script/],
    [{ agentType: "a", script: "" }, /\[0\]\.script: expected a non-empty string/],
    [{ agentType: "Claude", comm: "c" }, /\[0\]\.agentType: expected an agent type/],
    [{ agentType: "-x", comm: "c" }, /\[0\]\.agentType/],
    [{ agentType: "a".repeat(64), comm: "c" }, /\[0\]\.agentType/],
    [{ agentType: "a", comm: "sixteen-chars-xx" }, /\[0\]\.comm: expected at most 15 bytes/],
    [{ agentType: "a", comm: "" }, /\[0\]\.comm/],
    [{ agentType: "a", argv: "([" }, /\[0\]\.argv: not a linear-time \(RE2\) regular expression/],
    [
      { agentType: "a", argv: "(a)\\1" },
      /\[0\]\.argv: not a linear-time .*backreferences \(\\1, \\k<name>\) are not supported/,
    ],
    [
      { agentType: "a", argv: "x(?=y)" },
      /\[0\]\.argv: .*lookahead \(\(\?= and \(\?!\) is not supported/,
    ],
    [{ agentType: "a", exe: "" }, /\[0\]\.exe: expected a non-empty string/],
    [{ agentType: "a", comm: "c", pid: 1 }, /\[0\]\.pid: unknown key/],
    [{ comm: "c" }, /\[0\]\.agentType: required/],
  ];
  for (const [rule, message] of cases) {
    const e = invalid({ file: writeConfig({ sensor: { extraRules: [rule] } }) });
    assert.match(e.message, new RegExp(`sensor\\.extraRules${message.source}`), e.message);
  }
  assert.equal(
    load(withSensor({ rules: [{ agentType: "a".repeat(63), comm: "fifteen-chars-x" }] })).sensor
      .rules[0]?.comm,
    "fifteen-chars-x",
  );
});

test("config - trusted uids, the per-uid cap and the learning uids are validated", () => {
  const c = load(withSensor({ trustedUids: [1000], maxInstancesPerUid: 8 }));
  assert.deepEqual(c.sensor.trustedUids, [1000]);
  assert.equal(c.sensor.maxInstancesPerUid, 8);
  assert.equal(c.scorer.learning.uids, "trusted");
  assert.deepEqual(
    load({ flags: { scorer: { learning: { uids: [0, 1001] } } } }).scorer.learning.uids,
    [0, 1001],
  );
  for (const [input, message] of [
    [{ sensor: { trustedUids: [-1] } }, /sensor\.trustedUids\[0\]: expected an integer from 0/],
    [{ sensor: { trustedUids: "1000" } }, /sensor\.trustedUids/],
    [
      { sensor: { maxInstancesPerUid: 0 } },
      /sensor\.maxInstancesPerUid: expected an integer from 1/,
    ],
    [
      { scorer: { learning: { uids: "all" } } },
      /scorer\.learning\.uids: expected "trusted" or an array of uids/,
    ],
  ] as const) {
    const e = invalid({ file: writeConfig(input) });
    assert.match(e.message, message, e.message);
  }
  assert.equal(
    load({ env: { VIGIL_SENSOR_MAX_INSTANCES_PER_UID: "3" } }).sensor.maxInstancesPerUid,
    3,
  );
});

test("config - operator regexes must be linear-time: the key and the fix are named", () => {
  const e = invalid({
    file: writeConfig({
      sensor: { privacy: { extraPatterns: ["corp-[a-z]{8}", "(?<!x)secret"] } },
    }),
  });
  assert.match(
    e.message,
    /sensor\.privacy\.extraPatterns\[1\]: not a linear-time \(RE2\) regular expression: .*lookbehind \(\(\?<= and \(\?<!\) is not supported: include the preceding text in the match/,
    e.message,
  );
  assert.doesNotMatch(e.message, /extraPatterns\[0\]/);
  assert.deepEqual(
    load(withSensor({ privacy: { extraPatterns: ["(?i)corp-[a-z]{8}"] } })).sensor.privacy
      .extraPatterns,
    ["(?i)corp-[a-z]{8}"],
  );
});

test("config - the result is deep-frozen", () => {
  const c = load(withSensor({ extraRules: [{ agentType: "x", comm: "x" }] }));
  for (const v of [
    c,
    c.sensor,
    c.sensor.privacy,
    c.sensor.helperRestart,
    c.sensor.rules,
    c.sensor.rules[0],
    c.sensor.workspaces,
    c.log,
  ]) {
    assert.ok(Object.isFrozen(v));
  }
  assert.throws(() => {
    (c.sensor as { windowSeconds: number }).windowSeconds = 1;
  }, TypeError);
  assert.throws(() => {
    (c.sensor.rules as unknown[]).push({});
  }, TypeError);
});

test("config - loading twice gives independent results", () => {
  const a = load(withSensor({ workspaces: ["/a"] }));
  const b = load();
  assert.deepEqual(b.sensor.workspaces, []);
  assert.deepEqual(a.sensor.workspaces, ["/a"]);
  assert.notEqual(a.sensor.rules, b.sensor.rules);
});
