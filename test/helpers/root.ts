/**
 * Tests that need root (BPF) run in CI, which is root. Elsewhere they are skipped with a
 * reason; in CI a non-root run is a failure, never a silent skip.
 */
import type { TestContext } from "node:test";

export const IS_ROOT = process.getuid?.() === 0;

/** Options for `describe`/`test`: skip when not root, outside CI only. */
export function rootOnly(): { skip: string | false } {
  if (IS_ROOT) return { skip: false };
  if (process.env.CI) throw new Error("BPF tests need root, and CI must run them as root");
  return { skip: "needs root (eBPF); CI runs it as root" };
}

export function requireRoot(t: TestContext): boolean {
  const { skip } = rootOnly();
  if (skip) t.skip(skip);
  return !skip;
}
