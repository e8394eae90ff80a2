/**
 * Alertmanager API v2: a vigil.alert.v1 becomes a postable alert, and a client posts alerts to
 * every Alertmanager of an HA cluster (Alertmanager HA expects each client to send to all; the
 * cluster dedupes notifications).
 */
import type { VigilAlert } from "../contracts/index.js";
import { ErrorCodes, VigilError } from "../errors.js";

/** One alert as `POST /api/v2/alerts` takes it. */
export interface AlertmanagerAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
}

/** Bounds keep one odd alert (a huge path, hundreds of novel items) from bloating Alertmanager. */
export const ANNOTATION_MAX_CHARS = 1024;
export const EXPLANATION_MAX_CHARS = 4096;
const MAX_FEATURES = 5;
const MAX_NOVEL = 10;
const LINE_MAX_CHARS = 256;
const ERROR_BODY_MAX_CHARS = 300;

/** Cuts `s` to at most `max` characters, marking the cut. */
export function bounded(s: string, max = ANNOTATION_MAX_CHARS): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(4)));
}

/**
 * The explanation as lines a person reads in a notification: the features that moved the
 * score most ("name: observed X vs baseline Y"), then what the baseline never saw
 * ("kind: value").
 */
export function explanationText(e: VigilAlert["explanation"]): string {
  const lines: string[] = [];
  const features = [...e.features].sort(
    (a, b) => Math.abs(b.contribution) - Math.abs(a.contribution),
  );
  if (features.length > 0) lines.push("Top features:");
  for (const f of features.slice(0, MAX_FEATURES)) {
    lines.push(
      bounded(
        `- ${f.name}: observed ${num(f.observed)} vs baseline ${num(f.baseline)}`,
        LINE_MAX_CHARS,
      ),
    );
  }
  if (features.length > MAX_FEATURES) lines.push(`(+${features.length - MAX_FEATURES} more)`);
  if (e.novel.length > 0) lines.push("Never seen in the baseline:");
  for (const n of e.novel.slice(0, MAX_NOVEL)) {
    lines.push(bounded(`- ${n.kind}: ${n.value}`, LINE_MAX_CHARS));
  }
  if (e.novel.length > MAX_NOVEL) lines.push(`(+${e.novel.length - MAX_NOVEL} more)`);
  return bounded(lines.join("\n"), EXPLANATION_MAX_CHARS);
}

export function toAlertmanagerAlert(a: VigilAlert): AlertmanagerAlert {
  const out: AlertmanagerAlert = {
    // Alertmanager identifies an alert by its label set. agent_id is a label so that two
    // instances of one agent type on one host stay two alerts instead of overwriting each
    // other; the episode fingerprint is not, so a new episode of an instance is the same
    // Alertmanager alert firing again (it groups and silences like one).
    labels: {
      alertname: a.alertname,
      agent_type: a.agentType,
      host: a.host,
      agent_id: a.agentId,
      severity: a.severity,
    },
    annotations: {
      summary: bounded(a.summary),
      explanation: explanationText(a.explanation),
      score: num(a.score),
      threshold: num(a.threshold),
      agent_id: bounded(a.agentId),
      window_start: a.windowStart,
      window_end: a.windowEnd,
      model_version: bounded(a.modelVersion),
      fingerprint: bounded(a.fingerprint),
    },
    startsAt: a.startsAt,
  };
  if (a.endsAt !== undefined) {
    // Alertmanager refuses (400) an alert that ends before it starts; that alert would be
    // retried forever, so a clock skew between the two times resolves it at its start.
    out.endsAt = Date.parse(a.endsAt) < Date.parse(a.startsAt) ? a.startsAt : a.endsAt;
  }
  return out;
}

export interface AlertmanagerClientOptions {
  /** Base URLs (e.g. http://127.0.0.1:9093); empty = deliveries are a no-op. */
  urls: string[];
  /** Per request. */
  timeoutMs: number;
}

export class AlertmanagerClient {
  readonly urls: readonly string[];
  readonly timeoutMs: number;

  constructor(options: AlertmanagerClientOptions) {
    this.urls = options.urls.map((u) => u.trim().replace(/\/+$/, "")).filter((u) => u !== "");
    this.timeoutMs = options.timeoutMs;
  }

  /**
   * POSTs the alerts to every Alertmanager at once; resolves when all accepted them. Rejects
   * with VIGIL_ERR_ALERTMANAGER naming each URL that failed and why; the ones that succeeded
   * got the alerts, and posting them again is harmless (Alertmanager merges by label set).
   */
  async post(alerts: AlertmanagerAlert[]): Promise<void> {
    if (this.urls.length === 0 || alerts.length === 0) return;
    const body = JSON.stringify(alerts);
    const results = await Promise.allSettled(this.urls.map((u) => this.postOne(u, body)));
    const failures: string[] = [];
    results.forEach((r, i) => {
      if (r.status === "rejected") failures.push(`${this.urls[i]}: ${(r.reason as Error).message}`);
    });
    if (failures.length > 0) {
      throw new VigilError(
        ErrorCodes.ALERTMANAGER,
        `Alertmanager did not take ${alerts.length} alert(s): ${failures.join("; ")}`,
        {
          hint: "check that Alertmanager runs and is reachable at each URL in alertmanager.urls; alerts wait in the VIGIL_ALERTS stream and are retried",
          cause: results.find((r) => r.status === "rejected")?.reason,
        },
      );
    }
  }

  private async postOne(base: string, body: string): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`${base}/api/v2/alerts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (err.name === "TimeoutError") throw new Error(`no answer within ${this.timeoutMs} ms`);
      // fetch says only "fetch failed"; the cause says why (ECONNREFUSED, ENOTFOUND, ...).
      throw new Error(err.cause?.message || err.cause?.code || err.message);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => "");
      throw new Error(
        `HTTP ${res.status}${text ? ` ${bounded(text.trim(), ERROR_BODY_MAX_CHARS)}` : ""}`,
      );
    }
    await res.arrayBuffer().catch(() => undefined);
  }
}
