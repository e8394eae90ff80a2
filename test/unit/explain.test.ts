/**
 * explain(): the features that contributed most (both families), the novel items, the one
 * sentence a person reads, and the severity rule. The manifest is built by hand from a real
 * feature spec and the baseline's real statistics and novelty sets (no training: fast).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { WindowRecord } from "../../src/contracts/index.js";
import { buildFeatureSpec, type FeatureSpec, featurize } from "../../src/features/index.js";
import { novelItems, noveltySets } from "../../src/features/novelty.js";
import type { ModelManifest, NgramWeighting } from "../../src/model/manifest.js";
import type { WindowScore } from "../../src/model/window-model.js";
import {
  completingPair,
  explain,
  explainScore,
  featureWords,
  persistenceWrites,
  reconCommands,
  riskyNovelty,
  scoreRatio,
  severity,
  windowNovelty,
} from "../../src/scorer/explain.js";
import { RecentNovelty } from "../../src/scorer/recent-novelty.js";
import type { Anomaly } from "../../src/scorer/types.js";
import { prng } from "../../training/random.js";
import { attack, benign } from "../helpers/agent-windows.js";
import { makeWindow } from "../helpers/messages.js";

const random = prng(1);
const BASELINE = Array.from({ length: 200 }, (_, i) => benign(i, random));
const THRESHOLD = 0.5;
const stats = { count: 1, mean: 0, std: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };

function manifestFor(
  spec: FeatureSpec,
  over: Partial<Pick<ModelManifest, "family" | "nextSyscall">> = {},
): ModelManifest {
  const width = spec.names.length;
  const mean = new Array<number>(width).fill(0);
  for (const w of BASELINE) {
    featurize(spec, w).forEach((v, i) => {
      mean[i] = (mean[i] ?? 0) + v / BASELINE.length;
    });
  }
  return {
    schema: "vigil.model.v1",
    agentType: "coding-agent",
    version: "test",
    family: "autoencoder",
    createdAt: "2026-11-25T12:00:00.000Z",
    seed: 1,
    featureSpec: spec,
    inputSize: width,
    threshold: THRESHOLD,
    targetFalseAlarmRate: 0.001,
    calibration: { method: "empirical", empirical: THRESHOLD, tail: THRESHOLD },
    scoreStats: { fit: stats, validation: stats },
    featureStats: { mean, std: new Array<number>(width).fill(1) },
    novelty: noveltySets(BASELINE),
    data: {
      captures: [{ id: "benign", sha256: "0".repeat(64) }],
      windows: { fit: BASELINE.length, validation: 0 },
      timeRange: { start: "2026-11-25T12:00:00.000Z", end: "2026-11-25T13:00:00.000Z" },
    },
    model: { file: "model.onnx", sha256: "0".repeat(64) },
    selection: { method: "forced", protocol: "", chosen: "autoencoder", candidates: {} },
    libraries: { tfjs: "x", "onnxruntime-node": "x", "onnx-proto": "x", node: "20" },
    vigilVersion: "0.1.0",
    ...over,
  };
}

const SPEC = buildFeatureSpec(BASELINE, { topK: 32, hashBuckets: 8 });
const AUTOENCODER = manifestFor(SPEC);

function anomaly(
  window: WindowRecord,
  scored: WindowScore,
  manifest: ModelManifest = AUTOENCODER,
): Anomaly {
  return { window, manifest, scored, novel: novelItems(manifest.novelty, window) };
}

/** A featureError with the given errors at the named features, 0 elsewhere. */
function errors(spec: FeatureSpec, at: Record<string, number>): Float32Array {
  const e = new Float32Array(spec.names.length);
  for (const [name, v] of Object.entries(at)) {
    const i = spec.names.indexOf(name);
    assert.ok(i >= 0, name);
    e[i] = v;
  }
  return e;
}

