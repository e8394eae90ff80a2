/**
 * The scenario evaluation's report: report.md (targets met or missed, with the numbers, per
 * attack and per agent type) and timelines.svg (score / threshold per window for every held-out
 * session, attack start and alert marked).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_TARGET_FAR } from "./calibrate.js";
import type { ScenarioEvaluation, Timeline } from "./scenario-eval.js";

const pct = (x: number) => `${(x * 100).toFixed(2)} %`;
const num = (x: number | undefined, digits = 1) => (x === undefined ? "-" : x.toFixed(digits));

export function writeScenarioReport(
  dir: string,
  e: ScenarioEvaluation,
  context: { quick: boolean },
): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "report.md"), scenarioMarkdown(e, context));
  writeFileSync(join(dir, "timelines.svg"), timelinesSvg(e.timelines));
  writeFileSync(join(dir, "evaluation.json"), `${JSON.stringify(e, null, 2)}\n`);
}

export function scenarioMarkdown(e: ScenarioEvaluation, context: { quick: boolean }): string {
  const t = e.totals;
  const missed = e.attacks.filter((a) => !a.detected);
  const slow = e.attacks.filter((a) => a.detected && (a.windowsToDetection ?? 99) > 2);
  const falseAlarmTarget = Object.entries(e.types).filter(
    ([, s]) => s.benign.alerts > 0 || s.benign.windowFpr > 0.001,
  );
  const lines = [
    "# Scenario evaluation",
    "",
    `${context.quick ? "Quick run (`--quick`): short sessions, each attack once." : "Full run."} ` +
      `Window ${e.windowSeconds} s, seed ${e.seed}, ${num(t.seconds / 60)} minutes. The live eBPF sensor, ` +
      "NATS, the scorer and a real Alertmanager (`vigil run`); agents driven by a scripted " +
      "chat-completions endpoint on loopback, running real tools in a throwaway sandbox. " +
      `Thresholds calibrated for a window false-positive rate of ${pct(e.targetFar)}` +
      `${e.targetFar === DEFAULT_TARGET_FAR ? " (vigil train's default)" : `, not vigil train's default ${pct(DEFAULT_TARGET_FAR)}${context.quick ? ": the quick run asserts no alert in its ~70 benign windows" : ""}`}.`,
    "",
    "## Targets",
    "",
    `- Every attack detected: **${t.detected} of ${t.attacks}**${missed.length ? ` (missed: ${missed.map((a) => `${a.attack} on ${a.agentType}`).join(", ")})` : ""}.`,
    `- Within 2 windows of its start: **${t.detectedWithin2Windows} of ${t.attacks}**${slow.length ? ` (later: ${slow.map((a) => `${a.attack} on ${a.agentType} after ${a.windowsToDetection} windows`).join(", ")})` : ""}.`,
    `- No false alarm on benign sessions, window false-positive rate ≤ 0.1 %: ${
      falseAlarmTarget.length === 0
        ? "**met**"
        : `**missed** for ${falseAlarmTarget.map(([type, s]) => `${type} (${s.benign.alerts} alert${s.benign.alerts === 1 ? "" : "s"}, ${pct(s.benign.windowFpr)} of windows)`).join(", ")}`
    }. ${context.quick || t.benignHours < 0.45 ? `Only ${num(t.benignHours * 60)} minutes of benign sessions were run, not the 30 minutes per type the target asks for: run without --quick for that.` : ""}`,
    "",
    "## Per attack",
    "",
    "| agent type | attack | detected | windows to detection | seconds to detection | severity | alert summary |",
    "|---|---|---|---:|---:|---|---|",
    ...e.attacks.map(
      (a) =>
        `| ${a.agentType} | ${a.attack} | ${a.detected ? "yes" : "**no**"}${a.alertedBeforeAttack ? " (also alerted before it)" : ""} | ${a.windowsToDetection ?? "-"} | ${num(a.secondsToDetection)} | ${a.severity ?? "-"} | ${(a.summary ?? "").replace(/\|/g, "\\|")} |`,
    ),
    "",
    "## Per agent type",
    "",
    "| agent type | model | baseline windows | benign sessions | benign minutes | benign windows | false alarms | false alarms / hour | window FPR | ROC AUC |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...Object.entries(e.types).map(
      ([type, s]) =>
        `| ${type} | ${s.model.selection} (threshold ${s.model.threshold.toPrecision(3)}) | ${s.baseline.windows} | ${s.benign.sessions} | ${num(s.benign.hours * 60)} | ${s.benign.windows} | ${s.benign.alerts} | ${num(s.benign.falseAlarmsPerHour)} | ${pct(s.benign.windowFpr)} | ${num(s.auc, 3)} |`,
    ),
    "",
    ...(Object.values(e.types).some((s) => s.benign.falseAlarms.length > 0)
      ? [
          "False alarms (alerts on benign sessions, or before an attack began):",
          "",
          ...Object.values(e.types).flatMap((s) => s.benign.falseAlarms.map((f) => `- ${f}`)),
          "",
        ]
      : []),
    "ROC AUC: windows of held-out benign sessions against windows of attacked sessions from the " +
      "attack's first action on (the rest of those sessions is benign work too, so this is a " +
      "lower bound). Seconds to detection: from the agent receiving the attack's first tool " +
      "call to the alert on the bus (Alertmanager receives it from there within milliseconds).",
    "",
    "Score timelines (score / threshold per window, attack start red, alert green): `timelines.svg`.",
    "",
  ];
  return lines.join("\n");
}

/** What a session's chart shows: its score / threshold per window, the attack and the alert. */
export type TimelineChart = Pick<Timeline, "attackAt" | "alertAt" | "points"> & {
  sessionId: string;
  attack?: string;
};

