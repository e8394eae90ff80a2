/**
 * Why a window is anomalous, in terms a person can act on: the features that contributed most,
 * what the baseline never saw, one sentence, and a severity.
 *
 * Contributions. Autoencoder: each feature's share of the window's reconstruction error.
 * Next-syscall: each n-gram's share of the window's weighted surprise (surprise times the
 * manifest's weighting of its count). `observed` and `baseline` are both in the model's feature
 * scale (featurize's output, in which featureStats.mean is kept), so the two can be compared;
 * an n-gram outside the feature vocabulary is scaled the same way and has baseline 0.
 *
 * Severity, from the margin over the threshold (ratio = score / threshold) and the novelty:
 * - critical: ratio >= 5, or a novel secret-file access, a novel privilege call, or both a novel
 *   exec and a novel network destination (the shape of a reverse shell or of exfiltration);
 * - warning: ratio >= 1.5, or any other novelty;
 * - info: anything else (just over the threshold, nothing new).
 */
import type { VigilAlert, WindowRecord } from "../contracts/index.js";
import type { FeatureSpec } from "../features/index.js";
import { featurize, ngramKey } from "../features/index.js";
import { type NoveltySets, novelItems } from "../features/novelty.js";
import { NGRAM_WEIGHTS } from "../model/window-model.js";
import type { Anomaly, Explained } from "./types.js";

export interface ExplainOptions {
  /** How many features the explanation lists (default 5). */
  topFeatures?: number;
}

type Feature = VigilAlert["explanation"]["features"][number];
type Novel = VigilAlert["explanation"]["novel"][number];

const DEFAULT_TOP = 5;
/** Novel items named in the summary; the rest are counted ("and 2 more"). */
const SUMMARY_ITEMS = 3;
const CRITICAL_RATIO = 5;
const WARNING_RATIO = 1.5;
/** featurize's per-mille scale for "log" n-gram features. */
const LOG_SCALE = 1000;

/**
 * The explanation of a window that passed its threshold: the `topFeatures` largest
 * contributions (only those above 0), the novel items as given, the summary sentence and the
 * severity. Pure: no I/O, and it does not throw for a window the model could score.
 */
export function explain(a: Anomaly, options: ExplainOptions = {}): Explained {
  const top = options.topFeatures ?? DEFAULT_TOP;
  const features =
    a.manifest.family === "next-syscall" ? ngramFeatures(a, top) : autoencoderFeatures(a, top);
  const ratio = scoreRatio(a.scored.score, a.manifest.threshold);
  const who = agent(a.window);
  const summary =
    a.novel.length > 0
      ? `${who} ${describeNovel(a.novel, a.window)} (score ${times(ratio)} its threshold)`
      : unusual(who, ratio, features[0]);
  return {
    severity: severity(ratio, a.novel),
    summary,
    explanation: { features, novel: a.novel.map((n) => ({ ...n })) },
  };
}

/**
 * The explanation of a window known only by its score (no model detail, no novelty): for a
 * caller that must alert on an anomalous window it could not explain.
 */
export function explainScore(window: WindowRecord, score: number, threshold: number): Explained {
  const ratio = scoreRatio(score, threshold);
  return {
    severity: severity(ratio, []),
    summary: unusual(agent(window), ratio, undefined),
    explanation: { features: [], novel: [] },
  };
}

/**
 * Where a program makes itself start again: shell startup files, systemd and autostart units,
 * crontabs, rc.local, the dynamic linker's preload list (paths as windows hold them: homes are
 * "~"). No agent's normal work writes there.
 */
const PERSISTENCE_PATHS = [
  /(^|\/)\.(bashrc|bash_profile|bash_login|bash_logout|profile|zshrc|zprofile|zshenv|zlogin)$/,
  /\/\.config\/fish\/config\.fish$/,
  /\/\.config\/(systemd\/user|autostart)\//,
  /^\/etc\/(systemd\/system|init\.d|cron[^/]*|profile\.d)\//,
  /^\/(usr\/)?lib\/systemd\/(system|user)\//,
  /^\/var\/spool\/cron\//,
  /(^|\/)crontab$/,
  /^\/etc\/(rc\.local|profile|bash\.bashrc|ld\.so\.preload|environment)$/,
];

/** Writes to persistence locations in the window, as novelty items of class "persistence". */
export function persistenceWrites(w: WindowRecord): Novel[] {
  const out: Novel[] = [];
  for (const f of w.files) {
    if (f.op === "write" && PERSISTENCE_PATHS.some((re) => re.test(f.path))) {
      out.push({ kind: "file", value: `${f.path} (persistence:write)` });
    }
  }
  return out;
}