describe("explain - autoencoder", () => {
  const w = attack(500);
  const featureError = errors(SPEC, {
    "exec:shell": 3,
    "net:nonloopback_destinations": 2,
    "priv:to_root": 1,
  });
  const a = anomaly(w, { score: 4, featureError });

  test("explain - a reverse shell: summary names the novel items, severity critical", () => {
    const e = explain(a);
    assert.deepEqual(e.explanation.novel, [
      { kind: "exec", value: "/bin/sh" },
      { kind: "destination", value: "out tcp 203.0.113.7:4444" },
      { kind: "file", value: "~/.ssh/id_rsa (secret:read)" },
      { kind: "privilege", value: "setuid" },
    ]);
    assert.equal(
      e.summary,
      "coding-agent 7f3a on web-1 ran /bin/sh, connected to 203.0.113.7:4444, read a secret " +
        "file (~/.ssh/id_rsa) and 1 more, never seen in its baseline (score 8.0× its threshold)",
    );
    assert.equal(e.severity, "critical");
  });

  test("explain - top features by reconstruction error, with observed value and baseline mean", () => {
    const observed = featurize(SPEC, w);
    const { features } = explain(a).explanation;
    assert.deepEqual(
      features.map((f) => f.name),
      ["exec:shell", "net:nonloopback_destinations", "priv:to_root"],
      "only features with error, largest first",
    );
    const [shell, dest, root] = features;
    const i = SPEC.names.indexOf("exec:shell");
    assert.equal(shell?.observed, observed[i]);
    assert.equal(shell?.observed, Math.fround(Math.log1p(1)), "one shell exec");
    assert.equal(shell?.baseline, AUTOENCODER.featureStats.mean[i]);
    assert.equal(shell?.baseline, 0, "the baseline never ran a shell");
    assert.ok(Math.abs((shell?.contribution ?? 0) - 0.5) < 1e-9);
    assert.ok(Math.abs((dest?.contribution ?? 0) - 1 / 3) < 1e-9);
    assert.ok(Math.abs((root?.contribution ?? 0) - 1 / 6) < 1e-9);
  });

  test("explain - topFeatures bounds the list; no featureError gives no features", () => {
    const many = new Float32Array(SPEC.names.length).map((_, i) => i + 1);
    assert.equal(
      explain(anomaly(w, { score: 4, featureError: many })).explanation.features.length,
      5,
    );
    const two = explain(a, { topFeatures: 2 }).explanation.features;
    assert.deepEqual(
      two.map((f) => f.name),
      ["exec:shell", "net:nonloopback_destinations"],
    );
    assert.deepEqual(explain(a, { topFeatures: 0 }).explanation.features, []);
    assert.deepEqual(explain(anomaly(w, { score: 4 })).explanation.features, []);
  });

  test("explain - without novelty: the margin and the most unusual feature, in words", () => {
    const quiet = { ...benign(900, prng(5)), files: [] };
    const fe = errors(SPEC, { "file:workspace:read": 2, "proc:started_log": 1 });
    const e = explain(anomaly(quiet, { score: 2.1, featureError: fe }));
    assert.deepEqual(e.explanation.novel, []);
    assert.equal(
      e.summary,
      "coding-agent 7f3a on web-1 behaved unlike its baseline (score 4.2× its threshold); " +
        "most unusual: reads of workspace files, lower than its baseline",
    );
    assert.equal(e.severity, "warning");

    const busy = {
      ...quiet,
      files: [{ path: "~/proj/a.py", class: "workspace" as const, op: "read" as const, count: 90 }],
    };
    const higher = explain(anomaly(busy, { score: 0.6, featureError: fe }));
    assert.match(
      higher.summary,
      /most unusual: reads of workspace files, higher than its baseline$/,
    );
    assert.equal(higher.severity, "info", "1.2x, nothing new");

    const same = explain(
      anomaly(quiet, { score: 0.6, featureError: errors(SPEC, { "priv:kexec": 1 }) }),
    );
    assert.match(same.summary, /most unusual: kexec calls$/, "observed = baseline: no direction");
    assert.equal(
      explain(anomaly(quiet, { score: 0.6 })).summary,
      "coding-agent 7f3a on web-1 behaved unlike its baseline (score 1.2× its threshold)",
    );
  });

  test("explain - the agent id is shortened to 8 characters", () => {
    const long = { ...benign(1, prng(2)), agentId: "7f3a9c0d-1234-5678-9abc-def012345678" };
    assert.match(
      explain(anomaly(long, { score: 1 })).summary,
      /^coding-agent 7f3a9c0d on web-1 behaved/,
    );
  });
});