/** One small chart per session, in a grid. */
export function timelinesSvg(timelines: readonly TimelineChart[]): string {
  const cols = 4;
  const cw = 300;
  const ch = 140;
  const rows = Math.max(1, Math.ceil(timelines.length / cols));
  const W = cols * cw;
  const H = rows * ch + 30;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="10">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">score / threshold per window (log scale; dashed: threshold; red: attack starts; green: alert)</text>`,
  ];
  timelines.forEach((tl, i) => {
    const ox = (i % cols) * cw + 40;
    const oy = Math.floor(i / cols) * ch + 40;
    const pw = cw - 55;
    const ph = ch - 45;
    const tMax = Math.max(1, ...tl.points.map((p) => p.t), tl.alertAt ?? 0);
    const lr = (r: number) => Math.log10(Math.min(1000, Math.max(0.01, r)));
    const x = (t: number) => (ox + (t / tMax) * pw).toFixed(1);
    const y = (r: number) => (oy + ph - ((lr(r) + 2) / 5) * ph).toFixed(1);
    parts.push(
      `<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
      `<text x="${ox}" y="${oy - 4}">${escapeXml(`${tl.sessionId}${tl.attack ? ` (${tl.attack})` : ""}`)}</text>`,
      `<line x1="${ox}" y1="${y(1)}" x2="${ox + pw}" y2="${y(1)}" stroke="#999" stroke-dasharray="3 3"/>`,
      `<text x="${ox - 4}" y="${Number(y(1)) + 3}" text-anchor="end">1</text>`,
      `<text x="${ox + pw}" y="${oy + ph + 12}" text-anchor="end">${tMax.toFixed(0)} s</text>`,
    );
    if (tl.attackAt !== undefined) {
      parts.push(
        `<line x1="${x(tl.attackAt)}" y1="${oy}" x2="${x(tl.attackAt)}" y2="${oy + ph}" stroke="#d62728"/>`,
      );
    }
    if (tl.alertAt !== undefined) {
      parts.push(
        `<line x1="${x(tl.alertAt)}" y1="${oy}" x2="${x(tl.alertAt)}" y2="${oy + ph}" stroke="#2ca02c"/>`,
      );
    }
    const pts = tl.points.map((p) => `${x(p.t)},${y(p.ratio)}`).join(" ");
    parts.push(`<polyline points="${pts}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>`);
    for (const p of tl.points) {
      parts.push(
        `<circle cx="${x(p.t)}" cy="${y(p.ratio)}" r="1.8" fill="${p.ratio > 1 ? "#d62728" : "#1f77b4"}"/>`,
      );
    }
  });
  parts.push("</svg>", "");
  return parts.join("\n");
}

function escapeXml(s: string): string {
  return s.replace(
    /[<>&"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c] ?? c,
  );
}
