/**
 * Detection metrics on anomaly scores (higher = more anomalous): negatives are normal traces,
 * positives are attacks. Pure functions, no I/O.
 */

export interface RocPoint {
  fpr: number;
  tpr: number;
}

type Scores = ArrayLike<number>;

/**
 * ROC AUC as the Mann-Whitney statistic: P(pos > neg) + 0.5 P(pos = neg). Tied scores share
 * their average rank, so a constant scorer gets exactly 0.5.
 */
export function rocAuc(neg: Scores, pos: Scores): number {
  const n = neg.length;
  const p = pos.length;
  if (n === 0 || p === 0) return Number.NaN;
  const all: { s: number; pos: boolean }[] = [];
  for (let i = 0; i < n; i++) all.push({ s: neg[i] as number, pos: false });
  for (let i = 0; i < p; i++) all.push({ s: pos[i] as number, pos: true });
  all.sort((a, b) => a.s - b.s);
  let rankSumPos = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && (all[j] as { s: number }).s === (all[i] as { s: number }).s) j++;
    const avgRank = (i + 1 + j) / 2; // ranks i+1..j
    for (let k = i; k < j; k++) if ((all[k] as { pos: boolean }).pos) rankSumPos += avgRank;
    i = j;
  }
  return (rankSumPos - (p * (p + 1)) / 2) / (n * p);
}

/**
 * The false-alarm rate at the highest threshold that still flags at least `detection` of
 * the positives (score >= threshold flags). Negatives tied with the threshold count as false
 * alarms, the conservative reading.
 */
export function farAtDetection(neg: Scores, pos: Scores, detection = 0.9): number {
  if (neg.length === 0 || pos.length === 0) return Number.NaN;
  const sortedPos = Array.from(pos).sort((a, b) => b - a);
  // 1e-9 keeps 0.9 * 10 = 9.000000000000002 from asking for 10 detections.
  const need = Math.min(sortedPos.length, Math.max(1, Math.ceil(detection * pos.length - 1e-9)));
  const threshold = sortedPos[need - 1] as number;
  let alarms = 0;
  for (let i = 0; i < neg.length; i++) if ((neg[i] as number) >= threshold) alarms++;
  return alarms / neg.length;
}

/**
 * The ROC curve from (0,0) to (1,1), one point per distinct threshold, then down-sampled to at
 * most `maxPoints` (endpoints kept) for plotting. fpr and tpr never decrease along it.
 */
export function rocCurve(neg: Scores, pos: Scores, maxPoints = 200): RocPoint[] {
  const all: { s: number; pos: boolean }[] = [];
  for (let i = 0; i < neg.length; i++) all.push({ s: neg[i] as number, pos: false });
  for (let i = 0; i < pos.length; i++) all.push({ s: pos[i] as number, pos: true });
  all.sort((a, b) => b.s - a.s);
  const nNeg = Math.max(1, neg.length);
  const nPos = Math.max(1, pos.length);
  const points: RocPoint[] = [{ fpr: 0, tpr: 0 }];
  let fp = 0;
  let tp = 0;
  for (let i = 0; i < all.length; ) {
    const s = (all[i] as { s: number }).s;
    while (i < all.length && (all[i] as { s: number }).s === s) {
      if ((all[i] as { pos: boolean }).pos) tp++;
      else fp++;
      i++;
    }
    points.push({ fpr: fp / nNeg, tpr: tp / nPos });
  }
  const last = points[points.length - 1] as RocPoint;
  if (last.fpr !== 1 || last.tpr !== 1) points.push({ fpr: 1, tpr: 1 });
  if (points.length <= maxPoints) return points;
  const out: RocPoint[] = [];
  const step = (points.length - 1) / (maxPoints - 1);
  for (let k = 0; k < maxPoints; k++) out.push(points[Math.round(k * step)] as RocPoint);
  return out;
}
