/**
 * The scorer's internal contracts: what the pieces (registry, sampler, explainer, alert state,
 * delivery, learning) hand each other. scorer.ts composes them; each piece is testable alone.
 */
import type { VigilAlert, WindowRecord } from "../contracts/index.js";
import type { ModelManifest } from "../model/manifest.js";
import type { WindowModel, WindowScore } from "../model/window-model.js";

/** One agent type's model state, as /readyz, /status and vigil_scorer_model_status show it. */
export type ModelState =
  /** A model is loaded and scoring. */
  | { state: "active"; version: string; family: ModelManifest["family"]; loadedAt: string }
  /** No model directory yet: windows go to learning mode (if enabled). */
  | { state: "missing" }
  /**
   * The newest model directory cannot be used (corrupt, sha256 mismatch, unloadable). If an
   * older version was active it keeps scoring (`fallback`); the type is unhealthy either way.
   */
  | { state: "broken"; version: string; error: string; fallback?: string };

export interface ModelRegistryView {
  /** The active model of an agent type, or undefined (missing, or broken without fallback). */
  get(agentType: string): WindowModel | undefined;
  state(agentType: string): ModelState;
  /** Every agent type with a models/<type>/ directory, and its state. */
  states(): ReadonlyMap<string, ModelState>;
}

/** A window that passed the threshold, with what explains it. */
export interface Anomaly {
  window: WindowRecord;
  manifest: ModelManifest;
  scored: WindowScore;
  novel: { kind: string; value: string }[];
}

/** What the explainer derives from an anomaly; alert-state adds fingerprint and times. */
export interface Explained {
  severity: VigilAlert["severity"];
  summary: string;
  explanation: VigilAlert["explanation"];
}

/** What the alert state machine decides for one scored window of one instance. */
export type AlertAction =
  | { kind: "fire"; alert: VigilAlert }
  | { kind: "resend"; alert: VigilAlert }
  | { kind: "resolve"; alert: VigilAlert }
  /** Anomalous again while its alert is active and the resend interval has not passed. */
  | { kind: "suppress"; fingerprint: string }
  | { kind: "none" };
