/**
 * Neural Cleanse (scan.ts) as a detector: the per-label statistic is the reversed trigger's mask
 * norm (the mean over --repeat scans), the flagged labels are those the MAD test flags in some scan,
 * the model score is the median over scans of the anomaly index of the smallest norm, and the
 * model is backdoored when the scan's verdict says so (verdict.ts: index above the decision
 * threshold, or a flag confirmed by the second statistic, in a majority of scans).
 */
import type { ScanReport } from '../scan.js';
import type { DetectorResult } from './detector.js';

export function ncResult(name: string, report: ScanReport): DetectorResult {
  const labels = report.runs[0].labels.map((l) => l.label);
  const v = report.verdict;
  return {
    detector: name,
    statistic: report.recipe.statistic,
    labels,
    perLabel: labels.map((l) => report.spread.norms[String(l)].mean),
    flagged: v.flaggedAnywhere,
    score: v.medianAnomalyIndex,
    scoreMeaning: `${report.recipe.detector.toUpperCase()} anomaly index of the smallest norm (median over ${report.runs.length} scan(s))`,
    threshold: v.decisionThreshold,
    backdoored: v.backdoored,
    recipe: { ...report.recipe },
    seed: report.seeds[0],
    seconds: report.seconds,
    details: { verdict: v.status, verdictLabels: v.labels, reason: v.reason },
  };
}
