/**
 * NATS subjects are versioned contracts. Tokens that come from outside (agent types, host
 * names, event kinds) are sanitised so that no one can inject a `.` (a new level), `*` or `>`
 * (wildcards) or white space into a subject.
 */
export const SUBJECT_ROOT = "vigil.v1";
export const DLQ_SUBJECT = `${SUBJECT_ROOT}.dlq`;

/** The JetStream streams that hold those subjects. */
export const STREAMS = {
  windows: "VIGIL_WINDOWS",
  events: "VIGIL_EVENTS",
  alerts: "VIGIL_ALERTS",
  dlq: "VIGIL_DLQ",
} as const;

const UNSAFE = /[^A-Za-z0-9_-]/g;
const MAX_TOKEN = 64;

/** One subject token: only [A-Za-z0-9_-]; everything else becomes "_"; never empty. */
export function subjectToken(raw: string): string {
  const t = raw.replace(UNSAFE, "_").slice(0, MAX_TOKEN);
  return t === "" ? "_" : t;
}

export function windowsSubject(agentType: string, host: string): string {
  return `${SUBJECT_ROOT}.windows.${subjectToken(agentType)}.${subjectToken(host)}`;
}

export function eventsSubject(kind: string, agentType: string, host: string): string {
  return `${SUBJECT_ROOT}.events.${subjectToken(kind)}.${subjectToken(agentType)}.${subjectToken(host)}`;
}

export function alertsSubject(agentType: string): string {
  return `${SUBJECT_ROOT}.alerts.${subjectToken(agentType)}`;
}

/** Filter for one agent type's windows from every host (or every type with "*"). */
export function windowsFilter(agentType?: string): string {
  return `${SUBJECT_ROOT}.windows.${agentType === undefined ? "*" : subjectToken(agentType)}.*`;
}
