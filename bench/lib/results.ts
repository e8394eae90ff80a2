/** What every benchmark writes: its results file, rounded and in the repository's format. */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus, release } from "node:os";
import { join } from "node:path";

export function writeResults(path: string, result: unknown, repo: string): void {
  const round = (_: string, v: unknown) =>
    typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v;
  writeFileSync(path, `${JSON.stringify(result, round, 2)}\n`);
  try {
    // In the repository's own format, so that `npm run lint` passes on a fresh result.
    execFileSync(join(repo, "node_modules", ".bin", "biome"), ["format", "--write", path], {
      stdio: "ignore",
    });
  } catch {
    // Formatting is cosmetic: the numbers are written either way.
  }
}

/** The machine a result was measured on: absolute numbers mean little without it. */
export function machineInfo(): { kernel: string; cpu: string; nproc: number; node: string } {
  return {
    kernel: release(),
    cpu: cpus()[0]?.model ?? "unknown",
    nproc: availableParallelism(),
    node: process.version,
  };
}
