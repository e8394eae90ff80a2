/**
 * The novel items of each agent instance's recent windows, so that the scorer can see a window
 * with its neighbours (explain.ts, completingPair). Windows are handled concurrently and may
 * arrive out of order, so a window looks both ways (seq - 1 and seq + 1). Bounded: the least
 * recently seen instance is forgotten first.
 */
import type { VigilAlert, WindowRecord } from "../contracts/index.js";
import type { NoveltySets } from "../features/novelty.js";
import { completingPair, windowNovelty } from "./explain.js";

type Novel = VigilAlert["explanation"]["novel"][number];

export class RecentNovelty {
  private readonly byInstance = new Map<string, Map<number, Novel[]>>();

  constructor(private readonly maxInstances = 10_000) {}

  /**
   * What the scorer names as new in `w`: its own novel items (windowNovelty) and those of its
   * neighbours that complete a new program plus a new destination with them (completingPair).
   * The one place this is composed, so that tools replaying the scorer decide as it does.
   */
  novelty(sets: NoveltySets, w: WindowRecord): Novel[] {
    const own = windowNovelty(sets, w);
    return [...own, ...completingPair(own, this.neighbours(w, own))];
  }

  /** Records `w`'s novel items and returns those of its neighbours seen so far. */
  neighbours(w: WindowRecord, novel: readonly Novel[]): Novel[] {
    const key = `${w.host}\u0000${w.agentId}`;
    let seen = this.byInstance.get(key);
    if (seen) {
      this.byInstance.delete(key); // re-inserted below: most recently seen last
    } else {
      seen = new Map();
      if (this.byInstance.size >= this.maxInstances) {
        const oldest = this.byInstance.keys().next().value;
        if (oldest !== undefined) this.byInstance.delete(oldest);
      }
    }
    this.byInstance.set(key, seen);
    const out = [...(seen.get(w.seq - 1) ?? []), ...(seen.get(w.seq + 1) ?? [])];
    if (novel.length > 0) seen.set(w.seq, [...novel]);
    for (const seq of seen.keys()) if (Math.abs(seq - w.seq) > 2) seen.delete(seq);
    return out;
  }

  get instances(): number {
    return this.byInstance.size;
  }
}