describe("explain - next-syscall", () => {
  const vocabulary = [
    ...new Set(BASELINE.flatMap((w) => w.syscalls.ngrams.flatMap((g) => g.slice(0, 3)))),
  ];
  const ns = (weighting: NgramWeighting) =>
    manifestFor(SPEC, {
      family: "next-syscall",
      nextSyscall: { vocabulary: vocabulary.map(String), context: 2, weighting },
    });
  const w = attack(500);
  const SURPRISE: Record<string, number> = {
    "socket,connect,dup2": 5,
    "dup2,dup2,execve": 4,
    "setuid,execve,close": 3,
  };
  const keys = w.syscalls.ngrams.map((g) => g.slice(0, 3).join(","));
  const surprise = Float32Array.from(keys, (k) => SURPRISE[k] ?? 0.01);
  const counts = w.syscalls.ngrams.map((g) => g[3] as number);

  test("explain - n-grams by weighted surprise; observed in the feature scale, baseline mean", () => {
    const e = explain(anomaly(w, { score: 2, ngramSurprise: surprise }, ns("count")));
    const weighted = counts.map((c, i) => c * (surprise[i] ?? 0));
    const total = weighted.reduce((t, x) => t + x, 0);
    assert.deepEqual(
      e.explanation.features.slice(0, 3).map((f) => f.name),
      ["ngram:socket,connect,dup2", "ngram:dup2,dup2,execve", "ngram:setuid,execve,close"],
    );
    const first = e.explanation.features[0];
    assert.ok(Math.abs((first?.contribution ?? 0) - (20 * 5) / total) < 1e-6);
    assert.equal(first?.baseline, 0, "outside the vocabulary");
    assert.ok(Math.abs((first?.observed ?? 0) - Math.log1p((20 / w.syscalls.total) * 1000)) < 1e-9);
    assert.equal(e.explanation.features.length, 5);
    const shares = e.explanation.features.reduce((t, f) => t + f.contribution, 0);
    assert.ok(shares < 1 && shares > 0.5);
  });

  test("explain - a vocabulary n-gram's observed value is featurize's, baseline its mean", () => {
    const high = Float32Array.from(keys, (k) => (k === "read,read,write" ? 9 : 0.01));
    const e = explain(anomaly(w, { score: 2, ngramSurprise: high }, ns("distinct")), {
      topFeatures: 1,
    });
    const f = e.explanation.features[0];
    const at = SPEC.names.indexOf("ngram:read,read,write");
    assert.equal(f?.name, "ngram:read,read,write");
    assert.ok(Math.abs((f?.observed ?? 0) - (featurize(SPEC, w)[at] ?? 0)) < 1e-5);
    assert.equal(f?.baseline, AUTOENCODER.featureStats.mean[at]);
    const tfidf = buildFeatureSpec(BASELINE, { topK: 32, hashBuckets: 8, scaling: "tfidf" });
    const t = explain(
      anomaly(w, { score: 2, ngramSurprise: high }, { ...ns("log"), featureSpec: tfidf }),
      { topFeatures: 1 },
    ).explanation.features[0];
    assert.ok(Math.abs((t?.observed ?? 0) - (featurize(tfidf, w)[at] ?? 0)) < 1e-6, "tfidf");
  });

  test("explain - outside the vocabulary, tfidf scales by the buckets' idf; zero counts weigh 0", () => {
    const tfidf = buildFeatureSpec(BASELINE, { topK: 32, hashBuckets: 8, scaling: "tfidf" });
    const zero = {
      ...w,
      syscalls: { ...w.syscalls, ngrams: [...w.syscalls.ngrams, ["kill", "kill", "kill", 0]] },
    };
    const all = Float32Array.from(zero.syscalls.ngrams, (g) =>
      g[0] === "kill" ? 99 : (SURPRISE[g.slice(0, 3).join(",")] ?? 0.01),
    );
    const e = explain(
      anomaly(zero, { score: 2, ngramSurprise: all }, { ...ns("count"), featureSpec: tfidf }),
    );
    const first = e.explanation.features[0];
    assert.equal(
      first?.name,
      "ngram:socket,connect,dup2",
      "a zero-count n-gram contributes nothing",
    );
    const idf = tfidf.idf?.[tfidf.vocabulary.length] ?? Number.NaN;
    assert.ok(Math.abs((first?.observed ?? 0) - (20 / w.syscalls.total) * idf) < 1e-9);
    assert.ok(!e.explanation.features.some((f) => f.name === "ngram:kill,kill,kill"));
  });

  test("explain - the weighting decides the order: distinct ignores counts, log damps them", () => {
    const flat = Float32Array.from(keys, (k) => (k === "setuid,execve,close" ? 1 : 0.9));
    const byCount = explain(anomaly(w, { score: 2, ngramSurprise: flat }, ns("count")));
    assert.notEqual(byCount.explanation.features[0]?.name, "ngram:setuid,execve,close");
    for (const weighting of ["distinct", "log"] as const) {
      const e = explain(anomaly(w, { score: 2, ngramSurprise: flat }, ns(weighting)));
      if (weighting === "distinct") {
        assert.equal(e.explanation.features[0]?.name, "ngram:setuid,execve,close");
        assert.ok(
          Math.abs(
            (e.explanation.features[0]?.contribution ?? 0) - 1 / (0.9 * (keys.length - 1) + 1),
          ) < 1e-6,
        );
      } else {
        const total = counts.reduce((s, c, i) => s + Math.log1p(c) * (flat[i] ?? 0), 0);
        const top = Math.max(...counts.map((c, i) => Math.log1p(c) * (flat[i] ?? 0)));
        assert.ok(Math.abs((e.explanation.features[0]?.contribution ?? 0) - top / total) < 1e-6);
      }
    }
    assert.deepEqual(
      explain(anomaly(w, { score: 2 }, ns("count"))).explanation.features,
      [],
      "no surprises, no features",
    );
  });
});

