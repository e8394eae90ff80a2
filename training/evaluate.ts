/**
 * The ADFA-LD protocol: each family fits on the training traces only, then scores every
 * validation trace (negatives) and attack trace (positives); AUC and the false-alarm rate at
 * 90 % detection, overall and per attack family.
 */
import { performance } from "node:perf_hooks";
import type { AdfaLdData } from "./adfa-ld.js";
import type { TraceFamily } from "./families/family.js";
import { farAtDetection, type RocPoint, rocAuc, rocCurve } from "./metrics.js";

export interface FamilyResult {
  auc: number;
  far_at_dr90: number;
  /** AUC of validation traces against each attack family alone. */
  attackFamilies: Record<string, number>;
  fitSeconds: number;
  scoreSeconds: number;
  params: Record<string, unknown>;
}

export interface AdfaLdEvaluation {
  families: Record<string, FamilyResult>;
  /** The family with the highest AUC (ties: lower FAR, then first given). */
  best: string;
  roc: Record<string, RocPoint[]>;
  counts: {
    train: number;
    validation: number;
    attack: number;
    attackFamilies: Record<string, number>;
  };
}

export async function evaluateAdfaLd(
  families: readonly TraceFamily[],
  data: AdfaLdData,
  options: { seed: number; log?: (line: string) => void },
): Promise<AdfaLdEvaluation> {
  const log = options.log ?? (() => {});
  const attackTraces = data.attack.map((a) => a.trace);
  const byFamily = new Map<string, number[]>();
  data.attack.forEach((a, i) => {
    const list = byFamily.get(a.family) ?? [];
    list.push(i);
    byFamily.set(a.family, list);
  });
  const result: AdfaLdEvaluation = {
    families: {},
    best: "",
    roc: {},
    counts: {
      train: data.train.length,
      validation: data.validation.length,
      attack: data.attack.length,
      attackFamilies: Object.fromEntries([...byFamily].map(([f, idx]) => [f, idx.length])),
    },
  };
  for (const family of families) {
    log(`${family.name}: fitting on ${data.train.length} traces`);
    let t0 = performance.now();
    // Families name themselves in their own log lines.
    await family.fit(data.train, { seed: options.seed, log });
    const fitSeconds = (performance.now() - t0) / 1000;
    t0 = performance.now();
    const neg = await family.score(data.validation);
    const pos = await family.score(attackTraces);
    const scoreSeconds = (performance.now() - t0) / 1000;
    const attackFamilies: Record<string, number> = {};
    for (const [name, idx] of byFamily) {
      attackFamilies[name] = rocAuc(
        neg,
        idx.map((i) => pos[i] as number),
      );
    }
    const r: FamilyResult = {
      auc: rocAuc(neg, pos),
      far_at_dr90: farAtDetection(neg, pos, 0.9),
      attackFamilies,
      fitSeconds,
      scoreSeconds,
      params: family.describe(),
    };
    result.families[family.name] = r;
    result.roc[family.name] = rocCurve(neg, pos);
    log(
      `${family.name}: AUC ${r.auc.toFixed(3)}, FAR@90% ${r.far_at_dr90.toFixed(3)} ` +
        `(fit ${fitSeconds.toFixed(1)} s, score ${scoreSeconds.toFixed(1)} s)`,
    );
  }
  let best: [string, FamilyResult] | undefined;
  for (const entry of Object.entries(result.families)) {
    const [, r] = entry;
    if (
      best === undefined ||
      r.auc > best[1].auc ||
      (r.auc === best[1].auc && r.far_at_dr90 < best[1].far_at_dr90)
    ) {
      best = entry;
    }
  }
  result.best = best?.[0] ?? "";
  return result;
}
