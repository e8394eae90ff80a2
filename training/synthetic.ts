/**
 * Synthetic anomalies for choosing a model family without attack data: held-out normal windows
 * with a documented perturbation added. They stand in for what a hijacked agent changes (new
 * syscall orderings, new programs and destinations, bursts of activity); the family that
 * separates them best from the untouched windows is kept. Real attacks are measured elsewhere
 * (ADFA-LD, the scenario evaluation): these only rank candidates on one agent type's data.
 */
import type { WindowRecord } from "../src/contracts/index.js";
import { prng } from "./random.js";

export const ANOMALY_KINDS = ["foreign-sequence", "new-behaviour", "burst"] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export const SYNTHETIC_PROTOCOL =
  "held-out (latest) normal windows vs copies of them with one perturbation each: " +
  "foreign-sequence (n-grams of baseline syscalls in random order, 10 % of the window's count), " +
  "new-behaviour (an exec of an unseen binary, a connection to an unseen destination, a secret " +
  "file read, a setuid call, and their syscalls), burst (every n-gram count x8); " +
  "the candidate with the highest ROC AUC over all kinds is chosen";

/**
 * One perturbed copy of each window per kind, seeded. `syscalls` is the baseline's syscall
 * names (the foreign n-grams are made of them, so only their order is new).
 */
export function syntheticAnomalies(
  windows: readonly WindowRecord[],
  syscalls: readonly string[],
  seed: number,
): { kind: AnomalyKind; window: WindowRecord }[] {
  const random = prng(seed ^ 0x2545f491);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(random() * a.length)] as T;
  const names = syscalls.length > 0 ? syscalls : ["read"];
  const out: { kind: AnomalyKind; window: WindowRecord }[] = [];
  for (const w of windows) {
    const n = w.syscalls.n;
    const total = Math.max(w.syscalls.total, 1);

    const foreign = clone(w);
    const added = Math.max(20, Math.round(total * 0.1));
    const grams = Math.max(1, Math.min(20, Math.round(added / 5)));
    for (let g = 0; g < grams; g++) {
      const gram: (string | number)[] = Array.from({ length: n }, () => pick(names));
      gram.push(Math.max(1, Math.round(added / grams)));
      foreign.syscalls.ngrams.push(gram);
    }
    foreign.syscalls.total += added;
    out.push({ kind: "foreign-sequence", window: foreign });

    const behaviour = clone(w);
    const pid = w.pid + 100_000;
    behaviour.execs.push({
      path: "/tmp/.vigil-synthetic/payload",
      argv: ["payload", "--connect", "127.0.0.1:4444"],
      pid,
      ppid: w.pid,
      uid: 0,
      count: 1,
    });
    behaviour.net.push({
      direction: "out",
      protocol: "tcp",
      family: "inet",
      address: "127.0.0.1",
      port: 4444,
      connections: 1,
      bytesOut: 4096,
      bytesIn: 512,
      sends: 4,
      recvs: 2,
    });
    behaviour.files.push({ path: "~/.ssh/id_ed25519", class: "secret", op: "read", count: 1 });
    behaviour.privilege.push({ syscall: "setuid", args: ["0"], count: 1 });
    const acts = ["execve", "socket", "connect", "openat", "read", "sendto", "setuid"];
    for (let i = 0; i + n <= acts.length; i++)
      behaviour.syscalls.ngrams.push([...acts.slice(i, i + n), 1]);
    behaviour.syscalls.total += acts.length - n + 1;
    behaviour.processes.started += 1;
    out.push({ kind: "new-behaviour", window: behaviour });

    const burst = clone(w);
    for (const g of burst.syscalls.ngrams) g[n] = (g[n] as number) * 8;
    burst.syscalls.total *= 8;
    out.push({ kind: "burst", window: burst });
  }
  return out;
}

function clone(w: WindowRecord): WindowRecord {
  return structuredClone(w) as WindowRecord;
}