describe("explain - words", () => {
  const base = benign(3, prng(3));
  const novel = (items: { kind: string; value: string }[], over: Partial<WindowRecord> = {}) =>
    explain({
      window: { ...base, ...over },
      manifest: AUTOENCODER,
      scored: { score: 0.6 },
      novel: items,
    }).summary.replace(/^coding-agent 7f3a on web-1 /, "");

  test("explain - destinations by direction, protocol and family", () => {
    assert.equal(
      novel([{ kind: "destination", value: "in tcp 10.1.2.3:51000" }]),
      "accepted a connection from 10.1.2.3:51000, never seen in its baseline (score 1.2× its threshold)",
    );
    assert.match(
      novel([{ kind: "destination", value: "listen tcp 0.0.0.0:4444" }]),
      /^listened on 0\.0\.0\.0:4444,/,
    );
    assert.match(
      novel([{ kind: "destination", value: "out udp 8.8.8.8:53" }]),
      /^connected to 8\.8\.8\.8:53 over udp,/,
    );
    assert.match(
      novel([{ kind: "destination", value: "out unix /run/docker.sock:0" }]),
      /^connected to \/run\/docker\.sock over unix,/,
    );
    assert.match(
      novel([{ kind: "destination", value: "out tcp [::1]:22" }]),
      /^connected to \[::1\]:22,/,
    );
    assert.match(novel([{ kind: "destination", value: "sideways" }]), /^used sideways,/);
  });

  test("explain - files, privilege calls, unknown kinds; two items joined by 'and'", () => {
    const secret = { path: "/etc/shadow", class: "secret" as const, op: "read" as const, count: 1 };
    assert.match(
      novel([{ kind: "file", value: "secret:read" }], { files: [secret] }),
      /^read a secret file \(\/etc\/shadow\),/,
      "a bare class:op names the file from the window",
    );
    assert.match(novel([{ kind: "file", value: "secret:read" }]), /^read a secret file,/);
    assert.match(
      novel([{ kind: "file", value: "/tmp/x (temp:write)" }]),
      /^wrote a temporary file \(\/tmp\/x\),/,
    );
    assert.match(
      novel([{ kind: "file", value: "/srv/x (other:read)" }]),
      /^read a file \(\/srv\/x\),/,
    );
    assert.match(novel([{ kind: "file", value: "weird" }]), /^accessed weird,/);
    assert.match(
      novel([{ kind: "privilege", value: "setresuid" }], {
        privilege: [{ syscall: "setresuid", args: ["0", "0", "0"], count: 1 }],
      }),
      /^called setresuid\(0, 0, 0\),/,
    );
    assert.match(novel([{ kind: "privilege", value: "capset" }]), /^called capset,/);
    assert.match(novel([{ kind: "dns", value: "evil.example" }]), /^dns evil\.example,/);
    assert.match(
      novel([
        { kind: "exec", value: "/usr/bin/nc" },
        { kind: "destination", value: "out tcp 127.0.0.1:4444" },
      ]),
      /^ran \/usr\/bin\/nc and connected to 127\.0\.0\.1:4444, never seen in its baseline/,
    );
  });

  test("explain - feature names in words", () => {
    assert.equal(
      featureWords("ngram:socket,connect,dup2"),
      "the syscall sequence socket → connect → dup2",
    );
    assert.equal(featureWords("ngram_hash:3"), "syscall sequences outside its usual vocabulary");
    assert.equal(featureWords("file:secret:read"), "reads of secret files");
    assert.equal(featureWords("file:other:write"), "writes of files");
    assert.equal(featureWords("exec:network_tools"), "network tools run (curl, nc, ssh...)");
    assert.equal(featureWords("something:new"), "something:new");
  });
});