/**
 * Privilege-escalation reconnaissance, by command line: a search for setuid or setgid files, a
 * file-capability scan, listing one's sudo rights. What an intruder runs first on a foothold and
 * no agent's task needs, so, like a persistence write, it counts whatever the baseline holds.
 */
const RECON_COMMANDS: { re: RegExp; what: string }[] = [
  {
    re: /^find\b.*\s-perm\s+[-/]?(u=s|g=s|u\+s|g\+s|[2467]000)(\s|$)/,
    what: "searched for setuid files",
  },
  { re: /^getcap\b.*\s-r(\s|$)/, what: "scanned for file capabilities" },
  { re: /^sudo\b.*\s(-l|-ll|--list)(\s|$)/, what: "listed its sudo rights" },
];

/** Reconnaissance commands run in the window, as novelty items of kind "recon". */
export function reconCommands(w: WindowRecord): Novel[] {
  const out: Novel[] = [];
  for (const e of w.execs) {
    const line = [e.path.split("/").pop() ?? e.path, ...e.argv.slice(1)].join(" ");
    const hit = RECON_COMMANDS.find((r) => r.re.test(line));
    if (hit) out.push({ kind: "recon", value: `${hit.what} (${line.slice(0, 80)})` });
  }
  return out;
}

/**
 * Everything in `w` to name as new: what its baseline never saw (novelItems), persistence
 * writes and reconnaissance commands.
 */
export function windowNovelty(sets: NoveltySets, w: WindowRecord): Novel[] {
  return [...novelItems(sets, w), ...persistenceWrites(w), ...reconCommands(w)];
}

/**
 * Novelty that is dangerous on its own, whatever the score: a write to a persistence location, a secret file (keys, credentials,
 * /etc/shadow) this agent type never touched in its baseline, a privilege call it never made,
 * or a program it never ran together with a destination it never reached.
 */
export function riskyNovelty(novel: readonly Novel[]): boolean {
  const kinds = new Set(novel.map((n) => n.kind));
  const secret = novel.some((n) => {
    const cls = n.kind === "file" ? fileAccess(n.value).cls : undefined;
    return cls === "secret" || cls === "persistence";
  });
  const outward = novel.some(isOutward);
  return (
    secret ||
    kinds.has("privilege") ||
    kinds.has("deletions") ||
    kinds.has("recon") ||
    (kinds.has("exec") && outward)
  );
}

const CONTAINER_SOCKET = /(docker|containerd|podman|crio|buildkit)[^ ]*\.sock/;

/** A new destination that leads out: a local socket is IPC, unless it is a container runtime's. */
function isOutward(n: Novel): boolean {
  return (
    n.kind === "destination" && (!isUnixDestination(n.value) || CONTAINER_SOCKET.test(n.value))
  );
}

/**
 * An attack does not keep to window boundaries: a script fetched in one window and run in the
 * next are, together, a new program and a new way out. Given a window's novel items and those
 * of the same instance's neighbouring windows, returns the neighbours' items that complete that
 * pair (new destinations if the window has a new program, and the reverse), else nothing.
 */
export function completingPair(novel: readonly Novel[], neighbours: readonly Novel[]): Novel[] {
  const exec = novel.some((n) => n.kind === "exec");
  const outward = novel.some(isOutward);
  if (exec === outward) return [];
  const wanted = exec ? neighbours.filter(isOutward) : neighbours.filter((n) => n.kind === "exec");
  return wanted.filter((n, i) => wanted.findIndex((m) => m.value === n.value) === i);
}

/** destinationKey of a unix socket: its address is a path ("/...") or abstract ("@..."). */
function isUnixDestination(value: string): boolean {
  const address = value.split(" ").slice(2).join(" ");
  return address.startsWith("/") || address.startsWith("@") || address.startsWith("~");
}

/** The severity rule of the module comment. */
export function severity(ratio: number, novel: readonly Novel[]): VigilAlert["severity"] {
  if (ratio >= CRITICAL_RATIO || riskyNovelty(novel)) return "critical";
  return ratio >= WARNING_RATIO || novel.length > 0 ? "warning" : "info";
}

/** score / threshold; a threshold of 0 or less makes any exceedance infinitely large. */
export function scoreRatio(score: number, threshold: number): number {
  if (threshold > 0) return score / threshold;
  return score > threshold ? Number.POSITIVE_INFINITY : 1;
}

