/**
 * The files in deploy/ are checked for real: the Prometheus rules by promtool and the
 * Alertmanager configuration by amtool when they are installed (with a minimal structural
 * check of the rules when promtool is not), and every metric name the rules and the Grafana
 * dashboard use against the metrics src/telemetry/metrics.ts actually creates.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Registry } from "prom-client";
import {
  createBusMetrics,
  createScorerMetrics,
  createSensorMetrics,
} from "../../src/telemetry/metrics.js";

const ROOT = join(import.meta.dirname, "..", "..");
const DEPLOY = join(ROOT, "deploy");
const RULES = join(DEPLOY, "prometheus", "vigil-rules.yml");
const ROUTE = join(DEPLOY, "alertmanager", "vigil-route.yml");
const DASHBOARD = join(DEPLOY, "grafana", "vigil-dashboard.json");
const read = (path: string): string => readFileSync(path, "utf8");

/** Series names Vigil exports: histograms as their _bucket/_sum/_count series. */
async function exportedSeries(): Promise<Set<string>> {
  const registry = new Registry();
  createSensorMetrics(registry);
  createBusMetrics(registry);
  createScorerMetrics(registry);
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    if (String(m.type) === "histogram") {
      for (const suffix of ["_bucket", "_sum", "_count"]) names.add(m.name + suffix);
    } else names.add(m.name);
  }
  return names;
}

/** Prometheus's own series a rule may use. */
const PROMETHEUS_SERIES = new Set(["up"]);
const PROMQL_KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "offset",
  "bool",
  "atan2",
  "inf",
  "nan",
]);

/** The metric names a PromQL expression selects (not functions, labels, keywords, numbers). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names: string[] = [];
  for (const m of bare.matchAll(/(?<![\w.$])([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (name === undefined || call !== undefined || PROMQL_KEYWORDS.has(name)) continue;
    names.push(name);
  }
  return names;
}

interface Rule {
  kind: "alert" | "record";
  name: string;
  expr: string;
  body: string;
}

/** Just enough YAML for this rules file: each `- alert:` / `- record:` item and its expr. */
function parseRules(text: string): Rule[] {
  const lines = text.split("\n");
  const rules: Rule[] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^(\s*)- (alert|record): (\S+)\s*$/.exec(lines[i] ?? "");
    if (head === null) continue;
    const itemIndent = (head[1] ?? "").length;
    let end = i + 1;
    while (end < lines.length) {
      const line = lines[end] ?? "";
      if (line.trim() !== "" && line.search(/\S/) <= itemIndent) break;
      end++;
    }
    const body = lines.slice(i, end);
    const at = body.findIndex((l) => /^\s+expr:/.test(l));
    assert.ok(at > 0, `rule ${head[3]} has an expr`);
    const exprLine = body[at] ?? "";
    const inline = exprLine.replace(/^\s+expr:\s*/, "");
    let expr = inline;
    if (/^[|>]-?$/.test(inline)) {
      const keyIndent = exprLine.search(/\S/);
      const block: string[] = [];
      for (const l of body.slice(at + 1)) {
        if (l.trim() !== "" && l.search(/\S/) <= keyIndent) break;
        block.push(l.trim());
      }
      expr = block.join(" ").trim();
    }
    rules.push({
      kind: head[2] as Rule["kind"],
      name: head[3] ?? "",
      expr,
      body: body.join("\n"),
    });
  }
  return rules;
}

/** The fallback syntax check when promtool is missing: (), {} and [] nest properly. */
function balanced(expr: string): boolean {
  const open: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "}": "{", "]": "[" };
  for (const c of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if (c === "(" || c === "{" || c === "[") open.push(c);
    else if (c in pairs && open.pop() !== pairs[c]) return false;
  }
  return expr.trim() !== "" && open.length === 0;
}

function tool(name: string): boolean {
  return spawnSync(name, ["--version"], { encoding: "utf8" }).error === undefined;
}

