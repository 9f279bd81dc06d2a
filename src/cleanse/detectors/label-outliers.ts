/**
 * A one-sided MAD test on the LARGE side, for per-label statistics where a backdoor makes its
 * target's value unusually large (the training-set audits' separation scores), the mirror of
 * outliers.ts's small-side test on trigger norms. Same centre, spread and guard for MAD = 0.
 */
import { DEFAULT_FLAG_THRESHOLD, anomalyIndex, madSpread, median } from '../outliers.js';
import { DEFAULT_DECISION_THRESHOLD } from '../verdict.js';

export interface HighOutliers {
  /** Anomaly index per label, 0 for labels at or below the median. */
  readonly indices: readonly number[];
  /** Labels above the median with index > the flag threshold, largest first. */
  readonly flagged: readonly number[];
  /** The index of the largest statistic: the model's score. */
  readonly score: number;
  readonly flagThreshold: number;
  /** The score above which the model is called backdoored (NC's decision threshold, verdict.ts). */
  readonly decisionThreshold: number;
}

export function highOutliers(labels: readonly number[], stats: readonly number[], flagThreshold = DEFAULT_FLAG_THRESHOLD, decisionThreshold = DEFAULT_DECISION_THRESHOLD): HighOutliers {
  const med = median(stats);
  const mad = madSpread(stats, med);
  const indices = stats.map((s) => (s > med ? anomalyIndex(s, med, mad) : 0));
  const order = stats.map((_, i) => i).filter((i) => indices[i] > flagThreshold).sort((a, b) => stats[b] - stats[a]);
  let top = 0;
  for (let i = 1; i < stats.length; i++) if (stats[i] > stats[top]) top = i;
  return { indices, flagged: order.map((i) => labels[i]), score: indices[top], flagThreshold, decisionThreshold };
}

/** Indices of the rows of each label 0..K−1. */
export function rowsByLabel(labels: Int32Array, numClasses: number): number[][] {
  const rows: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) rows[labels[i]].push(i);
  return rows;
}