function autoencoderFeatures(a: Anomaly, top: number): Feature[] {
  const error = a.scored.featureError;
  if (error === undefined || top <= 0) return [];
  const spec = a.manifest.featureSpec;
  const observed = featurize(spec, a.window);
  const total = sum(error);
  return topIndices(error, top).map((i) => ({
    name: spec.names[i] ?? `feature:${i}`,
    observed: observed[i] ?? 0,
    baseline: a.manifest.featureStats.mean[i] ?? 0,
    contribution: share(error[i] ?? 0, total),
  }));
}

function ngramFeatures(a: Anomaly, top: number): Feature[] {
  const surprise = a.scored.ngramSurprise;
  const ns = a.manifest.nextSyscall;
  if (surprise === undefined || ns === undefined || top <= 0) return [];
  const { ngrams, n } = a.window.syscalls;
  const weigh = NGRAM_WEIGHTS[ns.weighting];
  const weighted = Float64Array.from(ngrams, (g, i) => weigh(g[n] as number) * (surprise[i] ?? 0));
  const total = sum(weighted);
  const spec = a.manifest.featureSpec;
  const scale = ngramScale(spec, a.window);
  return topIndices(weighted, top).map((i) => {
    const g = ngrams[i] as (string | number)[];
    const key = ngramKey(g, n);
    const at = spec.vocabulary.indexOf(key);
    return {
      name: `ngram:${key}`,
      observed: scale(g[n] as number, at),
      baseline: at >= 0 ? (a.manifest.featureStats.mean[at] ?? 0) : 0,
      contribution: share(weighted[i] ?? 0, total),
    };
  });
}

/**
 * An n-gram count as featurize scales it (vocabulary index `at`, or -1 for a bucketed one), so
 * that `observed` is comparable with featureStats.mean.
 */
function ngramScale(spec: FeatureSpec, w: WindowRecord): (count: number, at: number) => number {
  const n = w.syscalls.n;
  const listed = w.syscalls.ngrams.reduce((t, g) => t + (g[n] as number), 0);
  const total = Math.max(w.syscalls.total, listed);
  return (count, at) => {
    if (total === 0 || count === 0) return 0;
    const s = count / total;
    if (spec.scaling === "log") return Math.log1p(s * LOG_SCALE);
    return s * (spec.idf?.[at >= 0 ? at : spec.vocabulary.length] ?? 1);
  };
}

/** Indices of the `k` largest positive values, largest first, ties by index. */
function topIndices(values: ArrayLike<number>, k: number): number[] {
  const order: number[] = [];
  for (let i = 0; i < values.length; i++) if ((values[i] ?? 0) > 0) order.push(i);
  order.sort((x, y) => (values[y] ?? 0) - (values[x] ?? 0) || x - y);
  return order.slice(0, k);
}

function sum(values: ArrayLike<number>): number {
  let t = 0;
  for (let i = 0; i < values.length; i++) t += values[i] ?? 0;
  return t;
}

const share = (part: number, total: number) => (total > 0 ? part / total : 0);

function agent(w: WindowRecord): string {
  return `${w.agentType} ${w.agentId.slice(0, 8)} on ${w.host}`;
}

