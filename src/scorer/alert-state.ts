/**
 * The alert state machine: one episode per agent instance (host + agentType + agentId), so
 * that a misbehaving instance raises one alert, not one per window.
 *
 *   no alert --anomalous--> fire --anomalous--> suppress, or resend once resendIntervalMs passed
 *                             \--normal x resolveAfterWindows, or a normal final window--> resolve
 *
 * An alert keeps its fingerprint, startsAt and severity for the whole episode; each resend
 * carries the latest score, summary, explanation and window times. Severity stays as fired
 * because Alertmanager identifies an alert by its labels, severity among them
 * (alertmanager.ts): a resend with another severity would be a second Alertmanager alert, and
 * the first would never be resolved by us.
 *
 * Only instances with an active alert have state. sweep() re-sends what is due and resolves
 * the alerts of instances not heard from for staleAfterMs (including an instance whose last,
 * final window was anomalous: its alert stays visible that long), so memory is bounded by the
 * number of alerting instances. Times come from the injected clock, never from window times,
 * so a replay of old windows behaves like live traffic.
 */
import { createHash } from "node:crypto";
import { ALERT_SCHEMA, type VigilAlert, type WindowRecord } from "../contracts/index.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { explainScore } from "./explain.js";
import type { AlertAction, Explained } from "./types.js";

export const DEFAULT_ALERTNAME = "AgentBehaviorAnomaly";
export const DEFAULT_STALE_AFTER_MS = 10 * 60_000;

export interface AlertStateOptions {
  /** Alertmanager's alertname label (default "AgentBehaviorAnomaly"). */
  alertname?: string;
  /** An active alert resolves after this many normal windows of its instance in a row. */
  resolveAfterWindows: number;
  /** An active alert still anomalous is re-sent this often. */
  resendIntervalMs: number;
  /** An active alert whose instance sent no window for this long resolves (default 10 min). */
  staleAfterMs?: number;
  /** Milliseconds since the epoch (default Date.now). */
  now?: () => number;
}

/** One scored window, as the scorer hands it over. */
export interface AlertObservation {
  window: WindowRecord;
  anomalous: boolean;
  score: number;
  threshold: number;
  modelVersion: string;
  /** The explanation of an anomalous window; without it the alert says only the margin. */
  explained?: Explained;
}

interface Episode {
  alert: VigilAlert;
  normalInRow: number;
  lastSentAt: number;
  lastSeenAt: number;
}

export class AlertState {
  private readonly episodes = new Map<string, Episode>();
  private readonly alertname: string;
  private readonly resolveAfterWindows: number;
  private readonly resendIntervalMs: number;
  private readonly staleAfterMs: number;
  private readonly now: () => number;

  constructor(options: AlertStateOptions) {
    this.alertname = options.alertname ?? DEFAULT_ALERTNAME;
    this.resolveAfterWindows = options.resolveAfterWindows;
    this.resendIntervalMs = options.resendIntervalMs;
    this.staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.now = options.now ?? Date.now;
    const bad = (what: string) =>
      new VigilError(ErrorCodes.CONFIG_INVALID, `alert state: ${what}`, {
        hint: "set scorer.alerts.resolveAfterWindows >= 1 and resendIntervalSeconds >= 1",
      });
    if (!Number.isInteger(this.resolveAfterWindows) || this.resolveAfterWindows < 1) {
      throw bad(`resolveAfterWindows ${this.resolveAfterWindows} is not an integer >= 1`);
    }
    if (!(this.resendIntervalMs > 0)) throw bad(`resendIntervalMs ${this.resendIntervalMs} <= 0`);
    if (!(this.staleAfterMs > 0)) throw bad(`staleAfterMs ${this.staleAfterMs} <= 0`);
    if (this.alertname === "") throw bad("alertname is empty");
  }

  /** What to do about one scored window of one instance. */
  observe(input: AlertObservation): AlertAction {
    const w = input.window;
    const key = instanceKey(w);
    const now = this.now();
    const episode = this.episodes.get(key);
    if (episode === undefined) {
      if (!input.anomalous) return { kind: "none" };
      const alert = this.newAlert(key, input);
      this.episodes.set(key, { alert, normalInRow: 0, lastSentAt: now, lastSeenAt: now });
      return { kind: "fire", alert: structuredClone(alert) };
    }
    episode.lastSeenAt = now;
    if (!input.anomalous) {
      episode.normalInRow++;
      if (w.final || episode.normalInRow >= this.resolveAfterWindows) {
        return this.resolve(key, episode, now);
      }
      return { kind: "none" };
    }
    episode.normalInRow = 0;
    episode.alert = update(episode.alert, input);
    if (now - episode.lastSentAt < this.resendIntervalMs) {
      return { kind: "suppress", fingerprint: episode.alert.fingerprint };
    }
    episode.lastSentAt = now;
    return { kind: "resend", alert: structuredClone(episode.alert) };
  }

  /**
   * Re-sends active alerts whose resend interval passed and resolves (and forgets) those whose
   * instance has been silent for staleAfterMs. Call it every few seconds.
   */
  sweep(): AlertAction[] {
    const now = this.now();
    const actions: AlertAction[] = [];
    for (const [key, episode] of this.episodes) {
      if (now - episode.lastSeenAt >= this.staleAfterMs) {
        actions.push(this.resolve(key, episode, now));
      } else if (now - episode.lastSentAt >= this.resendIntervalMs) {
        episode.lastSentAt = now;
        actions.push({ kind: "resend", alert: structuredClone(episode.alert) });
      }
    }
    return actions;
  }

  /** The active alerts (copies), oldest episode first. */
  active(): VigilAlert[] {
    return [...this.episodes.values()].map((e) => structuredClone(e.alert));
  }

  /** How many instances have an active alert. */
  get size(): number {
    return this.episodes.size;
  }

  private resolve(key: string, episode: Episode, now: number): AlertAction {
    this.episodes.delete(key); // the stored alert is no longer shared: no copy needed
    return { kind: "resolve", alert: { ...episode.alert, endsAt: new Date(now).toISOString() } };
  }

  private newAlert(key: string, input: AlertObservation): VigilAlert {
    const w = input.window;
    const explained = input.explained ?? explainScore(w, input.score, input.threshold);
    return {
      schema: ALERT_SCHEMA,
      fingerprint: fingerprint(key, w.end),
      alertname: this.alertname,
      host: w.host,
      agentType: w.agentType,
      agentId: w.agentId,
      severity: explained.severity,
      score: input.score,
      threshold: input.threshold,
      modelVersion: input.modelVersion,
      summary: explained.summary,
      explanation: explained.explanation,
      windowStart: w.start,
      windowEnd: w.end,
      startsAt: w.end,
    };
  }
}

/** The alert of an episode after another anomalous window: the latest facts, same identity. */
function update(alert: VigilAlert, input: AlertObservation): VigilAlert {
  const w = input.window;
  const explained = input.explained ?? explainScore(w, input.score, input.threshold);
  return {
    ...alert,
    score: input.score,
    threshold: input.threshold,
    modelVersion: input.modelVersion,
    summary: explained.summary,
    explanation: explained.explanation,
    windowStart: w.start,
    windowEnd: w.end,
  };
}

/** JSON of the parts: unambiguous whatever characters they hold. */
function instanceKey(w: WindowRecord): string {
  return JSON.stringify([w.host, w.agentType, w.agentId]);
}

/** Stable across scorers and restarts: the same episode gets the same id everywhere. */
function fingerprint(key: string, startsAt: string): string {
  return createHash("sha256")
    .update(JSON.stringify([key, startsAt]))
    .digest("hex")
    .slice(0, 32);
}
