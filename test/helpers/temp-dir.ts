/**
 * A temporary directory that is removed when the test process exits (each test file runs in its
 * own process), for fixtures and stores a test cannot easily remove itself: a suite run leaves
 * nothing in the temporary directory.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made: string[] = [];
process.once("exit", () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** mkdtemp in the system's temporary directory, removed at exit. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