function run(cmd: string, args: string[]): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", cwd: ROOT });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** promtool check rules on a rules file written from PromQL expressions. */
function promtoolCheckExprs(exprs: readonly string[]): { code: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "vigil-deploy-"));
  try {
    const file = join(dir, "exprs.yml");
    const rules = exprs.map(
      (e, i) => `      - record: vigil:dashboard_${i}\n        expr: ${JSON.stringify(e)}\n`,
    );
    writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join("")}`);
    return run("promtool", ["check", "rules", file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("metricNames", () => {
  test("metricNames - finds selectors, not functions, labels, keywords or durations", () => {
    const expr =
      'histogram_quantile(0.99, sum by (family, le) (rate(a_bucket{x=~"y"}[$__rate_interval])))' +
      " and on (agent_type) increase(b_total[6h] offset 30m) > 0 unless vigil:rec";
    assert.deepEqual(metricNames(expr), ["a_bucket", "b_total", "vigil:rec"]);
  });

  test("balanced - the fallback check catches a missing bracket", () => {
    assert.ok(balanced('sum(rate(a{b="(]"}[5m]))'));
    assert.ok(!balanced("sum(rate(a[5m])"));
    assert.ok(!balanced("sum(rate(a[5m)])"));
  });

  test("metricNames - an unknown metric is caught against the exported set", async () => {
    const known = await exportedSeries();
    assert.ok(known.has("vigil_scorer_inference_seconds_bucket"));
    assert.ok(known.has("vigil_scorer_windows_received_total"));
    const unknown = metricNames("rate(vigil_scorer_windows_recieved_total[5m])");
    assert.deepEqual(
      unknown.filter((n) => !known.has(n)),
      ["vigil_scorer_windows_recieved_total"],
    );
  });
});

describe("deploy/prometheus/vigil-rules.yml", () => {
  const text = read(RULES);
  const rules = parseRules(text);
  const alerts = rules.filter((r) => r.kind === "alert");

  test("rules - promtool check rules accepts the file (or the minimal structure check)", (t) => {
    if (tool("promtool")) {
      const r = run("promtool", ["check", "rules", RULES]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`SUCCESS: ${rules.length} rules found`));
      return;
    }
    t.diagnostic("promtool not installed: structure checked by the minimal parser only");
    assert.match(text, /^groups:\n/m);
    assert.doesNotMatch(text, /\t/, "YAML must be indented with spaces");
    assert.equal((text.match(/^\s+- name: /gm) ?? []).length, 2);
    for (const r of rules) assert.ok(balanced(r.expr), `${r.name}: unbalanced brackets`);
  });

  test("rules - every expression selects only metrics Vigil exports or rules record", async () => {
    const known = await exportedSeries();
    for (const r of rules) if (r.kind === "record") known.add(r.name);
    for (const r of rules) {
      const names = metricNames(r.expr);
      assert.ok(names.length > 0, `${r.name}: no metric found in ${r.expr}`);
      for (const n of names) {
        assert.ok(known.has(n) || PROMETHEUS_SERIES.has(n), `${r.name}: unknown metric ${n}`);
      }
    }
  });

  test("rules - every alert has a severity, a summary and a description", () => {
    assert.ok(alerts.length >= 8);
    for (const a of alerts) {
      assert.match(a.body, /\n\s+severity: (info|warning|critical)\n/, `${a.name}: severity`);
      assert.match(a.body, /\n\s+summary: \S/, `${a.name}: summary`);
      assert.match(a.body, /\n\s+description: \S/, `${a.name}: description`);
    }
    assert.equal(new Set(alerts.map((a) => a.name)).size, alerts.length, "alert names unique");
  });

  test("rules - the required conditions are covered", () => {
    const find = (re: RegExp): Rule => {
      const r = alerts.find((a) => re.test(a.expr));
      assert.ok(r, `no alert matches ${re}`);
      return r;
    };
    find(/^up\{job=~"vigil\.\*"\} == 0$/);
    find(/^absent\(up\{/);
    assert.match(find(/vigil_scorer_model_status\{state="broken"\} == 1/).body, /for: 10m/);
    find(/vigil_scorer_alertmanager_deliveries_total\{result="error"\}/);
    find(/vigil_scorer_outbox_depth/);
    find(/vigil_bus_connected == 0/);
    find(/vigil_scorer_sensor_drops_total/);
    find(/vigil_sensor_helper_restarts_total/);
    find(/vigil_scorer_windows_received_total\[30m\]\)\) == 0/);
  });
});

describe("deploy/alertmanager/vigil-route.yml", () => {
  const text = read(ROUTE);

  test("alertmanager - amtool check-config accepts the file", (t) => {
    if (!tool("amtool")) return t.skip("amtool not installed (Debian: prometheus-alertmanager)");
    const r = run("amtool", ["check-config", ROUTE]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /SUCCESS/);
    assert.match(r.out, /3 inhibit rules/);
  });

  test("alertmanager - amtool routes each severity to its receiver", (t) => {
    if (!tool("amtool")) return t.skip("amtool not installed (Debian: prometheus-alertmanager)");
    const cases: [string[], string][] = [
      [
        ["alertname=AgentBehaviorAnomaly", "severity=critical", "agent_type=a", "host=h"],
        "oncall-pager",
      ],
      [["alertname=AgentBehaviorAnomaly", "severity=warning", "agent_type=a"], "oncall-chat"],
      [["alertname=AgentBehaviorAnomaly", "severity=info"], "oncall-chat"],
      [["alertname=VigilDown", "severity=critical"], "oncall-pager"],
      [["alertname=VigilNoWindows", "severity=warning"], "ops-chat"],
    ];
    for (const [labels, receiver] of cases) {
      const r = run("amtool", ["config", "routes", "test", `--config.file=${ROUTE}`, ...labels]);
      assert.equal(r.code, 0, r.out);
      assert.equal(
        r.out
          .split("\n")[0]
          ?.replace(/Warning:.*$/, "")
          .trim(),
        receiver,
        labels.join(),
      );
    }
  });

  test("alertmanager - groups by agent_type and host; critical inhibits warning per agent_id", () => {
    assert.match(text, /group_by: \[alertname, agent_type, host\]/);
    assert.match(
      text,
      /source_matchers: \['alertname="AgentBehaviorAnomaly"', 'severity="critical"'\]\n\s+target_matchers: \['alertname="AgentBehaviorAnomaly"', 'severity=~"warning\|info"'\]\n\s+equal: \[agent_id\]/,
    );
    // group_interval above the scorer's 60 s re-send; repeat far above it.
    assert.match(text, /group_interval: 2m/);
    assert.match(text, /resolve_timeout: 5m/);
  });

  test("alertmanager - webhooks point only at loopback or example.invalid", () => {
    const urls = text.match(/https?:\/\/[^\s'"]+/g) ?? [];
    assert.ok(urls.length >= 3);
    for (const u of urls) {
      const host = new URL(u).hostname;
      assert.ok(host === "127.0.0.1" || host.endsWith("example.invalid"), u);
    }
  });
});

describe("deploy/grafana/vigil-dashboard.json", () => {
  interface Target {
    expr?: string;
    datasource?: { type?: string; uid?: string };
  }
  interface Panel {
    id: number;
    type: string;
    title: string;
    datasource?: { type?: string; uid?: string };
    gridPos: { x: number; y: number; w: number; h: number };
    targets?: Target[];
  }
  const dash = JSON.parse(read(DASHBOARD)) as {
    schemaVersion: number;
    uid: string;
    templating: { list: { name: string; type: string; query: unknown }[] };
    panels: Panel[];
  };
  const panels = dash.panels.filter((p) => p.type !== "row");
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ""));
  const asPromql = (e: string): string =>
    e.replaceAll("$__rate_interval", "5m").replaceAll("$agent_type", ".*");

  test("dashboard - schema, variables and data source", () => {
    assert.ok(dash.schemaVersion >= 36 && dash.schemaVersion <= 41, String(dash.schemaVersion));
    const ds = dash.templating.list.find((v) => v.name === "DS_PROMETHEUS");
    assert.deepEqual([ds?.type, ds?.query], ["datasource", "prometheus"]);
    const agentType = dash.templating.list.find((v) => v.name === "agent_type");
    assert.equal(agentType?.type, "query");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax
    const uid = "${DS_PROMETHEUS}";
    for (const p of panels) {
      assert.equal(p.datasource?.uid, uid, p.title);
      for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, uid, p.title);
    }
  });

  test("dashboard - every expression selects only metrics Vigil exports", async () => {
    const known = await exportedSeries();
    assert.ok(exprs.length >= 20);
    for (const e of exprs) {
      const names = metricNames(e);
      assert.ok(names.length > 0, `no metric in ${e}`);
      for (const n of names) assert.ok(known.has(n), `unknown metric ${n} in ${e}`);
    }
  });

  test("dashboard - promtool parses every expression (or the bracket check)", (t) => {
    if (tool("promtool")) {
      const r = promtoolCheckExprs(exprs.map(asPromql));
      assert.equal(r.code, 0, r.out);
      return;
    }
    t.diagnostic("promtool not installed: expressions checked for balanced brackets only");
    for (const e of exprs) assert.ok(balanced(e), `unbalanced brackets in ${e}`);
  });

  test("dashboard - covers the pipeline", () => {
    const used = new Set(exprs.flatMap(metricNames));
    for (const m of [
      "vigil_scorer_windows_received_total",
      "vigil_scorer_windows_scored_total",
      "vigil_scorer_windows_skipped_total",
      "vigil_scorer_score_ratio_bucket",
      "vigil_scorer_alerts_total",
      "vigil_scorer_alerts_suppressed_total",
      "vigil_scorer_model_status",
      "vigil_scorer_inference_seconds_bucket",
      "vigil_scorer_outbox_depth",
      "vigil_scorer_alertmanager_deliveries_total",
      "vigil_scorer_sensor_drops_total",
      "vigil_bus_connected",
    ]) {
      assert.ok(used.has(m), `dashboard does not show ${m}`);
    }
  });

  test("dashboard - panel ids unique, panels inside 24 columns and not overlapping", () => {
    assert.equal(new Set(dash.panels.map((p) => p.id)).size, dash.panels.length);
    const cells = new Set<string>();
    for (const p of dash.panels) {
      const { x, y, w, h } = p.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24, p.title);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          assert.ok(!cells.has(`${i},${j}`), `${p.title} overlaps at ${i},${j}`);
          cells.add(`${i},${j}`);
        }
      }
    }
  });
});

/** systemd directives these units may use, per section (systemd-analyze is not available). */
const UNIT_KEYS: Record<string, readonly string[]> = {
  Unit: [
    "Description",
    "Documentation",
    "Wants",
    "Requires",
    "After",
    "Before",
    "StartLimitIntervalSec",
    "StartLimitBurst",
  ],
  Service: [
    "Type",
    "User",
    "Group",
    "WorkingDirectory",
    "Environment",
    "EnvironmentFile",
    "ExecStart",
    "KillSignal",
    "TimeoutStopSec",
    "Restart",
    "RestartSec",
    "StateDirectory",
    "StateDirectoryMode",
    "RuntimeDirectory",
    "RuntimeDirectoryMode",
    "UMask",
    "LimitMEMLOCK",
    "LimitNOFILE",
    "ProtectSystem",
    "ReadWritePaths",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "ProtectControlGroups",
    "ProtectKernelModules",
    "ProtectKernelTunables",
    "ProtectKernelLogs",
    "ProtectHostname",
    "ProtectClock",
    "ProtectProc",
    "RestrictNamespaces",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "LockPersonality",
    "RemoveIPC",
    "RestrictAddressFamilies",
    "SystemCallArchitectures",
    "SystemCallFilter",
    "SystemCallErrorNumber",
    "NoNewPrivileges",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
  ],
  Install: ["WantedBy"],
};
/** Keys systemd accepts more than once (each adds to a list). */
const REPEATABLE = new Set(["ReadWritePaths", "SystemCallFilter", "Environment", "After", "Wants"]);
const BOOLEAN = /^(yes|no|true|false|on|off|1|0)$/;
const BOOLEAN_KEYS = new Set([
  "PrivateTmp",
  "PrivateDevices",
  "ProtectControlGroups",
  "ProtectKernelModules",
  "ProtectKernelTunables",
  "ProtectKernelLogs",
  "ProtectHostname",
  "ProtectClock",
  "RestrictNamespaces",
  "RestrictRealtime",
  "RestrictSUIDSGID",
  "LockPersonality",
  "RemoveIPC",
  "NoNewPrivileges",
]);

function parseUnit(path: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = "";
  for (const [i, raw] of read(path).split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const where = `${path}:${i + 1}`;
    const head = /^\[(\w+)\]$/.exec(line);
    if (head !== null) {
      section = head[1] ?? "";
      assert.ok(section in UNIT_KEYS, `${where}: unknown section [${section}]`);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(kv !== null, `${where}: not Key=value: ${line}`);
    const [, key = "", value = ""] = kv;
    assert.ok(UNIT_KEYS[section]?.includes(key), `${where}: ${key} is not a [${section}] key`);
    if (BOOLEAN_KEYS.has(key)) assert.match(value, BOOLEAN, `${where}: ${key}=${value}`);
    const seen = keys.get(key);
    assert.ok(seen === undefined || REPEATABLE.has(key), `${where}: ${key} set twice`);
    keys.set(key, [...(seen ?? []), value]);
  }
  for (const s of Object.keys(UNIT_KEYS)) {
    assert.match(read(path), new RegExp(`^\\[${s}\\]$`, "m"), `${path}: no [${s}]`);
  }
  return keys;
}

describe("deploy/systemd", () => {
  const bin = (JSON.parse(read(join(ROOT, "package.json"))) as { bin: { vigil: string } }).bin
    .vigil;
  const one = (keys: Map<string, string[]>, key: string): string | undefined => keys.get(key)?.[0];

  test("vigil.service - runs `vigil run` as root, restarts on failure, BPF-safe hardening", () => {
    const u = parseUnit(join(DEPLOY, "systemd", "vigil.service"));
    assert.equal(one(u, "ExecStart"), `/usr/bin/node /opt/vigil/${bin} run`);
    assert.equal(one(u, "User"), "root");
    assert.equal(one(u, "Restart"), "on-failure");
    assert.equal(one(u, "ProtectSystem"), "full");
    assert.equal(one(u, "LimitMEMLOCK"), "infinity");
    assert.deepEqual(u.get("ReadWritePaths"), ["/var/lib/vigil /run/vigil"]);
    assert.equal(one(u, "WantedBy"), "multi-user.target");
    // These would stop BPF, symbol resolution or Node's JIT.
    for (const k of [
      "NoNewPrivileges",
      "SystemCallFilter",
      "ProtectKernelTunables",
      "ProtectKernelLogs",
      "MemoryDenyWriteExecute",
      "CapabilityBoundingSet",
      "PrivateNetwork",
    ]) {
      assert.equal(u.get(k), undefined, `${k} breaks the sensor`);
    }
  });

  test("vigil-scorer.service - `vigil scorer` unprivileged and sandboxed", () => {
    const u = parseUnit(join(DEPLOY, "systemd", "vigil-scorer.service"));
    assert.equal(one(u, "ExecStart"), `/usr/bin/node /opt/vigil/${bin} scorer`);
    assert.equal(one(u, "User"), "vigil");
    assert.equal(one(u, "Restart"), "on-failure");
    assert.equal(one(u, "NoNewPrivileges"), "yes");
    assert.equal(one(u, "CapabilityBoundingSet"), "");
    assert.equal(one(u, "ProtectSystem"), "strict");
    assert.deepEqual(u.get("ReadWritePaths"), ["/var/lib/vigil"]);
  });
});
