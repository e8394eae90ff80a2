/**
 * vigil.window.v1: what the sensor says about one agent instance over one window. The zod
 * schema is the single source; the TypeScript type is derived from it. Additive changes keep
 * v1; anything else is v2 with a new subject.
 */
import { z } from "zod";
import { agentIdSchema, agentTypeSchema, args, hostSchema, LIMITS, text } from "./ids.js";

export const WINDOW_SCHEMA = "vigil.window.v1" as const;

export const FILE_CLASSES = ["workspace", "home", "system", "secret", "temp", "other"] as const;

const count = z.number().int().nonnegative();

/**
 * What the sensor can lose, a closed set: a metric label each, so a peer cannot grow the label
 * set. The first five are the kernel's (bpf/include/vigil_wire.h); the sensor adds the rest.
 */
export const WINDOW_DROPS = [
  "ngram_map_full",
  "flow_map_full",
  "ringbuf_full",
  "string_unreadable",
  "task_storage",
  "helper_restart",
  "drain_timeout",
] as const;
export type WindowDrop = (typeof WINDOW_DROPS)[number];

/** The lists a window caps. */
export const WINDOW_LISTS = ["execs", "files", "net", "privilege", "ngrams"] as const;

export const windowExecSchema = z.object({
  path: text,
  argv: args,
  pid: z.number().int(),
  ppid: z.number().int(),
  uid: z.number().int(),
  count,
});

export const windowFileSchema = z.object({
  path: text,
  class: z.enum(FILE_CLASSES),
  op: z.enum(["read", "write"]),
  count,
});

export const windowNetSchema = z.object({
  /** out: this agent connected or sent; in: it accepted; listen: it bound or listened. */
  direction: z.enum(["out", "in", "listen"]),
  protocol: z.string().max(32),
  family: z.enum(["inet", "inet6", "unix", "other"]),
  address: text,
  port: z.number().int().min(0).max(65535),
  connections: count,
  bytesOut: count,
  bytesIn: count,
  sends: count,
  recvs: count,
});

export const windowPrivilegeSchema = z.object({
  syscall: z.string().max(64),
  args,
  count,
});

export const windowSchema = z.object({
  schema: z.literal(WINDOW_SCHEMA),
  host: hostSchema,
  agentType: agentTypeSchema,
  agentId: agentIdSchema,
  /** pid of the instance's first process (the one `vigil exec` started or a rule matched). */
  pid: z.number().int(),
  /**
   * The real uid that first process runs as (as of its latest exec). Decides whether the
   * window may become baseline (scorer.learning.uids). Added within v1: windows from before
   * it lack it, and are never learned.
   */
  uid: z.number().int().min(0).max(0xffffffff).optional(),
  seq: z.number().int().nonnegative(),
  start: z.string().datetime(),
  end: z.string().datetime(),
  /** The instance ended (its last process exited) in this window. */
  final: z.boolean(),
  syscalls: z
    .object({
      n: z.number().int().min(1).max(4),
      total: count,
      /** [[name, ..., name, count], ...]: n syscall names, then how often they followed. */
      ngrams: z.custom<(string | number)[][]>(
        (v) => Array.isArray(v) && v.length <= LIMITS.ngrams,
        `expected an array of at most ${LIMITS.ngrams} n-grams`,
      ),
    })
    .superRefine((s, ctx) => {
      // Checked by hand: zod's per-element union costs ~3.6 us an n-gram, and a window carries
      // thousands; this loop costs a few nanoseconds each.
      const bad = s.ngrams.findIndex((g) => !isNgram(g, s.n));
      if (bad >= 0) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["ngrams", bad],
          message: `expected ${s.n} syscall names and a count`,
        });
      }
    }),
  execs: z.array(windowExecSchema).max(LIMITS.items),
  files: z.array(windowFileSchema).max(LIMITS.items),
  net: z.array(windowNetSchema).max(LIMITS.items),
  privilege: z.array(windowPrivilegeSchema).max(LIMITS.items),
  processes: z.object({ started: count, exited: count, live: count }),
  /** Sensor-wide losses during this window (kernel maps full, ring buffer full, helper restart). */
  drops: z.record(z.enum(WINDOW_DROPS), count),
  /** Lists cut at their cap in this window, with how many items were left out. */
  truncated: z.record(z.enum(WINDOW_LISTS), count),
});

export type WindowRecord = z.infer<typeof windowSchema>;
export type WindowExec = z.infer<typeof windowExecSchema>;
export type WindowFile = z.infer<typeof windowFileSchema>;
export type WindowNet = z.infer<typeof windowNetSchema>;
export type WindowPrivilege = z.infer<typeof windowPrivilegeSchema>;

function isNgram(g: unknown, n: number): boolean {
  if (!Array.isArray(g) || g.length !== n + 1) return false;
  for (let i = 0; i < n; i++) {
    const name = g[i];
    if (typeof name !== "string" || name === "" || name.length > 64) return false;
  }
  const c = g[n];
  return typeof c === "number" && Number.isInteger(c) && c >= 0;
}
