/**
 * Raw syscall traces (ADFA-LD and the like) as windows, so evaluation runs them through the
 * same featurization as live data: one trace is one window.
 */
import { WINDOW_SCHEMA, type WindowRecord } from "../contracts/window.js";
import { ErrorCodes, VigilError } from "../errors.js";

export interface TraceMeta {
  agentType: string;
  agentId: string;
  host: string;
  seq: number;
}

/**
 * A schema-valid vigil.window.v1 holding the trace's n-grams, counted over a sliding window of
 * n names (listed by descending count, ties by key, like the sensor's); every other list is
 * empty. Times are synthetic (second `seq` after the epoch, one second long) so the record is
 * deterministic.
 */
export function windowFromTrace(
  syscallNames: readonly string[],
  n: number,
  meta: TraceMeta,
): WindowRecord {
  if (!Number.isInteger(n) || n < 1 || n > 4) {
    throw new VigilError(ErrorCodes.CONFIG_INVALID, `n-gram size ${n} is not 1..4`, {
      hint: "use n between 1 and 4, the sizes a window can carry",
    });
  }
  const bad = syscallNames.findIndex((s) => typeof s !== "string" || s === "" || s.includes(","));
  if (bad >= 0) {
    throw new VigilError(
      ErrorCodes.CAPTURE_INVALID,
      `trace ${meta.agentId}: syscall ${bad} ${JSON.stringify(syscallNames[bad])} is not a name`,
      { hint: "map syscall numbers to non-empty names (without commas) before windowing" },
    );
  }
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= syscallNames.length; i++) {
    const key = syscallNames.slice(i, i + n).join(",");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const ngrams = [...counts.entries()]
    .sort(([ka, a], [kb, b]) => b - a || (ka < kb ? -1 : ka > kb ? 1 : 0))
    .map(([key, count]): (string | number)[] => [...key.split(","), count]);
  return {
    schema: WINDOW_SCHEMA,
    host: meta.host,
    agentType: meta.agentType,
    agentId: meta.agentId,
    pid: 0,
    seq: meta.seq,
    start: new Date(meta.seq * 1000).toISOString(),
    end: new Date((meta.seq + 1) * 1000).toISOString(),
    final: true,
    syscalls: { n, total: Math.max(0, syscallNames.length - n + 1), ngrams },
    execs: [],
    files: [],
    net: [],
    privilege: [],
    processes: { started: 0, exited: 0, live: 0 },
    drops: {},
    truncated: {},
  };
}