describe("explain - severity", () => {
  const item = (kind: string, value: string) => ({ kind, value });

  test("explain - severity from the margin over the threshold", () => {
    assert.equal(severity(5, []), "critical");
    assert.equal(severity(4.99, []), "warning");
    assert.equal(severity(1.5, []), "warning");
    assert.equal(severity(1.49, []), "info");
    assert.equal(severity(Number.POSITIVE_INFINITY, []), "critical");
  });

  test("explain - severity from the kinds of novelty", () => {
    assert.equal(severity(1.1, [item("exec", "/usr/bin/nc")]), "warning");
    assert.equal(severity(1.1, [item("destination", "out tcp 1.2.3.4:80")]), "warning");
    assert.equal(severity(1.1, [item("file", "~/proj/x (workspace:write)")]), "warning");
    assert.equal(
      severity(1.1, [item("exec", "/usr/bin/nc"), item("destination", "out tcp 1.2.3.4:80")]),
      "critical",
    );
    assert.equal(severity(1.1, [item("privilege", "setuid")]), "critical");
    assert.equal(severity(1.1, [item("file", "~/.aws/credentials (secret:read)")]), "critical");
    assert.equal(severity(1.1, [item("file", "secret:write")]), "critical");
  });

  test("explain - score ratio and explainScore for a window known only by its score", () => {
    assert.equal(scoreRatio(3, 1.5), 2);
    assert.equal(scoreRatio(0.1, 0), Number.POSITIVE_INFINITY);
    assert.equal(scoreRatio(-1, 0), 1);
    const e = explainScore(benign(1, prng(4)), 0.2, 0);
    assert.equal(e.severity, "critical");
    assert.equal(
      e.summary,
      "coding-agent 7f3a on web-1 behaved unlike its baseline (score far above its threshold)",
    );
    assert.deepEqual(e.explanation, { features: [], novel: [] });
    assert.equal(explainScore(benign(1, prng(4)), 0.8, 0.5).severity, "warning");
  });
});

