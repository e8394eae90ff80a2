/**
 * What a baseline has seen, kept in the model's manifest: anything outside these sets in a
 * live window is novel. The scorer always scores windows that carry novelty, and explanations
 * name the novel items ("connected to 10.0.0.9:4444, never seen in its baseline").
 */
import { z } from "zod";
import type { WindowRecord } from "../contracts/index.js";

/** Bounded, so a noisy baseline cannot bloat the manifest; `truncated` says a set was cut. */
export const NOVELTY_MAX = 5000;

export const noveltySchema = z.object({
  /** Executable paths (masked, as in windows). */
  execs: z.array(z.string()),
  /** "direction protocol address:port" of network entries. */
  destinations: z.array(z.string()),
  /** "class:op" file accesses, e.g. "secret:read". */
  fileAccess: z.array(z.string()),
  /** Privilege-relevant syscalls seen at all. */
  privilege: z.array(z.string()),
  truncated: z.array(z.string()),
  /** The most file deletions (unlink, unlinkat, rmdir) any baseline window made. */
  maxDeletes: z.number().int().nonnegative().optional(),
});

const DELETE_SYSCALLS = new Set(["unlink", "unlinkat", "rmdir"]);

/**
 * A window's deletions beyond this are a mass deletion: MASS_DELETE_FACTOR times the most its
 * baseline ever made in a window, and at least MIN_MASS_DELETE (a small workspace wiped).
 */
export const MASS_DELETE_FACTOR = 3;
export const MIN_MASS_DELETE = 5;

/** File deletions in a window: n-grams ending in unlink, unlinkat or rmdir, by count. */
export function deletions(w: WindowRecord): number {
  const n = w.syscalls.n;
  let total = 0;
  for (const g of w.syscalls.ngrams) {
    if (DELETE_SYSCALLS.has(g[n - 1] as string)) total += g[n] as number;
  }
  return total;
}

export type NoveltySets = z.infer<typeof noveltySchema>;

/**
 * "direction protocol address:port". Unix socket paths often carry a pid or counter
 * (/tmp/tsx-0/22197.pipe); their digit runs become "#" so that one socket is one destination.
 */
export function destinationKey(n: WindowRecord["net"][number]): string {
  const address = n.family === "unix" ? n.address.replace(/\d+/g, "#") : n.address;
  return `${n.direction} ${n.protocol} ${address}:${n.port}`;
}

export function noveltySets(windows: readonly WindowRecord[]): NoveltySets {
  const sets = {
    execs: new Set<string>(),
    destinations: new Set<string>(),
    fileAccess: new Set<string>(),
    privilege: new Set<string>(),
  };
  let maxDeletes = 0;
  for (const w of windows) {
    maxDeletes = Math.max(maxDeletes, deletions(w));
    for (const e of w.execs) sets.execs.add(e.path);
    for (const n of w.net) sets.destinations.add(destinationKey(n));
    for (const f of w.files) sets.fileAccess.add(`${f.class}:${f.op}`);
    for (const p of w.privilege) sets.privilege.add(p.syscall);
  }
  const truncated: string[] = [];
  const out = (name: keyof typeof sets) => {
    const sorted = [...sets[name]].sort();
    if (sorted.length > NOVELTY_MAX) truncated.push(name);
    return sorted.slice(0, NOVELTY_MAX);
  };
  return {
    execs: out("execs"),
    destinations: out("destinations"),
    fileAccess: out("fileAccess"),
    privilege: out("privilege"),
    truncated,
    maxDeletes,
  };
}

/** The items of `w` its baseline never saw, by kind. */
/**
 * Lookup sets per novelty object, built once: the scorer calls novelItems for every window with
 * the same (loaded model's) sets, which hold up to NOVELTY_MAX items each.
 */
const lookups = new WeakMap<
  NoveltySets,
  Record<"execs" | "destinations" | "fileAccess" | "privilege", Set<string>>
>();

export function novelItems(sets: NoveltySets, w: WindowRecord): { kind: string; value: string }[] {
  let seen = lookups.get(sets);
  if (seen === undefined) {
    seen = {
      execs: new Set(sets.execs),
      destinations: new Set(sets.destinations),
      fileAccess: new Set(sets.fileAccess),
      privilege: new Set(sets.privilege),
    };
    lookups.set(sets, seen);
  }
  const out: { kind: string; value: string }[] = [];
  for (const e of w.execs) if (!seen.execs.has(e.path)) out.push({ kind: "exec", value: e.path });
  for (const n of w.net) {
    const key = destinationKey(n);
    if (!seen.destinations.has(key)) out.push({ kind: "destination", value: key });
  }
  for (const f of w.files) {
    const key = `${f.class}:${f.op}`;
    if (!seen.fileAccess.has(key)) out.push({ kind: "file", value: `${f.path} (${key})` });
  }
  for (const p of w.privilege) {
    if (!seen.privilege.has(p.syscall)) out.push({ kind: "privilege", value: p.syscall });
  }
  if (sets.maxDeletes !== undefined) {
    const deleted = deletions(w);
    if (deleted > Math.max(MIN_MASS_DELETE, MASS_DELETE_FACTOR * sets.maxDeletes)) {
      out.push({
        kind: "deletions",
        value: `deleted ${deleted} files (at most ${sets.maxDeletes} a window in its baseline)`,
      });
    }
  }
  return out;
}
