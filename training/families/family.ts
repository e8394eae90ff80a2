/**
 * A model family as the evaluation sees it: learn from normal traces only, then score any
 * trace (higher = more anomalous). A trace is one process's syscalls by name, oldest first;
 * on ADFA-LD one trace is one window. Families never see attack data.
 */
export interface TraceFamily {
  readonly name: string;
  /** Learns from normal traces. Same traces + same seed -> same model. */
  fit(
    train: readonly (readonly string[])[],
    options: { seed: number; log?: (line: string) => void },
  ): Promise<void>;
  /** Anomaly scores, one per trace, in order. */
  score(traces: readonly (readonly string[])[]): Promise<Float64Array>;
  /** Hyper-parameters and sizes, for the report. */
  describe(): Record<string, unknown>;
}