test("riskyNovelty: a new secret, a new privilege call, or a new program with a new destination", () => {
  assert.equal(riskyNovelty([]), false);
  assert.equal(riskyNovelty([{ kind: "file", value: "~/.ssh/id_rsa (secret:read)" }]), true);
  assert.equal(riskyNovelty([{ kind: "file", value: "~/notes.txt (home:write)" }]), false);
  assert.equal(riskyNovelty([{ kind: "privilege", value: "setuid" }]), true);
  assert.equal(riskyNovelty([{ kind: "file", value: "~/.bashrc (persistence:write)" }]), true);
  assert.equal(riskyNovelty([{ kind: "exec", value: "/usr/bin/curl" }]), false);
  assert.equal(riskyNovelty([{ kind: "destination", value: "out tcp 127.0.0.1:4444" }]), false);
  assert.equal(
    riskyNovelty([
      { kind: "exec", value: "/usr/bin/curl" },
      { kind: "destination", value: "out tcp 127.0.0.1:4444" },
    ]),
    true,
  );
});

test("persistenceWrites: shell startup files, systemd and autostart units, crontabs; not reads or work files", () => {
  const w = makeWindow(0, {
    files: [
      { path: "~/.bashrc", class: "home", op: "write", count: 1 },
      { path: "~/.config/systemd/user/update.service", class: "home", op: "write", count: 1 },
      { path: "~/.local/etc/crontab", class: "home", op: "write", count: 1 },
      { path: "/etc/cron.d/job", class: "system", op: "write", count: 1 },
      { path: "~/.bashrc.bak", class: "home", op: "write", count: 1 },
      { path: "~/.profile", class: "home", op: "read", count: 1 },
      { path: "~/proj/main.py", class: "workspace", op: "write", count: 1 },
    ],
  });
  assert.deepEqual(
    persistenceWrites(w).map((n) => n.value),
    [
      "~/.bashrc (persistence:write)",
      "~/.config/systemd/user/update.service (persistence:write)",
      "~/.local/etc/crontab (persistence:write)",
      "/etc/cron.d/job (persistence:write)",
    ],
  );
  const [first] = persistenceWrites(w);
  assert.ok(first);
  assert.equal(severity(0.5, [first]), "critical");
});

test("reconCommands: setuid searches, capability scans and sudo -l, by command line; not ordinary finds", () => {
  const exec = (path: string, argv: string[]) => ({
    path,
    argv,
    pid: 9,
    ppid: 8,
    uid: 0,
    count: 1,
  });
  const w = makeWindow(0, {
    execs: [
      exec("/usr/bin/find", ["find", "/", "-xdev", "-perm", "-4000", "-type", "f"]),
      exec("/usr/bin/find", ["find", "/usr", "-perm", "/u=s"]),
      exec("/usr/sbin/getcap", ["getcap", "-r", "/usr/bin"]),
      exec("/usr/bin/sudo", ["sudo", "-l"]),
      exec("/usr/bin/find", ["find", ".", "-name", "*.ts", "-perm", "-644"]),
      exec("/usr/bin/find", ["find", "src", "-type", "f"]),
      exec("/usr/bin/sudo", ["sudo", "apt-get", "update"]),
      exec("/usr/bin/grep", ["grep", "-r", "perm -4000", "notes"]),
    ],
  });
  const recon = reconCommands(w);
  assert.deepEqual(
    recon.map((n) => n.value.split(" (")[0]),
    [
      "searched for setuid files",
      "searched for setuid files",
      "scanned for file capabilities",
      "listed its sudo rights",
    ],
  );
  assert.equal(recon[0]?.value, "searched for setuid files (find / -xdev -perm -4000 -type f)");
  assert.ok(riskyNovelty(recon.slice(3)), "recon alone is risky");
  // windowNovelty names them with what the baseline never saw.
  const all = windowNovelty(noveltySets([]), w);
  assert.ok(
    all.some((n) => n.kind === "exec") && all.filter((n) => n.kind === "recon").length === 4,
  );
});

