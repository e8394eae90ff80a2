/**
 * What an evaluation keeps on disk as it goes, so that an interrupted run resumes where it
 * stopped: the options it was started with, each agent's baseline as one capture per session,
 * its trained model, and one JSON line per finished held-out session (its steps, windows and
 * alerts). A session that had not been written when the run stopped is run again.
 */
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { MANIFEST_FILE, writeCapture } from "../../src/bus/capture.js";
import type { VigilAlert, WindowRecord } from "../../src/contracts/index.js";
import { ErrorCodes, VigilError } from "../../src/errors.js";
import type { StepRecord } from "../agents/model-server.js";
import type { ProjectKind } from "../agents/workload.js";
import type { PlannedTest } from "./plan.js";

export interface ReceivedAlertRecord {
  alert: VigilAlert;
  /** When it reached the bus (ms epoch). */
  at: number;
}

/** A held-out session, benign or attacked, as measured. */
export interface SessionRecord {
  id: string;
  agent: string;
  kind: "benign" | "attack";
  project: ProjectKind;
  seed: number;
  startedAt: number;
  endedAt: number;
  exitCode: number | null;
  timedOut: boolean;
  /** The instance Vigil tracked the agent as (from its windows), if it did. */
  agentId?: string;
  steps: StepRecord[];
  windows: WindowRecord[];
  alerts: ReceivedAlertRecord[];
  /** Diagnostics when the agent failed. */
  stderr?: string;
  attack?: {
    test: PlannedTest;
    /** Index of the attack's step in `steps`. */
    atStep: number;
    /** What the loopback sinks received during the session. */
    sinks?: unknown;
    /** Rewrites of remote hosts and URLs to the sinks. */
    rewrites: { from: string; to: string }[];
    cleanup?: { exitCode: number | null; output: string };
  };
}

/** An Atomic test that was due to run and did not: its prerequisites were not met. */
export interface SkippedRecord {
  id: string;
  agent: string;
  kind: "skipped";
  test: PlannedTest;
  reason: string;
}

export type HeldOutRecord = SessionRecord | SkippedRecord;

export class EvalStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  /**
   * Records the options a run is started with; a resumed run must use the same ones, since
   * what is kept was measured under them.
   */
  checkOptions(options: Record<string, unknown>): void {
    const file = join(this.dir, "options.json");
    const text = `${JSON.stringify(options, null, 2)}\n`;
    if (existsSync(file)) {
      const kept = readFileSync(file, "utf8");
      if (kept !== text) {
        throw new VigilError(
          ErrorCodes.USAGE,
          `${this.dir} holds a run started with other options:\n${kept}`,
          {
            hint: "resume with the same options, or give another --out (or remove its data/ directory) to start anew",
          },
        );
      }
      return;
    }
    writeFileSync(file, text);
  }

  private baselineDir(agent: string): string {
    return join(this.dir, "baseline", agent);
  }

  /** The complete baseline captures of `agent` (one per session), and their window count. */
  baseline(agent: string): { dirs: string[]; windows: number } {
    const root = this.baselineDir(agent);
    if (!existsSync(root)) return { dirs: [], windows: 0 };
    const n = (d: string) => Number(/-(\d+)$/.exec(d)?.[1] ?? 0);
    const dirs = readdirSync(root)
      .filter((d) => !d.endsWith(".partial"))
      .sort((a, b) => n(a) - n(b) || a.localeCompare(b))
      .map((d) => join(root, d))
      .filter((d) => existsSync(join(d, MANIFEST_FILE)));
    const windows = dirs.reduce(
      (n, d) =>
        n +
        (
          JSON.parse(readFileSync(join(d, MANIFEST_FILE), "utf8")) as {
            counts: { windows: number };
          }
        ).counts.windows,
      0,
    );
    return { dirs, windows };
  }

  async addBaseline(
    agent: string,
    session: string,
    windows: readonly WindowRecord[],
  ): Promise<void> {
    const dir = join(this.baselineDir(agent), session);
    if (existsSync(dir)) return;
    // Written aside and renamed: a run stopped mid-write leaves no capture that looks complete.
    const partial = `${dir}.partial`;
    rmSync(partial, { recursive: true, force: true });
    await writeCapture(partial, agent, windows);
    renameSync(partial, dir);
  }

  modelDir(agent: string): string {
    return join(this.dir, "models", agent);
  }

  private sessionsFile(agent: string): string {
    return join(this.dir, "sessions", `${agent}.jsonl`);
  }

  records(agent: string): HeldOutRecord[] {
    const file = this.sessionsFile(agent);
    if (!existsSync(file)) return [];
    const text = readFileSync(file, "utf8");
    // A run that stopped mid-line: the next record must start on a line of its own.
    if (text.length > 0 && !text.endsWith("\n")) appendFileSync(file, "\n");
    const out: HeldOutRecord[] = [];
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as HeldOutRecord);
      } catch {
        // The run stopped while writing this line: the session is run again.
      }
    }
    return out;
  }

  append(record: HeldOutRecord): void {
    mkdirSync(join(this.dir, "sessions"), { recursive: true });
    appendFileSync(this.sessionsFile(record.agent), `${JSON.stringify(record)}\n`);
  }
}