function times(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(1)}×` : "far above";
}

function unusual(who: string, ratio: number, first: Feature | undefined): string {
  const head = `${who} behaved unlike its baseline (score ${times(ratio)} its threshold)`;
  if (first === undefined) return head;
  const direction =
    first.observed > first.baseline
      ? ", higher than its baseline"
      : first.observed < first.baseline
        ? ", lower than its baseline"
        : "";
  return `${head}; most unusual: ${featureWords(first.name)}${direction}`;
}

/** "connected to X, ran Y and 2 more, never seen in its baseline". */
function describeNovel(novel: readonly Novel[], w: WindowRecord): string {
  const named = novel.slice(0, SUMMARY_ITEMS).map((n) => novelWords(n, w));
  const rest = novel.length - named.length;
  if (rest > 0) named.push(`${rest} more`);
  const list =
    named.length === 1 ? named[0] : `${named.slice(0, -1).join(", ")} and ${named.at(-1)}`;
  return `${list}, never seen in its baseline`;
}

function novelWords(item: Novel, w: WindowRecord): string {
  switch (item.kind) {
    case "exec":
      return `ran ${item.value}`;
    case "destination":
      return destinationWords(item.value);
    case "file": {
      const { path, cls, op } = fileAccess(item.value);
      if (cls === undefined) return `accessed ${item.value}`;
      const named = path ?? w.files.find((f) => f.class === cls && f.op === op)?.path;
      const verb = op === "write" ? "wrote" : "read";
      return `${verb} a ${fileWords(cls)}${named ? ` (${named})` : ""}`;
    }
    case "deletions":
    case "recon":
      return item.value;
    case "privilege": {
      const call = w.privilege.find((p) => p.syscall === item.value);
      return `called ${item.value}${call && call.args.length > 0 ? `(${call.args.join(", ")})` : ""}`;
    }
    default:
      return `${item.kind} ${item.value}`;
  }
}

/** File classes (FILE_CLASSES) as adjectives; "other" has none. */
const FILE_CLASS_WORDS: Record<string, string> = {
  workspace: "workspace",
  home: "home",
  system: "system",
  secret: "secret",
  temp: "temporary",
  other: "",
};

const fileWords = (cls: string) => {
  const adjective = FILE_CLASS_WORDS[cls] ?? cls;
  return adjective === "" ? "file" : `${adjective} file`;
};

/**
 * A novel file item: "path (class:op)" as novelItems writes it, or a bare "class:op".
 * `cls` is undefined when the value has neither shape.
 */
function fileAccess(value: string): { path?: string | undefined; cls?: string; op?: string } {
  const m = /^(?:(.*) \(([a-z]+):(read|write)\)|([a-z]+):(read|write))$/.exec(value);
  if (m === null) return {};
  return m[2] !== undefined
    ? { path: m[1], cls: m[2], op: m[3] ?? "read" }
    : { cls: m[4] ?? "other", op: m[5] ?? "read" };
}

/** "out tcp 10.0.0.9:4444" (destinationKey) -> "connected to 10.0.0.9:4444". */
function destinationWords(value: string): string {
  const [direction, protocol, ...rest] = value.split(" ");
  const endpoint = rest.join(" ");
  const colon = endpoint.lastIndexOf(":");
  const address = colon >= 0 ? endpoint.slice(0, colon) : endpoint;
  const port = colon >= 0 ? endpoint.slice(colon + 1) : "";
  // unix sockets are paths (or abstract names) with port 0
  const where = port === "0" && /^[/@]/.test(address) ? address : endpoint;
  const via = protocol === "tcp" || protocol === undefined ? "" : ` over ${protocol}`;
  switch (direction) {
    case "out":
      return `connected to ${where}${via}`;
    case "in":
      return `accepted a connection from ${where}${via}`;
    case "listen":
      return `listened on ${where}${via}`;
    default:
      return `used ${value}`;
  }
}

const WINDOW_FEATURE_WORDS: Record<string, string> = {
  "syscalls:total_log": "the number of syscalls",
  "syscalls:distinct_log": "the number of distinct syscall sequences",
  "syscalls:unseen_fraction": "the share of syscall sequences outside its usual vocabulary",
  "exec:count_log": "programs run",
  "exec:distinct_paths": "distinct programs run",
  "exec:shell": "shells run",
  "exec:network_tools": "network tools run (curl, nc, ssh...)",
  "exec:inline_code": "interpreters run with inline code",
  "exec:from_tmp": "programs run from a temporary directory",
  "file:distinct_log": "distinct files opened",
  "net:out:connections_log": "outbound connections",
  "net:in:connections_log": "accepted connections",
  "net:listen:count": "listening endpoints",
  "net:destinations": "distinct destinations",
  "net:nonloopback_destinations": "distinct non-loopback destinations",
  "net:bytes_out_log": "bytes sent",
  "net:bytes_in_log": "bytes received",
  "net:sends_log": "send calls",
  "net:recvs_log": "receive calls",
  "net:udp53_sends_log": "DNS (UDP port 53) sends",
  "net:unix_connections_log": "unix-socket connections",
  "priv:setuid": "setuid-family calls",
  "priv:to_root": "calls switching to root",
  "priv:capset": "capset calls",
  "priv:ptrace": "ptrace, process-memory and pidfd_getfd calls",
  "priv:bpf": "bpf calls",
  "priv:module": "kernel module calls",
  "priv:mount": "mount and chroot calls",
  "priv:namespace": "namespace calls (unshare, setns, clone with CLONE_NEW*)",
  "priv:kexec": "kexec calls",
  "priv:other": "other privilege calls",
  "proc:started_log": "processes started",
  "proc:exited_log": "processes exited",
};

/** A feature name in plain words: "ngram:socket,connect,dup2" -> "the syscall sequence ...". */
export function featureWords(name: string): string {
  const known = WINDOW_FEATURE_WORDS[name];
  if (known !== undefined) return known;
  if (name.startsWith("ngram:")) {
    return `the syscall sequence ${name.slice("ngram:".length).split(",").join(" → ")}`;
  }
  if (name.startsWith("ngram_hash:")) return "syscall sequences outside its usual vocabulary";
  const file = /^file:([a-z]+):(read|write)$/.exec(name);
  if (file) return `${file[2]}s of ${fileWords(file[1] ?? "other")}s`;
  return name;
}