test("completingPair: a neighbour's new destination completes a new program, and the reverse; nothing else", () => {
  const exec = { kind: "exec", value: "/tmp/x/update.sh" };
  const out = { kind: "destination", value: "out tcp 127.0.0.1:8443" };
  const ipc = { kind: "destination", value: "out unix /run/app.sock:0" };
  const secret = { kind: "file", value: "~/.ssh/id_rsa (secret:read)" };
  assert.deepEqual(completingPair([exec], [out, ipc, secret, out]), [out]);
  assert.deepEqual(completingPair([out], [exec, secret]), [exec]);
  assert.deepEqual(completingPair([exec, out], [exec, out]), [], "already a pair on its own");
  assert.deepEqual(completingPair([exec], [ipc]), [], "a local socket is no way out");
  assert.deepEqual(completingPair([secret], [exec, out]), []);
  assert.ok(riskyNovelty([exec, ...completingPair([exec], [out])]));
});

test("RecentNovelty: a window sees its neighbours' items whichever arrives first; instances apart; bounded", () => {
  const exec = { kind: "exec", value: "/tmp/x/update.sh" };
  const out = { kind: "destination", value: "out tcp 127.0.0.1:8443" };
  const win = (agentId: string, seq: number) => ({ ...makeWindow(seq), agentId, seq });
  const r = new RecentNovelty(2);
  assert.deepEqual(r.neighbours(win("a", 10), [out]), []);
  assert.deepEqual(r.neighbours(win("a", 11), [exec]), [out], "the previous window's");
  assert.deepEqual(r.neighbours(win("b", 11), [out]), [], "another instance's are not mixed in");
  assert.deepEqual(r.neighbours(win("a", 13), []), [], "not adjacent");
  const late = new RecentNovelty();
  late.neighbours(win("c", 21), [exec]);
  assert.deepEqual(
    late.neighbours(win("c", 20), [out]),
    [exec],
    "the next window's, arrived first",
  );
  r.neighbours(win("d", 1), []);
  assert.equal(r.instances, 2, "the least recently seen instance is forgotten");
  assert.deepEqual(r.neighbours(win("b", 12), []), [], "b, seen before a's last window, was");
});

test("riskyNovelty: a mass deletion", () => {
  assert.equal(
    riskyNovelty([
      { kind: "deletions", value: "deleted 40 files (at most 3 a window in its baseline)" },
    ]),
    true,
  );
});

test("riskyNovelty: a new program with a new local socket is IPC, unless the socket is a container runtime's", () => {
  const exec = { kind: "exec", value: "/usr/bin/cut" };
  assert.equal(
    riskyNovelty([exec, { kind: "destination", value: "out unix /tmp/tsx-#/#.pipe:0" }]),
    false,
  );
  assert.equal(
    riskyNovelty([exec, { kind: "destination", value: "out unix /run/docker.sock:0" }]),
    true,
  );
  assert.equal(
    riskyNovelty([exec, { kind: "destination", value: "out tcp 127.0.0.1:4444" }]),
    true,
  );
});
