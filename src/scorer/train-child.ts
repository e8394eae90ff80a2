/**
 * Learning mode's trainer: `vigil train` in a child process, so the scorer's event loop and
 * memory are not taken by tfjs, run with the same code (source or build) as this process.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type ErrorCode, ErrorCodes, VigilError } from "../errors.js";
import { repoRoot } from "../main.js";
import type { Logger } from "../telemetry/logger.js";
import type { TrainFunction } from "./learning.js";

export interface ChildTrainOptions {
  logger: Logger;
  /** Extra `vigil train` flags, e.g. ["--epochs", "5"]. */
  args?: readonly string[];
}

/**
 * The Node arguments that run the `vigil` CLI the way this process runs: the built
 * dist/src/cli/main.js when this file is compiled, else src/cli/main.ts through tsx. Matching
 * the running code (rather than preferring a build that may be older) trains with the same
 * feature code the scorer scores with.
 */
export function vigilCliArgs(): { cwd: string; args: string[] } {
  const root = repoRoot();
  const fromSource = fileURLToPath(import.meta.url).endsWith(".ts");
  return {
    cwd: root,
    args: fromSource
      ? ["--import", "tsx", join(root, "src", "cli", "main.ts")]
      : [join(root, "dist", "src", "cli", "main.js")],
  };
}

const PROGRESS = /epoch \d+\/\d+/;

/**
 * A TrainFunction that runs `vigil train` in a child process, so the scorer's event loop and
 * memory are not taken by tfjs. Its stderr lines go to the logger (epoch progress at debug);
 * a failure rejects with the child's own error (code and fix, when it printed one).
 */
export function trainInChildProcess(o: ChildTrainOptions): TrainFunction {
  return (job) =>
    new Promise<void>((resolve, reject) => {
      const { cwd, args } = vigilCliArgs();
      const log = o.logger.child({ agentType: job.agentType, child: "vigil train" });
      const child = spawn(
        process.execPath,
        [
          ...args,
          "train",
          "--agent-type",
          job.agentType,
          "--data",
          job.dataDir,
          "--out",
          job.out,
          "--seed",
          String(job.seed),
          ...(o.args ?? []),
        ],
        {
          cwd,
          stdio: ["ignore", "pipe", "pipe"],
          ...(job.signal ? { signal: job.signal } : {}),
        },
      );
      const tail: string[] = [];
      const stderr = createInterface({ input: child.stderr });
      stderr.on("line", (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        if (PROGRESS.test(line)) log.debug(line);
        else log.info(line);
      });
      createInterface({ input: child.stdout }).on("line", (line) => log.debug(line));
      child.on("error", (e) => reject(e));
      child.on("close", (code, signal) => {
        if (code === 0) resolve();
        else reject(childError(tail, code, signal));
      });
    });
}

/** `vigil: message\n  fix: hint\n  (VIGIL_ERR_X)` from the CLI, as the VigilError it was. */
function childError(tail: string[], code: number | null, signal: string | null): Error {
  const at = tail.findLastIndex((l) => l.startsWith("vigil: "));
  const exit = signal ? `killed by ${signal}` : `exit code ${code}`;
  if (at < 0) return new Error(`vigil train failed (${exit}): ${tail.slice(-5).join(" | ")}`);
  const block = tail.slice(at);
  const message = (block[0] ?? "").slice("vigil: ".length);
  const hint = block.find((l) => l.startsWith("  fix: "))?.slice("  fix: ".length);
  const errCode = /\((VIGIL_ERR_[A-Z_]+)\)/.exec(block.join("\n"))?.[1];
  const known = Object.values(ErrorCodes).find((c) => c === errCode) as ErrorCode | undefined;
  if (known === undefined) return new Error(`vigil train failed (${exit}): ${block.join(" ")}`);
  return new VigilError(known, message, hint === undefined ? {} : { hint });
}
